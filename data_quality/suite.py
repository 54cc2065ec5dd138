"""Expectation suites as data: the YAML schema, loading, saving and baseline profiling.

A suite file under ``data_quality/expectations/`` looks like::

    name: credit_risk
    expectations:
      - type: expect_column_values_to_not_be_null      # GX core, snake_case
        kwargs: {column: applicant_id}
      - type: expect_column_values_to_be_probabilities # ours, data_quality.validators
        kwargs: {column: debt_to_income}
        meta: {why: "a ratio"}

Loading checks the shape and that every ``type`` names a GX core expectation or one of
:data:`data_quality.validators.CUSTOM_EXPECTATIONS`, without importing great_expectations
(it costs seconds); the kwargs of each expectation are checked by GX when the suite is built
for validation (:func:`data_quality.validation.build_gx_suite`).
"""

from __future__ import annotations

import difflib
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, field_validator

from mlops.config import StrictModel, load_model

if TYPE_CHECKING:
    import pandas as pd

_VALIDATORS_DIR = Path(__file__).parent / "validators"


# The GX core expectations suites may name (great-expectations 1.x), written out so loading a
# suite needs no GX import; a test pins this list to GX's own registry, so an upgrade that
# adds or drops one fails loudly.
GX_CORE_EXPECTATIONS: frozenset[str] = frozenset(
    {
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
        "expect_column_kl_divergence_to_be_less_than",
        "expect_column_max_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_most_common_value_to_be_in_set",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_to_be_in_set",
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_column_quantile_values_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_to_exist",
        "expect_column_type_to_be",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_value_z_scores_to_be_less_than",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_be_decreasing",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_increasing",
        "expect_column_values_to_be_json_parseable",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_match_json_schema",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_match_strftime_format",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_not_be_outliers",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern_list",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_not_match_regex_list",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_sum_to_equal",
        "expect_multicolumn_values_to_be_equal",
        "expect_query_results_to_match_comparison",
        "expect_select_column_values_to_be_unique_within_record",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_equal_other_table",
    }
)


def core_expectation_types() -> frozenset[str]:
    return GX_CORE_EXPECTATIONS


@cache
def custom_expectation_types() -> frozenset[str]:
    """Names of our custom expectations (one module per expectation, named after it)."""
    return frozenset(p.stem for p in _VALIDATORS_DIR.glob("expect_*.py"))


def known_expectation_types() -> frozenset[str]:
    return core_expectation_types() | custom_expectation_types()


class ExpectationSpec(StrictModel):
    """One expectation: its snake_case type, the GX kwargs, and free-form ``meta``."""

    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        known = known_expectation_types()
        if value not in known:
            close = difflib.get_close_matches(value, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"a GX core expectation or a custom one from data_quality.validators (snake_case){hint}")
        return value

    def columns(self) -> list[str]:
        """The columns this expectation names (column, column_A/B, column_list/column_set)."""
        names: list[str] = []
        for key in ("column", "column_A", "column_B"):
            value = self.kwargs.get(key)
            if isinstance(value, str):
                names.append(value)
        for key in ("column_list", "column_set"):
            values = self.kwargs.get(key)
            if isinstance(values, list):
                names.extend(str(v) for v in values)
        return names


class SuiteSpec(StrictModel):
    """An expectation suite as stored in YAML."""

    name: str = Field(min_length=1)
    expectations: list[ExpectationSpec] = Field(min_length=1)

    def columns(self) -> list[str]:
        """Every column the suite's expectations name, in first-use order."""
        return list(dict.fromkeys(c for exp in self.expectations for c in exp.columns()))


def load_suite(path: Path | str) -> SuiteSpec:
    """Read a suite YAML; any problem is a ConfigError naming the file and the dotted key."""
    return load_model(Path(path), SuiteSpec)


