"""Offline-source preparation: pure pandas coercions and the parquet write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_store.transformations import (
    UTC_NS,
    coerce_column,
    coerce_entity,
    prepare_offline_source,
    to_utc,
    write_offline_source,
)
from mlops.errors import FeatureStoreError


def test_to_utc_localises_naive_and_converts_other_zones() -> None:
    naive = pd.Series(pd.to_datetime(["2025-03-01 12:00"]), name="t")
    paris = pd.Series(pd.to_datetime(["2025-03-01 12:00"]).tz_localize("Europe/Paris"), name="t")
    text = pd.Series(["2025-03-01T12:00:00+02:00"], name="t")
    assert str(to_utc(naive).dtype) == UTC_NS
    assert to_utc(naive)[0] == pd.Timestamp("2025-03-01 12:00", tz="UTC")
    assert to_utc(paris)[0] == pd.Timestamp("2025-03-01 11:00", tz="UTC")
    assert to_utc(text)[0] == pd.Timestamp("2025-03-01 10:00", tz="UTC")
    with pytest.raises(FeatureStoreError, match="not a timestamp"):
        to_utc(pd.Series(["soon"], name="t"))


def test_strings_keep_missing_values_missing() -> None:
    out = coerce_column(pd.Series(pd.Categorical(["a", None, "b"]), name="c"), "string")
    assert out.tolist() == ["a", None, "b"]
    mixed = coerce_column(pd.Series([1, "x", np.nan], name="m"), "string")
    assert mixed.tolist() == ["1", "x", None]


def test_booleans_become_nullable_integers() -> None:
    out = coerce_column(pd.Series(pd.array([True, False, None], dtype="boolean"), name="b"), "int64")
    assert str(out.dtype) == "Int64"
    assert out.tolist() == [1, 0, pd.NA]
    with pytest.raises(FeatureStoreError, match="cannot be stored as int64"):
        coerce_column(pd.Series([1.5], name="x"), "int64")


def test_entity_ids_must_be_present() -> None:
    assert coerce_entity(pd.Series([3, 4], name="id"), "int64").dtype == np.dtype("int64")
    assert coerce_entity(pd.Series([3, 4], name="id"), "string").tolist() == ["3", "4"]
    with pytest.raises(FeatureStoreError, match="1 missing ids"):
        coerce_entity(pd.Series(["a", None], name="id"), "string")


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "a"],
            "ts": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
            "x": [1, 2, 3],
            "flag": [True, False, True],
            "label": [0, 1, 0],
        }
    )


def test_prepare_keeps_only_keys_and_features() -> None:
    out = prepare_offline_source(
        _frame(),
        entity_column="id",
        entity_type="string",
        timestamp_column="ts",
        features={"x": "float64", "flag": "int64"},
    )
    assert out.columns.tolist() == ["id", "ts", "x", "flag"]
    assert str(out["ts"].dtype) == UTC_NS
    assert out["x"].dtype == np.dtype("float64")
    assert out["flag"].tolist() == [1, 0, 1]


def test_prepare_refuses_duplicate_keys_and_missing_timestamps() -> None:
    dup = pd.concat([_frame(), _frame().iloc[[0]]], ignore_index=True)
    with pytest.raises(FeatureStoreError, match="1 rows repeat an"):
        prepare_offline_source(
            dup, entity_column="id", entity_type="string", timestamp_column="ts", features={"x": "int64"}
        )
    gap = _frame().assign(ts=pd.Series([None, "2025-01-01", None], dtype="datetime64[ns]"))
    with pytest.raises(FeatureStoreError, match="2 missing values"):
        prepare_offline_source(
            gap, entity_column="id", entity_type="string", timestamp_column="ts", features={"x": "int64"}
        )


def test_write_offline_source_round_trips_atomically(tmp_path: Path) -> None:
    frame = prepare_offline_source(
        _frame(), entity_column="id", entity_type="string", timestamp_column="ts", features={"x": "int64"}
    )
    path = write_offline_source(frame, tmp_path / "offline" / "d.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    assert [p.name for p in path.parent.iterdir()] == ["d.parquet"]
