from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def ingest(config: str, dataset: Output[Dataset], metrics: Output[Metrics]) -> int:
    """Read the dataset its config names; add ids and timestamps where absent; anonymise PII
    (key from the secret resolver) before anything is written. Returns the row count; the
    dataset carries its :class:`~mlops.contracts.DataContract` (roles, hash)."""
    from functools import partial
    from pathlib import Path

    from mlops.contracts import publish
    from mlops.object_store import ObjectStore
    from mlops.secrets import SecretResolver
    from platform_config import RunConfig
    from privacy.anonymization.step import anonymize_frame
    from privacy.consent import consent_filter
    from training.steps import ingest_step

    run = RunConfig.parse(config)
    anonymise = partial(anonymize_frame, privacy=run.platform.privacy, vault=run.platform.vault)
    # An s3:// dataset is read with the object_store credentials, resolved like the PII key.
    resolve = SecretResolver(run.platform.vault).resolve
    store = ObjectStore(run.platform.object_store, resolve)
    # Subjects without consent for training are dropped first (privacy.consent.training).
    consent = consent_filter(run.platform.privacy.consent, run.platform.state_dir, resolve)
    data = ingest_step(
        run.dataset, Path(dataset.path), anonymise=anonymise, metrics=metrics.log_metric, store=store, consent=consent
    )
    publish(dataset.metadata, data)
    return data.rows
