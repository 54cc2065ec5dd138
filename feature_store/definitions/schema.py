"""The one mapping from pandas dtypes to the Feast value types the platform stores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

import pandas as pd
from pandas.api import types as ptypes

from mlops.errors import FeatureStoreError

FeastTypeName = Literal["int64", "float64", "string", "bool"]
FEAST_TYPE_NAMES: tuple[str, ...] = get_args(FeastTypeName)


def feast_type_name(series: pd.Series) -> FeastTypeName:
    """The Feast type a column is stored as in the offline source.

    Booleans are stored as 0/1 integers (see ``feature_store.transformations``): models consume
    them as numbers anyway, and nullable booleans do not survive the parquet -> online-store
    round trip as cleanly as nullable integers.
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or ptypes.is_integer_dtype(dtype):
        return "int64"
    if ptypes.is_float_dtype(dtype):
        return "float64"
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        return "string"
    raise FeatureStoreError(
        f"column {series.name!r} has dtype {dtype}, which cannot be stored as a feature "
        f"(supported: integer, float, bool, string/categorical)"
    )


def feature_schema(df: pd.DataFrame, columns: Iterable[str]) -> dict[str, FeastTypeName]:
    """``{column: feast type name}`` for ``columns`` of ``df``, in the order given."""
    cols = list(columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise FeatureStoreError(f"feature columns not in the dataset: {', '.join(missing)}")
    return {c: feast_type_name(df[c]) for c in cols}


def entity_type_name(series: pd.Series) -> Literal["int64", "string"]:
    """Entity ids are joined on exactly: integers stay integers, everything else is a string."""
    if ptypes.is_bool_dtype(series.dtype):
        raise FeatureStoreError(f"entity column {series.name!r} is boolean; an id column is expected")
    return "int64" if ptypes.is_integer_dtype(series.dtype) else "string"
