"""The ``anonymize`` pipeline step: apply the dataset's PII policy before anything is stored."""

from __future__ import annotations

import pandas as pd

from mlops.config import DatasetConfig, PlatformConfig
from mlops.secrets import resolve_secret
from mlops.state import record_step
from privacy.anonymization.policies import anonymize


def anonymize_step(dataset: str, dataset_config: str, platform_config: str, run_dir: str, out_dataset: str) -> int:
    """Write the anonymised dataset; returns its row count."""
    cfg = DatasetConfig.model_validate_json(dataset_config)
    platform = PlatformConfig.model_validate_json(platform_config)
    with record_step(run_dir, "anonymize") as rec:
        needs_key = any(p.action == "hash" for p in cfg.pii.values())
        key = resolve_secret(platform.privacy.hash_key) if needs_key else None
        out, report = anonymize(pd.read_parquet(dataset), cfg.pii, hash_key=key)
        out.to_parquet(out_dataset, index=False)
        rec.figures.update(rows=report.rows, **{f"pii.{c}": a for c, a in report.actions.items()})
    return report.rows
