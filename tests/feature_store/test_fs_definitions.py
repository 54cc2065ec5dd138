"""Schema mapping and Feast object construction (no store involved)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feature_store.definitions import build_definitions, entity_type_name, feast_name, feature_schema, schema_key
from mlops.errors import FeatureStoreError


def test_feature_schema_maps_each_dtype_family() -> None:
    df = pd.DataFrame(
        {
            "i": np.array([1, 2], dtype="int32"),
            "ni": pd.array([1, None], dtype="Int64"),
            "f": [1.5, np.nan],
            "b": [True, False],
            "nb": pd.array([True, None], dtype="boolean"),
            "s": ["a", "b"],
            "ps": pd.array(["a", None], dtype="string"),
            "c": pd.Categorical(["x", "y"]),
        }
    )
    assert feature_schema(df, ["f", "i", "ni", "b", "nb", "s", "ps", "c"]) == {
        "f": "float64",
        "i": "int64",
        "ni": "int64",
        # booleans are stored as 0/1 integers
        "b": "int64",
        "nb": "int64",
        "s": "string",
        "ps": "string",
        "c": "string",
    }


def test_feature_schema_refuses_timestamps_and_unknown_columns() -> None:
    df = pd.DataFrame({"t": pd.to_datetime(["2025-01-01"], utc=True), "x": [1]})
    with pytest.raises(FeatureStoreError, match="'t' has dtype datetime64"):
        feature_schema(df, ["t"])
    with pytest.raises(FeatureStoreError, match="not in the dataset: nope"):
        feature_schema(df, ["x", "nope"])


def test_entity_type_keeps_integers_and_stringifies_the_rest() -> None:
    assert entity_type_name(pd.Series([1, 2], name="id")) == "int64"
    assert entity_type_name(pd.Series(["a"], name="id")) == "string"
    with pytest.raises(FeatureStoreError, match="boolean"):
        entity_type_name(pd.Series([True], name="id"))


def test_build_definitions_names_types_and_refs(tmp_path: Path) -> None:
    from feast import FileSource, ValueType
    from feast.types import Bool, Float64, Int64, String

    defs = build_definitions(
        name="credit-risk",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        features={"income": "float64", "score": "int64", "region": "string", "flag": "bool"},
        source_path=tmp_path / "src.parquet",
        ttl=timedelta(days=30),
    )
    key = schema_key(
        "applicant_id", "string", {"income": "float64", "score": "int64", "region": "string", "flag": "bool"}
    )
    view = f"credit_risk_features_{key}"
    assert defs.view.name == view
    assert defs.service.name == f"credit_risk_training_{key}"
    assert defs.feature_refs() == [f"{view}:income", f"{view}:score", f"{view}:region", f"{view}:flag"]
    assert {f.name: f.dtype for f in defs.view.features} == {
        "income": Float64,
        "score": Int64,
        "region": String,
        "flag": Bool,
    }
    assert defs.entity.join_key == "applicant_id"
    assert defs.entity.value_type == ValueType.STRING
    assert defs.view.ttl == timedelta(days=30)
    assert isinstance(defs.source, FileSource)
    assert defs.source.path == str(tmp_path / "src.parquet")
    assert defs.source.timestamp_field == "application_ts"
    assert [p.name for p in defs.service.feature_view_projections] == [view]
    # Another schema of the same dataset is another view; the same schema is the same view.
    other = schema_key("applicant_id", "string", {"income": "float64"})
    assert other != key
    assert schema_key("applicant_id", "string", {"income": "float64"}) == other


def test_build_definitions_with_int_entity() -> None:
    from feast import ValueType

    defs = build_definitions(
        name="events",
        entity_column="customer_id",
        timestamp_column="ts",
        features={"spend": "float64"},
        source_path=Path("/tmp/x.parquet"),
        ttl=timedelta(days=1),
        entity_type="int64",
    )
    assert defs.entity.value_type == ValueType.INT64


@pytest.mark.parametrize(
    ("features", "ttl", "message"),
    [
        ({"x": "decimal"}, timedelta(days=1), "unsupported feature types"),
        ({"id": "string"}, timedelta(days=1), "both a key column and a feature"),
        ({}, timedelta(days=1), "at least one feature"),
        ({"x": "int64"}, timedelta(0), "TTL must be positive"),
    ],
)
def test_build_definitions_rejects_bad_input(features: dict[str, str], ttl: timedelta, message: str) -> None:
    with pytest.raises(FeatureStoreError, match=message):
        build_definitions(
            name="d",
            entity_column="id",
            timestamp_column="ts",
            features=features,
            source_path=Path("/tmp/d.parquet"),
            ttl=ttl,
        )


def test_feast_name_normalises_dataset_names() -> None:
    assert feast_name("credit-risk") == "credit_risk"
    with pytest.raises(FeatureStoreError, match="must start with a letter"):
        feast_name("9lives")


def test_the_offline_source_is_given_once_with_the_views_event_time(tmp_path: Path) -> None:
    from feast import FileSource

    common: dict[str, Any] = {
        "name": "d",
        "entity_column": "id",
        "timestamp_column": "ts",
        "features": {"x": "float64"},
    }
    with pytest.raises(FeatureStoreError, match="exactly one"):
        build_definitions(**common, ttl=timedelta(days=1))
    other_time = FileSource(name="s", path=str(tmp_path / "s.parquet"), timestamp_field="known_at")
    with pytest.raises(FeatureStoreError, match="event time is 'known_at'"):
        build_definitions(**common, ttl=timedelta(days=1), source=other_time)
    given = FileSource(name="s", path=str(tmp_path / "s.parquet"), timestamp_field="ts")
    assert build_definitions(**common, ttl=timedelta(days=1), source=given).source is given
