"""Validate a DataFrame against a suite with Great Expectations, gate it, quarantine bad rows.

GX gives every verdict. Failing rows are identified through GX's COMPLETE result format: the
frame handed to GX has a fresh positional ``RangeIndex``, so each row-level expectation's
``unexpected_index_list`` is the list of row *positions*. Positions, unlike values of the id
column, stay exact when ids repeat or the caller's index is not a RangeIndex, and GX returns
them without a per-row Python loop (asking GX for ``unexpected_index_column_names`` makes it
build one dict per failing row). The row ids shown in results and reports are read from the
caller's frame at those positions.

Semantics:

- a *row-level* expectation is a GX map expectation (column, column pair, multicolumn); every
  other one (row count, column set, aggregates) is *table-level*;
- a row fails when it is unexpected for a row-level expectation that failed. An expectation
  with ``mostly`` that still succeeded tolerates its few unexpected rows (they stay clean);
- an expectation GX could not evaluate (e.g. its column is missing) is a table failure;
- gate: ``row_pass_rate >= gate.min_row_pass_rate`` and, when
  ``gate.require_table_expectations``, no table failure.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data_quality.config import QualityGate
from data_quality.suite import SuiteSpec
from mlops.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.data_context import AbstractDataContext

FAILED_COLUMN = "_failed_expectations"
# Values kept per expectation for results and reports (the counts are always complete).
SAMPLE_SIZE = 20
# Expectations about the set or number of columns must see every column of the frame; any
# other suite is validated on the columns it names only, which is much faster on wide frames.
_WHOLE_TABLE_TYPES = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
    }
)
_INDEX_META_KEY = "_dq_index"
# Expectations whose verdict on a column depends only on value membership and nullness.
_CATEGORY_SAFE_TYPES = frozenset(
    {
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
    }
)


@dataclass(frozen=True)
class ExpectationOutcome:
    """What GX said about one expectation of the suite."""

    type: str
    kwargs: dict[str, Any]
    success: bool
    row_level: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    partial_unexpected_values: list[Any] = field(default_factory=list)
    # Values and how often they occur among the unexpected ones (most frequent first).
    unexpected_value_counts: list[tuple[Any, int]] = field(default_factory=list)
    # Row ids (from ``row_id_column``) of a sample of the failing rows.
    partial_unexpected_ids: list[Any] = field(default_factory=list)
    # Set when GX could not evaluate the expectation.
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={self.kwargs[k]}" for k in ("column", "column_A", "column_B") if k in self.kwargs)
        if "column_list" in self.kwargs:
            args = f"column_list={self.kwargs['column_list']}"
        return f"{self.type}({args})"

    def describe(self) -> str:
        """One line: the expectation and what went wrong (or 'ok')."""
        if self.error:
            return f"{self.label}: not evaluated ({self.error})"
        if self.row_level:
            return f"{self.label}: {self.unexpected_count or 0} rows"
        if self.observed_value is not None:
            return f"{self.label}: observed {_short(self.observed_value)}"
        return f"{self.label}: failed"


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of :func:`validate`. Failed checks are results, never exceptions.

    ``clean`` and ``quarantined`` keep the caller's index labels; ``duration_s`` excludes the
    one-off GX import and context creation.
    """

    passed: bool
    row_pass_rate: float
    expectation_pass_rate: float
    failed_expectations: list[str]
    table_failures: list[str]
    clean: pd.DataFrame = field(repr=False)
    quarantined: pd.DataFrame = field(repr=False)
    results: list[ExpectationOutcome]
    rows: int
    duration_s: float
    gate: QualityGate
    suite_name: str
    row_id_column: str

    @property
    def quarantined_count(self) -> int:
        return len(self.quarantined)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no row data), e.g. for pipeline metadata or logs."""
        return {
            "suite": self.suite_name,
            "passed": self.passed,
            "rows": self.rows,
            "quarantined": self.quarantined_count,
            "row_pass_rate": self.row_pass_rate,
            "min_row_pass_rate": self.gate.min_row_pass_rate,
            "expectation_pass_rate": self.expectation_pass_rate,
            "failed_expectations": list(self.failed_expectations),
            "table_failures": list(self.table_failures),
            "duration_s": self.duration_s,
        }


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    """numpy scalars to Python; NaN/NaT to None (JSON-able and readable in reports)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def _is_missing(value: Any) -> bool:
    """None, float NaN, NaT or pd.NA (not containers: a tuple of values is a value)."""
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        return False
    with contextlib.suppress(TypeError, ValueError):
        return bool(pd.isna(value))
    return False


