"""Preparing a dataset as a Feast offline source: pure pandas, no Feast import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pandas as pd
from pandas.api import types as ptypes

from mlops.errors import FeatureStoreError

# Feast's point-in-time join compares nanosecond UTC timestamps; other units or zones make
# the join silently miss rows or fail inside dask.
UTC_NS: Final = "datetime64[ns, UTC]"


def to_utc(series: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC nanoseconds; naive values are taken to be UTC already."""
    if not ptypes.is_datetime64_any_dtype(series.dtype):
        try:
            series = pd.to_datetime(series, utc=True)
        except (ValueError, TypeError) as exc:
            raise FeatureStoreError(f"column {series.name!r} is not a timestamp column: {exc}") from None
    elif getattr(series.dtype, "tz", None) is None:
        series = series.dt.tz_localize("UTC")
    else:
        series = series.dt.tz_convert("UTC")
    return series.astype(UTC_NS)


def to_string(series: pd.Series) -> pd.Series:
    """Categoricals, pandas strings and mixed objects as Python ``str`` with ``None`` for missing."""
    values = series.astype(object)
    missing = values.isna()
    out = values.where(missing, values.astype(str))
    return out.where(~missing, None).astype(object)


def to_int(series: pd.Series) -> pd.Series:
    """Integers and booleans (as 0/1) as nullable Int64, so missing values stay missing."""
    try:
        if ptypes.is_bool_dtype(series.dtype):
            return series.astype("boolean").astype("Int64")
        return series.astype("Int64")
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(f"column {series.name!r} cannot be stored as int64: {exc}") from None


def coerce_column(series: pd.Series, kind: str) -> pd.Series:
    """One feature column in the representation its Feast type name needs."""
    if kind == "int64":
        return to_int(series)
    if kind == "float64":
        return series.astype("float64")
    if kind == "string":
        return to_string(series)
    if kind == "bool":
        return series.astype("boolean")
    raise FeatureStoreError(f"column {series.name!r}: unknown feature type {kind!r}")


def coerce_entity(series: pd.Series, kind: str) -> pd.Series:
    """Entity ids: no missing values (a row without an id cannot be joined)."""
    missing = int(series.isna().sum())
    if missing:
        raise FeatureStoreError(f"entity column {series.name!r} has {missing} missing ids")
    return series.astype("int64") if kind == "int64" else series.astype(str).astype(object)


def duplicate_keys(df: pd.DataFrame, entity_column: str, timestamp_column: str) -> int:
    """Rows sharing an (entity, timestamp) pair with an earlier row."""
    return int(df.duplicated(subset=[entity_column, timestamp_column]).sum())


def prepare_offline_source(
    df: pd.DataFrame,
    *,
    entity_column: str,
    entity_type: str,
    timestamp_column: str,
    features: Mapping[str, str],
) -> pd.DataFrame:
    """The offline-source frame: entity, UTC timestamp and coerced feature columns only.

    Duplicate (entity, timestamp) pairs are refused: the point-in-time join could not tell
    which row's features belong to which label.
    """
    needed = [entity_column, timestamp_column, *features]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise FeatureStoreError(f"columns not in the dataset: {', '.join(missing)}")
    out = pd.DataFrame(
        {
            entity_column: coerce_entity(df[entity_column], entity_type),
            timestamp_column: to_utc(df[timestamp_column]),
        }
    )
    if out[timestamp_column].isna().any():
        count = int(out[timestamp_column].isna().sum())
        raise FeatureStoreError(f"timestamp column {timestamp_column!r} has {count} missing values")
    for column, kind in features.items():
        out[column] = coerce_column(df[column], kind)
    dupes = duplicate_keys(out, entity_column, timestamp_column)
    if dupes:
        raise FeatureStoreError(
            f"{dupes} rows repeat an ({entity_column}, {timestamp_column}) pair of another row; "
            "point-in-time joins need one feature row per entity and timestamp"
        )
    return out.reset_index(drop=True)


def write_offline_source(frame: pd.DataFrame, path: Path) -> Path:
    """Write the parquet source atomically, so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path
