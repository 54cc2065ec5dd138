"""The ``build_features`` pipeline step: Feast apply, materialise, point-in-time training set."""

from __future__ import annotations

import json

import pandas as pd

from mlops.config import PlatformConfig
from mlops.datasets import Roles
from mlops.state import StateLayout, record_step


def build_features_step(
    dataset: str, roles_json: str, platform_config: str, run_dir: str, out_training_set: str
) -> tuple[str, int]:
    """Write the training set; returns (feature refs as JSON, rows)."""
    from feature_store.store import build_training_set

    platform = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    with record_step(run_dir, "build_features") as rec:
        result = build_training_set(
            pd.read_parquet(dataset),
            name=roles.name,
            entity_column=roles.entity,
            timestamp_column=roles.timestamp,
            feature_columns=roles.features,
            # The target and sensitive attributes ride along on the entity rows, never as features.
            carry_columns=[roles.target, *roles.sensitive],
            state_dir=StateLayout(platform.state_dir).feast,
            config=platform.features,
        )
        result.frame.to_parquet(out_training_set, index=False)
        rec.figures.update(
            rows_in=result.rows_in,
            rows_out=result.rows_out,
            dropped=result.dropped,
            features=len(result.feature_refs),
            **{f"{k}_s": round(v, 2) for k, v in result.timings.items()},
        )
    return json.dumps(result.feature_refs), result.rows_out
