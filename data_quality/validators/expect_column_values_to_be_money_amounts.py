"""A money column: finite, non-negative amounts with at most ``decimals`` decimal places."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

# Binary floats cannot hold 0.01 exactly (12.34 * 100 is 1233.9999999999998), so a value is
# "on a step" when it is within a few float spacings (relative) or 1e-6 of a step (absolute).
_ABS_TOLERANCE = 1e-6
_REL_TOLERANCE = 4 * float(np.finfo(np.float64).eps)


class ColumnValuesMoneyAmount(ColumnMapMetricProvider):
    """Row condition behind :class:`ExpectColumnValuesToBeMoneyAmounts` (pandas only)."""

    condition_metric_name = "column_values.money_amount"
    condition_value_keys = ("min_value", "max_value", "decimals")

    # GX's decorator turns this into a classmethod, hence ``cls``.
    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,  # noqa: N805
        column: pd.Series,
        min_value: float | None = 0.0,
        max_value: float | None = None,
        decimals: int = 2,
        **kwargs: Any,
    ) -> pd.Series:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(values)
        if min_value is not None:
            ok &= values >= min_value
        if max_value is not None:
            ok &= values <= max_value
        steps = values * (10.0**decimals)
        tolerance = np.maximum(_ABS_TOLERANCE, np.abs(steps) * _REL_TOLERANCE)
        with np.errstate(invalid="ignore"):
            ok &= np.abs(steps - np.round(steps)) <= tolerance
        return pd.Series(ok, index=column.index)


class ExpectColumnValuesToBeMoneyAmounts(ColumnMapExpectation):
    """Expect every non-null value of ``column`` to be a money amount.

    A money amount is a finite number (not text, not inf), at least ``min_value`` (default 0:
    no negative amounts), at most ``max_value`` when given, with at most ``decimals`` decimal
    places (default 2, cents). Implemented as its own row-level metric, so GX reports the
    offending rows like any map expectation. Runs on the pandas engine.
    """

    map_metric: ClassVar[str] = "column_values.money_amount"
    success_keys: ClassVar[tuple[str, ...]] = ("min_value", "max_value", "decimals", "mostly")

    min_value: float | None = 0.0
    max_value: float | None = None
    decimals: int = 2
    description: str | None = "Values are non-negative money amounts with at most 2 decimals."
