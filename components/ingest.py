from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def ingest(dataset_config: str, platform_config: str, run_dir: str, dataset: Output[Dataset]) -> NamedTuple(
    "IngestOutputs", [("roles", str), ("dataset_hash", str), ("rows", int)]
):
    """Read the dataset its config names; add ids and timestamps where absent; anonymise PII
    (key from the secret resolver) before anything is written."""
    from mlops.steps import ingest_step
    from privacy.anonymization.step import anonymize_frame

    return ingest_step(dataset_config, platform_config, run_dir, dataset.path, anonymise=anonymize_frame)