def save_suite(suite: SuiteSpec, path: Path | str) -> Path:
    """Write ``suite`` as YAML (creating the folder); returns the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    target.write_text(f"# Expectation suite {suite.name!r} (schema: data_quality.suite.SuiteSpec)\n{body}")
    return target


# --------------------------------------------------------------------------- profiling
def _plain(value: Any) -> Any:
    """numpy/pandas scalars to plain Python, so the suite dumps to YAML and compares in GX."""
    return value.item() if hasattr(value, "item") else value


def _widened_range(lo: float, hi: float, *, integer: bool, widen: float) -> tuple[float, float]:
    span = hi - lo
    pad = widen * span if span > 0 else widen * max(abs(lo), 1.0)
    low, high = lo - pad, hi + pad
    # A column never seen negative stays non-negative: a negative count or amount later is a
    # data error, not drift to tolerate.
    if lo >= 0:
        low = max(low, 0.0)
    if integer:
        return float(math.floor(low)), float(math.ceil(high))
    return low, high


def profile_baseline(
    df: pd.DataFrame,
    *,
    name: str,
    columns: list[str] | None = None,
    categorical: list[str] | None = None,
    id_column: str | None = None,
    required: list[str] | None = None,
    max_categories: int = 20,
    max_null_fraction: float = 0.05,
    widen: float = 0.05,
) -> SuiteSpec:
    """Profile a baseline suite from ``df`` (for a dataset that brings no suite of its own).

    - the table has at least one row and contains ``columns`` (default: all columns);
    - a column with no nulls must stay null-free; one with at most ``max_null_fraction`` nulls
      gets ``mostly`` = its observed non-null share (rounded down); more nulls: no null check;
    - ``id_column``: not null and, when unique in ``df``, unique;
    - ``required`` columns (e.g. the target): never null, whatever ``df`` holds, so rows
      without a value are quarantined instead of reaching training;
    - numeric columns: between the observed min and max, widened by ``widen`` of the range on
      each side (never below 0 for a column observed non-negative);
    - categorical columns (``categorical``, or by default string/category/bool columns with at
      most ``max_categories`` distinct values): the observed value set.

    Pass ``columns`` without PII: observed values end up in the suite file and reports.
    The result passes on ``df`` itself, except for the nulls of ``required`` columns.
    """
    import pandas as pd
    from pandas.api import types as ptypes

    selected = list(df.columns) if columns is None else list(columns)
    missing = [c for c in selected if c not in df.columns]
    if id_column is not None and id_column not in df.columns:
        missing.append(id_column)
    if missing:
        raise ValueError(f"columns not in the frame: {', '.join(map(str, missing))}")
    if id_column is not None and id_column not in selected:
        selected.insert(0, id_column)
    rows = len(df)
    expectations: list[ExpectationSpec] = [
        ExpectationSpec(type="expect_table_row_count_to_be_between", kwargs={"min_value": 1}),
        ExpectationSpec(
            type="expect_table_columns_to_match_set",
            kwargs={"column_set": [str(c) for c in selected], "exact_match": False},
        ),
    ]
    categorical_set = set(categorical or [])
    must_have = set(required or [])
    for col in selected:
        series = df[col]
        nulls = int(series.isna().sum())
        null_share = nulls / rows if rows else 0.0
        if nulls == 0 or col in must_have:
            expectations.append(ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": col}))
        elif null_share <= max_null_fraction:
            mostly = math.floor((1.0 - null_share) * 1000) / 1000
            expectations.append(
                ExpectationSpec(
                    type="expect_column_values_to_not_be_null",
                    kwargs={"column": col, "mostly": mostly},
                    meta={"profiled_null_share": round(null_share, 6)},
                )
            )
        values = series.dropna()
        if col == id_column:
            if values.is_unique:
                expectations.append(ExpectationSpec(type="expect_column_values_to_be_unique", kwargs={"column": col}))
            continue
        if values.empty:
            continue
        is_bool = ptypes.is_bool_dtype(series)
        is_numeric = ptypes.is_numeric_dtype(series) and not is_bool
        is_text = (
            ptypes.is_object_dtype(series)
            or ptypes.is_string_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
        )
        n_distinct = int(values.nunique())
        if col in categorical_set or ((is_text or is_bool) and n_distinct <= max_categories):
            value_set = sorted((_plain(v) for v in values.unique()), key=lambda v: (str(type(v)), v))
            expectations.append(
                ExpectationSpec(
                    type="expect_column_values_to_be_in_set", kwargs={"column": col, "value_set": value_set}
                )
            )
        elif is_numeric:
            lo, hi = float(values.min()), float(values.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            low, high = _widened_range(lo, hi, integer=ptypes.is_integer_dtype(series), widen=widen)
            expectations.append(
                ExpectationSpec(
                    type="expect_column_values_to_be_between",
                    kwargs={"column": col, "min_value": low, "max_value": high},
                    meta={"profiled_min": lo, "profiled_max": hi},
                )
            )
    return SuiteSpec(name=name, expectations=expectations)