def _unexpected_value_counts(res: dict[str, Any]) -> list[tuple[Any, int]]:
    """The unexpected values and their counts, most frequent first, missing values as one ``None``.

    GX counts with a ``Counter``, where NaN != NaN makes every missing value its own entry of
    count 1 (and those entries crowd the real values out of its top ``SAMPLE_SIZE``). So the
    counts are taken from the COMPLETE ``unexpected_list`` when GX gives single values, in one
    vectorised pass; for column-pair and multicolumn expectations (tuples, dicts) GX's own
    counts are regrouped.
    """
    values = res.get("unexpected_list")
    pairs: list[tuple[Any, int]] | None = None
    # GX looks at the first value too: a map expectation's values are all alike.
    if values and not isinstance(values[0], (dict, list, tuple)):
        series = pd.Series(values, dtype=object)
        missing = series.isna()
        with contextlib.suppress(TypeError):  # unhashable values: GX could not count them either
            # Ties keep the order of first occurrence, as GX's Counter.most_common does.
            top = series[~missing].value_counts(sort=False).nlargest(SAMPLE_SIZE, keep="first")
            pairs = [(v, int(c)) for v, c in top.items()]
            pairs.append((None, int(missing.sum())))
    if pairs is None:
        pairs = [(c["value"], int(c["count"])) for c in (res.get("partial_unexpected_counts") or []) if "value" in c]
    nulls = sum(c for v, c in pairs if _is_missing(v))
    merged: dict[Any, int] = {}
    for value, count in pairs:
        if not _is_missing(value):
            key = _plain(value)
            merged[key] = merged.get(key, 0) + count
    ordered = _by_value(list(merged.items()))
    if nulls:
        ordered.append((None, nulls))
    # A stable sort: equal counts keep GX's order by value, the missing entry after them.
    return sorted(ordered, key=lambda item: -item[1])[:SAMPLE_SIZE]


def _by_value(pairs: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Sorted by value as GX sorts its counts; by type and text when the values do not compare."""
    try:
        return sorted(pairs, key=lambda item: item[0])
    except TypeError:
        return sorted(pairs, key=lambda item: (type(item[0]).__name__, str(item[0])))


def _error_message(exception_info: Any) -> str | None:
    """GX's exception info, either flat or keyed by the metric that failed, as one line."""
    if not isinstance(exception_info, dict):
        return None
    candidates = [exception_info, *(v for v in exception_info.values() if isinstance(v, dict))]
    for info in candidates:
        if info.get("raised_exception"):
            return _short(" ".join(str(info.get("exception_message") or "error").split()), 200)
    return None


@cache
def default_context() -> AbstractDataContext:
    """One ephemeral (in-memory) GX context per process; creating one costs ~0.1 s."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def expectation_class(type_name: str) -> type:
    """The GX class for a snake_case expectation type: ours first, then GX core."""
    from data_quality.suite import core_expectation_types
    from data_quality.validators import CUSTOM_EXPECTATIONS

    if type_name in CUSTOM_EXPECTATIONS:
        return CUSTOM_EXPECTATIONS[type_name]
    if type_name in core_expectation_types():
        from great_expectations.expectations.registry import get_expectation_impl

        return get_expectation_impl(type_name)
    raise KeyError(type_name)


def build_gx_suite(suite: SuiteSpec) -> gx.ExpectationSuite:
    """The GX suite for ``suite``; bad kwargs are a ConfigError naming the expectation's key."""
    import great_expectations as gx

    expectations = []
    for i, spec in enumerate(suite.expectations):
        cls = expectation_class(spec.type)
        meta = {**spec.meta, _INDEX_META_KEY: i}
        try:
            expectations.append(cls(**spec.kwargs, meta=meta))
        except Exception as exc:  # pydantic v1 ValidationError or GX's own config errors
            message = " ".join(str(exc).split())
            raise ConfigError(f"suite {suite.name!r}", f"expectations.{i}.kwargs", _short(message, 300)) from None
    return gx.ExpectationSuite(name=suite.name, expectations=expectations)


def _is_row_level(expectation: Any) -> bool:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return isinstance(expectation, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))


