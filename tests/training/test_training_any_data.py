"""Training on data unlike the sample: missing values, no event time, string labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import DatasetConfig
from mlops.schema import ServingSchema
from tests.byod import credit_file
from training.config import ModelConfig
from training.datasets import GENERATED_ID, GENERATED_TS, decide_roles, ingest, prepare_features
from training.fit import train
from training.modeling import FAMILIES, build_pipeline, holdout_split


def test_without_event_time_the_holdout_is_a_stratified_random_share() -> None:
    frame = credit_file(2000)  # sorted by the label: the last rows are all "good"
    y = (frame["Risk"] == "bad").astype(int).to_numpy()
    train_part, holdout, method = holdout_split(frame, test_size=0.2, timestamp_column=None, seed=42, y=y)
    assert method == "stratified_random"
    assert len(holdout) == 400
    rate = (holdout["Risk"] == "bad").mean()
    assert abs(rate - y.mean()) < 0.01  # stratified: the holdout has the file's positive rate
    again = holdout_split(frame, test_size=0.2, timestamp_column=None, seed=42, y=y)[1]
    assert holdout.index.equals(again.index)  # seeded
    assert not set(train_part.index) & set(holdout.index)


def test_with_event_time_the_holdout_is_the_latest_share() -> None:
    frame = pd.DataFrame({"t": pd.date_range("2025-01-01", periods=100, freq="D")[::-1], "x": range(100)})
    _, holdout, method = holdout_split(frame, test_size=0.1, timestamp_column="t", seed=0)
    assert method == "time"
    assert holdout["t"].min() > frame["t"].quantile(0.85)


def gappy(rows: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "c": pd.Series(rng.choice(["x", "y", "z"], rows), dtype=object),
        }
    )
    frame.loc[rng.random(rows) < 0.3, "a"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "c"] = None
    y = (frame["b"] + rng.normal(0, 0.5, rows) > 0).astype(int).to_numpy()
    return frame, y


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_trains_and_scores_rows_with_missing_values(family: str) -> None:
    frame, y = gappy()
    schema = ServingSchema.from_frame(frame, features=["a", "b", "c"], categorical=["c"])
    assert schema.nullable == ["a", "c"]
    model = build_pipeline(ModelConfig(family=family), schema).fit(frame, y)  # type: ignore[arg-type]
    row = pd.DataFrame({"a": [np.nan], "b": [0.3], "c": [None]}).astype({"c": object})
    score = model.predict_proba(row)[0, 1]
    assert 0.0 <= score <= 1.0


def test_serving_schema_records_nullability_and_reads_the_older_form() -> None:
    frame, _ = gappy()
    schema = ServingSchema.from_frame(
        frame.assign(Age=np.arange(len(frame)) % 60 + 18),
        features=["a", "b", "c"],
        categorical=["c"],
        sensitive_bins={"Age": [30.0, 50.0]},
        pii=["email"],
    )
    again = ServingSchema.parse(schema.to_json())
    assert again == schema
    assert again.sensitive["Age"].type == "number"
    assert again.sensitive["Age"].bins == [30.0, 50.0]
    legacy = ServingSchema.parse('{"a": "number", "c": "string"}')
    assert legacy.kinds == {"a": "number", "c": "string"}
    assert legacy.nullable == []
    strict = ServingSchema.from_frame(frame.fillna({"a": 0.0}), features=["a", "b", "c"], categorical=["c"])
    assert strict.schema_hash() != schema.schema_hash()  # nullability is part of the client contract


def byod_config(tmp_path: Path, **extra: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "credit",
            "path": str(tmp_path / "credit.csv"),
            "target": "Risk",
            "positive_label": "bad",
            "sensitive_attributes": ["Age"],
            **extra,
        }
    )


def test_identical_data_gives_the_same_training_fingerprint_on_every_run(tmp_path: Path) -> None:
    credit_file(800).to_csv(tmp_path / "credit.csv", index=False)
    cfg = byod_config(tmp_path)
    results = []
    for _ in range(2):
        got = ingest(cfg)  # the generated ingestion time differs between the two runs
        roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated)
        _, holdout, result = train(prepare_features(got.frame, roles), roles, ModelConfig(params={"max_iter": 20}))
        results.append((result, holdout))
    (first, holdout), (second, _) = results
    assert first.training_fingerprint == second.training_fingerprint
    assert first.holdout_method == "stratified_random"
    assert "no event time" in first.holdout
    assert {"yearly_income", "savings", "credit_amount"} <= set(first.schema.nullable)
    assert set(holdout["Risk"]) == {"bad", "good"}
    assert GENERATED_ID in roles.generated
    assert GENERATED_TS in roles.generated


@pytest.mark.parametrize("family", ["logistic_regression", "gradient_boosting"])
def test_imputing_families_round_trip_through_the_registry(tmp_path: Path, family: str) -> None:
    """The imputer these families get must load back from the registry's (skops) format."""
    from model_registry.registry import ModelRegistry

    frame, y = gappy()
    schema = ServingSchema.from_frame(frame, features=["a", "b", "c"], categorical=["c"])
    model = build_pipeline(ModelConfig(family=family), schema).fit(frame, y)  # type: ignore[arg-type]
    registry = ModelRegistry.local(tmp_path / "registry")
    info = registry.register(
        "gappy",
        model,
        serving_schema=schema,
        schema_hash=schema.schema_hash(),
        training_fingerprint="f",
        params={},
        metrics={},
        gates={"all": True},
        lineage={},
    )
    loaded = registry.load_model(info)
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert info.schema == schema
