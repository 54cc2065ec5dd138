from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def govern(
    model: Input[Model],
    training_set: Input[Dataset],
    holdout: Input[Dataset],
    roles: str,
    evaluation: str,
    platform_config: str,
    run_dir: str,
    card_markdown: Output[Markdown],
    card_html: Output[HTML],
) -> NamedTuple("GovernOutputs", [("passed", bool), ("fairness", str)]):
    """Model card, SHAP global importance and the fairlearn gate."""
    from model_governance.step import govern_step

    return govern_step(
        model.path,
        training_set.path,
        holdout.path,
        roles,
        evaluation,
        platform_config,
        run_dir,
        card_markdown.path,
        card_html.path,
    )
