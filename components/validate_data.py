from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def validate_data(
    dataset: Input[Dataset],
    roles: str,
    dataset_config: str,
    platform_config: str,
    run_dir: str,
    clean: Output[Dataset],
    quarantine: Output[Dataset],
    report: Output[HTML],
    summary: Output[Artifact],
) -> bool:
    """Great Expectations gate: score, failing rows quarantined, self-contained report.

    Returns the gate verdict as the single output: kfp.local resolves conditions on a
    component's single ``Output`` only.
    """
    from data_quality.step import validate_step

    return validate_step(
        dataset.path,
        roles,
        dataset_config,
        platform_config,
        run_dir,
        clean.path,
        quarantine.path,
        report.path,
        summary.path,
    )
