"""How a column's values are classed and how categories are written, the same way at register
time (the reference) and at monitoring time (the current data)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

ValueType = Literal["number", "bool", "string", "datetime", "empty"]
ColumnKind = Literal["numeric", "categorical"]
# A label as a dataset writes it (target values, the positive class).
Label = str | int | float | bool


def value_type(series: pd.Series) -> ValueType:
    """What a column holds: ``number``, ``bool``, ``string``, ``datetime``, or ``empty`` (only nulls)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    # Object columns (CSV text, mixed Python values): look at the values themselves.
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return "empty"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if inferred == "boolean":
        return "bool"
    if inferred in ("datetime", "datetime64", "date"):
        return "datetime"
    return "string"


def _format_numbers(values: np.ndarray) -> np.ndarray:
    """Integral numbers without a fraction (``3.0`` → ``"3"``): a CSV column with a missing value
    reads integers back as floats, and the category must stay the same."""
    values = values.astype("float64")
    integral = np.isfinite(values) & (values == np.round(values))
    as_int = np.where(integral, values, 0).astype(np.int64).astype(str)
    return np.where(integral, as_int, values.astype(str))


def as_categories(series: pd.Series) -> pd.Series:
    """The column as category strings (nulls stay None), identical for equal values whatever the
    dtype they arrive in (int, float with NaN, bool, text)."""
    mask = series.notna().to_numpy()
    out = np.full(len(series), None, dtype=object)
    present = series[mask]
    if value_type(series) == "number":
        try:
            out[mask] = _format_numbers(pd.to_numeric(present).to_numpy())
        except (TypeError, ValueError):
            out[mask] = present.astype(str).to_numpy()
    else:
        out[mask] = present.astype(str).to_numpy()
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


def label_text(label: Label) -> str:
    """A label as :func:`as_categories` writes it (``1`` and ``1.0`` both become ``"1"``)."""
    return str(as_categories(pd.Series([label])).iloc[0])


__all__ = ["ColumnKind", "Label", "ValueType", "as_categories", "label_text", "value_type"]
