"""The bundled sample's one feature definition agrees with the generator and with training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops.config import load_dataset_config
from training.datasets import decide_roles
from training.modeling import FeatureSchema
from training.sample_data import (
    ENTITY_COLUMN,
    PII_COLUMNS,
    SENSITIVE_COLUMNS,
    TARGET_COLUMN,
    TIMESTAMP_COLUMN,
    generate_credit_risk,
    sample_feature_rows,
)

DATASET = Path(__file__).resolve().parents[2] / "config" / "datasets" / "credit_risk.yaml"


def test_the_sample_schema_is_what_training_derives_from_the_bundled_dataset(sample_schema: FeatureSchema) -> None:
    cfg = load_dataset_config(DATASET)
    assert (cfg.entity_id, cfg.event_timestamp, cfg.target) == (ENTITY_COLUMN, TIMESTAMP_COLUMN, TARGET_COLUMN)
    assert (set(cfg.pii), cfg.sensitive_columns) == (set(PII_COLUMNS), list(SENSITIVE_COLUMNS))
    roles = decide_roles(cfg, generate_credit_risk(500), ENTITY_COLUMN, TIMESTAMP_COLUMN)
    assert roles.features == sample_schema.columns
    assert roles.categorical == list(sample_schema.categorical)


def test_sample_rows_are_the_generated_features_as_plain_values(sample_schema: FeatureSchema) -> None:
    rows = sample_feature_rows(20, seed=3)
    expected = generate_credit_risk(20, seed=3)[sample_schema.columns]
    assert [list(row) for row in rows] == [sample_schema.columns] * 20
    pd.testing.assert_frame_equal(pd.DataFrame(rows), expected, check_dtype=False)
    assert {type(v) for row in rows for v in row.values()} <= {int, float, str}
