from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def ingest(dataset_config: str, run_dir: str, dataset: Output[Dataset]) -> NamedTuple(
    "IngestOutputs", [("roles", str), ("dataset_hash", str), ("rows", int)]
):
    """Read the dataset its config names; add ids and timestamps where absent."""
    from mlops.steps import ingest_step

    return ingest_step(dataset_config, run_dir, dataset.path)
