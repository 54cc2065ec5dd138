"""PII discovery as the platform uses it: a dataset's frame against its config's ``pii:`` block.

``mlops privacy scan`` reads the raw dataset and reports; the validation step runs
:func:`pii_gate` on the ingested (already anonymised) frame, where every declared column is
treated already and any PII still found in an undeclared column stops the run. The
component binds ``dataset`` and ``config`` (functools.partial), as ingest does for
anonymisation, so the data-quality room needs no import of this one.
"""

from __future__ import annotations

import pandas as pd

from mlops.config import DatasetConfig
from privacy.config import DiscoveryConfig
from privacy.discovery.scan import ScanResult, scan_frame


def key_columns(cfg: DatasetConfig) -> dict[str, str]:
    """Columns with a role that a ``pii:`` entry cannot take (the config forbids it)."""
    roles = {"target": cfg.target, "entity_id": cfg.entity_id, "event_timestamp": cfg.event_timestamp}
    return {column: role for role, column in roles.items() if column}


def scan_dataset_frame(df: pd.DataFrame, cfg: DatasetConfig, config: DiscoveryConfig) -> ScanResult:
    """Scan ``df`` (the dataset ``cfg`` describes) and compare with its declared PII."""
    declared = {column: policy.action for column, policy in cfg.pii.items()}
    return scan_frame(df, config, dataset=cfg.name, declared=declared, roles=key_columns(cfg))


def pii_gate(df: pd.DataFrame, *, dataset: DatasetConfig, config: DiscoveryConfig) -> dict[str, str]:
    """The validation step's PII check: ``{column: failure}`` per undeclared PII column (none: pass)."""
    if not config.enabled:
        return {}
    return scan_dataset_frame(df, dataset, config).gate_failures()


__all__ = ["key_columns", "pii_gate", "scan_dataset_frame"]
