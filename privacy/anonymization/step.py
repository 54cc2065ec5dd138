"""Anonymisation as the pipeline uses it: inside ``ingest``, before anything is written.

Declared PII is treated as the data is read, so no raw personal value reaches a pipeline
artifact, the quarantine file, a quality report or the feature store.
"""

from __future__ import annotations

import pandas as pd

from mlops.config import DatasetConfig, PiiHash, VaultConfig
from privacy.anonymization.policies import anonymize
from privacy.config import PrivacyConfig


def anonymize_frame(
    df: pd.DataFrame, cfg: DatasetConfig, *, privacy: PrivacyConfig, vault: VaultConfig
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``df`` with the dataset's PII policy applied, and ``{column: action}``.

    The hash key (``privacy.hash_key``) comes from the secret resolver with the platform's
    Vault settings, so a ``vault://`` key works in pipeline pods exactly as the config says.
    The ingest component binds ``privacy`` and ``vault`` (functools.partial).
    """
    from mlops.secrets import SecretResolver

    needs_key = any(isinstance(p, PiiHash) for p in cfg.pii.values())
    key = SecretResolver(vault).resolve(privacy.hash_key) if needs_key else None
    out, report = anonymize(df, cfg.pii, hash_key=key)
    return out, report.actions
