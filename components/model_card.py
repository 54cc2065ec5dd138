from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def model_card(
    governance: Input[Artifact],
    registration: Input[Artifact],
    evaluation: str,
    dataset_config: str,
    platform_config: str,
    run_dir: str,
    card_markdown: Output[Markdown],
    card_html: Output[HTML],
) -> str:
    """Render the model card of the registered version (its version, gates and lineage) and
    attach it to the version in the registry; returns the version."""
    from model_governance.step import model_card_step

    return model_card_step(
        governance.path,
        registration.path,
        evaluation,
        dataset_config,
        platform_config,
        run_dir,
        card_markdown.path,
        card_html.path,
    )
