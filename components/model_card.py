from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def model_card(
    config: str,
    governance: Input[Artifact],
    registration: Input[Artifact],
    evaluation: Input[Artifact],
    card_markdown: Output[Markdown],
    card_html: Output[HTML],
    metrics: Output[Metrics],
) -> str:
    """Render the model card of the registered version (its version, gates and lineage) and
    attach it to the version in the registry; returns the version."""
    from pathlib import Path

    from mlops.contracts import Evaluation, Registration, read_contract
    from model_governance.step import model_card_step
    from platform_config import RunConfig

    run = RunConfig.parse(config)
    return model_card_step(
        run.dataset,
        run.platform.evaluation,
        run.platform.open_registry(),
        Path(governance.path),
        read_contract(registration.metadata, Registration, artifact="registration"),
        read_contract(evaluation.metadata, Evaluation, artifact="evaluation"),
        Path(card_markdown.path),
        Path(card_html.path),
        metrics=metrics.log_metric,
    )