def _gx_frame(df: pd.DataFrame, suite: SuiteSpec, row_id_column: str) -> pd.DataFrame:
    """The frame GX sees: the needed columns, with a fresh unnamed positional index.

    Built under copy-on-write, so selecting, re-indexing and converting never touch (or
    copy) the caller's data. String columns checked only for membership and nulls become
    categoricals: the verdicts are the same, and pandas answers those checks (and GX's hash
    of the batch) much faster than on Python string objects.
    """
    with pd.option_context("mode.copy_on_write", True):
        if any(e.type in _WHOLE_TABLE_TYPES for e in suite.expectations):
            frame = df.copy(deep=False)
        else:
            wanted = [row_id_column, *suite.columns()]
            frame = df.loc[:, list(dict.fromkeys(c for c in wanted if c in df.columns))]
        frame = frame.set_axis(pd.RangeIndex(len(frame)), axis=0)
        types_by_column: dict[str, set[str]] = {}
        for exp in suite.expectations:
            for column in exp.columns():
                types_by_column.setdefault(column, set()).add(exp.type)
        for column, types in types_by_column.items():
            if (
                column in frame.columns
                and column != row_id_column
                and "expect_column_values_to_be_in_set" in types
                and types <= _CATEGORY_SAFE_TYPES
                and pd.api.types.is_object_dtype(frame[column])
            ):
                frame[column] = frame[column].astype("category")
    return frame


