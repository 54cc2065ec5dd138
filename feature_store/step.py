"""The ``build_features`` pipeline step: Feast apply, materialise, point-in-time training set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from feature_store.config import FeatureConfig
from mlops.config import VaultConfig
from mlops.contracts import DataContract
from mlops.state import MetricsSink, StateLayout, record_step


def build_features_step(
    data: DataContract,
    dataset: Path,
    out_training_set: Path,
    *,
    config: FeatureConfig,
    state_dir: Path,
    metrics: MetricsSink | None = None,
    environment: str = "dev",
    vault: VaultConfig | None = None,
) -> DataContract:
    """Write the training set; returns the data contract with its feature references.

    ``environment`` picks the Feast template; ``vault`` resolves the secret references among
    ``config.variables`` (local-stack's passwords)."""
    from feature_store.store import build_training_set
    from mlops.secrets import SecretResolver

    roles = data.roles
    with record_step("build_features", metrics=metrics) as rec:
        result = build_training_set(
            pd.read_parquet(dataset),
            name=roles.name,
            entity_column=roles.entity,
            timestamp_column=roles.timestamp,
            feature_columns=roles.features,
            # The target and sensitive attributes ride along on the entity rows, never as features.
            carry_columns=[roles.target, *roles.sensitive],
            state_dir=StateLayout(state_dir).feast,
            config=config,
            environment=environment,
            resolve=SecretResolver(vault).resolve,
        )
        result.frame.to_parquet(out_training_set, index=False)
        rec.figures.update(
            rows_in=result.rows_in,
            rows_out=result.rows_out,
            dropped=result.dropped,
            features=len(result.feature_refs),
            **{f"{k}_s": round(v, 2) for k, v in result.timings.items()},
        )
    return data.model_copy(update={"rows": result.rows_out, "feature_refs": list(result.feature_refs)})
