from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def ingest(config: str, dataset: Output[Dataset], metrics: Output[Metrics]) -> int:
    """Read the dataset its config names; add ids and timestamps where absent; anonymise PII
    (key from the secret resolver) before anything is written. Returns the row count; the
    dataset carries its :class:`~mlops.contracts.DataContract` (roles, hash)."""
    from pathlib import Path

    from mlops.contracts import RunConfig, publish
    from privacy.anonymization.step import anonymize_frame
    from training.steps import ingest_step

    data = ingest_step(
        RunConfig.parse(config), Path(dataset.path), anonymise=anonymize_frame, metrics=metrics.log_metric
    )
    publish(dataset.metadata, data)
    return data.rows