def _quarantine(
    df: pd.DataFrame, bad: np.ndarray, hits: list[tuple[str, np.ndarray]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into clean and quarantined rows; label each bad row with what it failed.

    Vectorised over expectations, not rows: at most one array operation per failing
    expectation, whatever the number of bad rows.
    """
    if not bad.any():
        return df.copy(deep=False), df.iloc[0:0].assign(**{FAILED_COLUMN: pd.Series(dtype=object)})
    bad_positions = np.flatnonzero(bad)
    reasons = np.full(len(bad_positions), "", dtype=object)
    for label, positions in hits:
        where = np.searchsorted(bad_positions, positions)
        current = reasons[where]
        reasons[where] = np.where(current == "", label, current + "; " + label)
    quarantined = df.iloc[bad_positions].copy()
    quarantined[FAILED_COLUMN] = reasons
    return df.iloc[np.flatnonzero(~bad)], quarantined


def validate(
    df: pd.DataFrame,
    suite: SuiteSpec,
    *,
    row_id_column: str,
    gate: QualityGate | None = None,
    context: AbstractDataContext | None = None,
) -> ValidationResult:
    """Validate ``df`` with ``suite`` in an ephemeral GX context and apply the quality gate.

    ``row_id_column`` names the column used to identify rows in results and reports (it need
    not be unique). ``context`` defaults to one shared ephemeral context per process.
    Raises DatasetError when ``row_id_column`` is missing and ConfigError for bad kwargs in
    the suite; data that fails the suite is a result with ``passed=False``.
    """
    gate = gate or QualityGate()
    if row_id_column not in df.columns:
        raise DatasetError(f"row id column {row_id_column!r} is not in the frame")
    gx_suite = build_gx_suite(suite)
    ctx = context if context is not None else default_context()
    # Timed from here: the one-off GX import and context creation are not part of a validation.
    started = time.perf_counter()
    frame = _gx_frame(df, suite, row_id_column)

    # A fresh datasource per call (removed afterwards), so calls never share batch state.
    from great_expectations.validator.v1_validator import Validator

    source_name = f"dq_{uuid.uuid4().hex}"
    source = ctx.data_sources.add_pandas(name=source_name)
    try:
        batch_definition = source.add_dataframe_asset(name="frame").add_batch_definition_whole_dataframe("whole")
        # GX's own validator, as Batch.validate and ValidationDefinition.run use it: it loads
        # the batch once (Batch.validate loads it a second time, and each load hashes the whole
        # frame), and keeps no result store behind.
        validator = Validator(
            batch_definition=batch_definition,
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "COMPLETE",
                "partial_unexpected_count": SAMPLE_SIZE,
                # The pandas "query" is a string naming every failing index: useless here.
                "return_unexpected_index_query": False,
            },
        )
        # GX filters the frame with all-true masks (null filters) many times; without
        # copy-on-write each filter copies every column. Scoped to the GX call.
        with pd.option_context("mode.copy_on_write", True):
            gx_result = validator.validate_expectation_suite(gx_suite)
    finally:
        ctx.data_sources.delete(source_name)

    rows = len(df)
    by_index = {int((exp.meta or {})[_INDEX_META_KEY]): exp for exp in gx_suite.expectations}
    ids = df[row_id_column]
    bad = np.zeros(rows, dtype=bool)
    hits: list[tuple[str, np.ndarray]] = []
    outcomes: list[ExpectationOutcome | None] = [None] * len(suite.expectations)
    for er in gx_result.results:
        config = er.expectation_config
        assert config is not None
        index = int((config.meta or {})[_INDEX_META_KEY])
        spec = suite.expectations[index]
        res: dict[str, Any] = dict(er.result or {})
        error = _error_message(er.exception_info)
        row_level = _is_row_level(by_index[index]) and error is None
        positions = np.asarray(res.get("unexpected_index_list") or [], dtype=np.int64) if row_level else None
        outcome = ExpectationOutcome(
            type=spec.type,
            kwargs=dict(spec.kwargs),
            success=bool(er.success) and error is None,
            row_level=row_level,
            unexpected_count=res.get("unexpected_count"),
            unexpected_percent=_plain(res.get("unexpected_percent")),
            observed_value=_plain(res.get("observed_value")),
            partial_unexpected_values=[_plain(v) for v in (res.get("partial_unexpected_list") or [])],
            unexpected_value_counts=_unexpected_value_counts(res),
            partial_unexpected_ids=(
                [_plain(v) for v in ids.iloc[positions[:SAMPLE_SIZE]]] if positions is not None else []
            ),
            error=error,
            meta=dict(spec.meta),
        )
        outcomes[index] = outcome
        if positions is not None and not outcome.success and len(positions):
            bad[positions] = True
            hits.append((outcome.label, positions))

    results = [o for o in outcomes if o is not None]
    failed = [o for o in results if not o.success]
    table_failures = [o.describe() for o in failed if not o.row_level]
    row_pass_rate = 1.0 - float(bad.sum()) / rows if rows else 1.0
    expectation_pass_rate = (len(results) - len(failed)) / len(results) if results else 1.0
    clean, quarantined = _quarantine(df, bad, hits)
    passed = row_pass_rate >= gate.min_row_pass_rate and not (table_failures and gate.require_table_expectations)
    return ValidationResult(
        passed=passed,
        row_pass_rate=row_pass_rate,
        expectation_pass_rate=expectation_pass_rate,
        failed_expectations=[o.describe() for o in failed],
        table_failures=table_failures,
        clean=clean,
        quarantined=quarantined,
        results=results,
        rows=rows,
        duration_s=time.perf_counter() - started,
        gate=gate,
        suite_name=suite.name,
        row_id_column=row_id_column,
    )
