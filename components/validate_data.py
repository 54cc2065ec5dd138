from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Output

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
) -> NamedTuple("ValidateOutputs", [("passed", bool), ("summary", str)]):
    """Great Expectations gate: score, failing rows quarantined, self-contained report."""
    from data_quality.step import validate_step

    return validate_step(
        dataset.path, roles, dataset_config, platform_config, run_dir, clean.path, quarantine.path, report.path
    )
