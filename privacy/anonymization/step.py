"""Anonymisation as the pipeline uses it: inside ``ingest``, before anything is written.

Declared PII is treated as the data is read, so no raw personal value reaches a pipeline
artifact, the quarantine file, a quality report or the feature store.
"""

from __future__ import annotations

import pandas as pd

from mlops.config import DatasetConfig, PiiHash, PlatformConfig
from privacy.anonymization.policies import anonymize


def anonymize_frame(
    df: pd.DataFrame, cfg: DatasetConfig, platform: PlatformConfig
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``df`` with the dataset's PII policy applied, and ``{column: action}``.

    The hash key comes from the platform's secret resolver (its Vault settings included), so
    a ``vault://`` key works in pipeline pods exactly as the platform config says.
    """
    from mlops.secrets import SecretResolver

    needs_key = any(isinstance(p, PiiHash) for p in cfg.pii.values())
    key = SecretResolver.from_platform(platform).resolve(platform.privacy.hash_key) if needs_key else None
    out, report = anonymize(df, cfg.pii, hash_key=key)
    return out, report.actions
