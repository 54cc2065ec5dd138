"""validate(): verdicts from GX, the gate, and the quarantine of exactly the bad rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_quality.config import QualityGate
from data_quality.suite import ExpectationSpec, SuiteSpec
from data_quality.validation import FAILED_COLUMN, validate
from mlops.errors import DatasetError

ID = "applicant_id"


@pytest.fixture(autouse=True)
def _gx(gx_context: Any) -> None:
    """Every test here runs GX; share one context."""


def _ids(df: pd.DataFrame, positions: np.ndarray) -> set[str]:
    return set(df[ID].iloc[positions])


def test_bundled_suite_passes_on_the_sample(credit_df: pd.DataFrame, credit_suite: SuiteSpec) -> None:
    result = validate(credit_df, credit_suite, row_id_column=ID, gate=QualityGate())
    assert result.passed, result.failed_expectations
    assert result.row_pass_rate == 1.0
    assert result.expectation_pass_rate == 1.0
    assert result.failed_expectations == []
    assert result.table_failures == []
    assert len(result.results) == len(credit_suite.expectations)
    assert [o.type for o in result.results] == [e.type for e in credit_suite.expectations]
    assert len(result.clean) == result.rows == 2000
    assert result.quarantined.empty
    assert FAILED_COLUMN in result.quarantined.columns
    assert result.duration_s > 0


@pytest.mark.parametrize(
    ("column", "bad_value", "expected_label"),
    [
        ("income", np.nan, "expect_column_values_to_not_be_null(column=income)"),
        ("credit_score", 912, "expect_column_values_to_be_between(column=credit_score)"),
        ("region", "atlantis", "expect_column_values_to_be_in_set(column=region)"),
        ("debt_to_income", 1.7, "expect_column_values_to_be_probabilities(column=debt_to_income)"),
    ],
)
def test_bad_rows_fail_the_gate_are_named_and_quarantined(
    credit_df: pd.DataFrame, credit_suite: SuiteSpec, column: str, bad_value: Any, expected_label: str
) -> None:
    rng = np.random.default_rng(3)
    positions = np.sort(rng.choice(len(credit_df), size=120, replace=False))  # 6 % > 5 %
    credit_df.loc[credit_df.index[positions], column] = bad_value

    result = validate(credit_df, credit_suite, row_id_column=ID, gate=QualityGate())

    assert not result.passed
    assert result.row_pass_rate == pytest.approx(1 - 120 / 2000)
    assert result.failed_expectations == [f"{expected_label}: 120 rows"]
    assert result.table_failures == []
    assert set(result.quarantined[ID]) == _ids(credit_df, positions)
    assert (result.quarantined[FAILED_COLUMN] == expected_label).all()
    assert len(result.clean) == 2000 - 120
    assert not set(result.clean[ID]) & _ids(credit_df, positions)
    failed = next(o for o in result.results if not o.success)
    assert failed.unexpected_count == 120
    assert set(failed.partial_unexpected_ids) <= _ids(credit_df, positions)
    assert failed.partial_unexpected_ids
    if isinstance(bad_value, str):
        assert failed.unexpected_value_counts == [(bad_value, 120)]


def test_few_bad_rows_pass_the_gate_but_are_still_quarantined(credit_df: pd.DataFrame, credit_suite: SuiteSpec) -> None:
    credit_df.loc[[5, 17, 400], "region"] = "atlantis"
    result = validate(credit_df, credit_suite, row_id_column=ID, gate=QualityGate(min_row_pass_rate=0.95))
    assert result.passed
    assert result.failed_expectations == ["expect_column_values_to_be_in_set(column=region): 3 rows"]
    assert list(result.quarantined.index) == [5, 17, 400]
    strict = validate(credit_df, credit_suite, row_id_column=ID, gate=QualityGate(min_row_pass_rate=1.0))
    assert not strict.passed


def test_a_row_failing_several_expectations_lists_them_all(credit_df: pd.DataFrame, credit_suite: SuiteSpec) -> None:
    credit_df.loc[10, "region"] = "atlantis"
    credit_df.loc[10, "credit_score"] = 10
    credit_df.loc[11, "region"] = "atlantis"
    result = validate(credit_df, credit_suite, row_id_column=ID)
    reasons = result.quarantined[FAILED_COLUMN].to_dict()
    assert reasons == {
        10: "expect_column_values_to_be_between(column=credit_score); expect_column_values_to_be_in_set(column=region)",
        11: "expect_column_values_to_be_in_set(column=region)",
    }
    assert result.row_pass_rate == pytest.approx(1 - 2 / 2000)


def test_rows_are_identified_by_position_with_duplicate_ids_and_odd_index() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c", "c"],
            "score": [1.0, 99.0, 2.0, 3.0, -5.0, 4.0],
        },
        index=pd.Index(["r6", "r5", "r4", "r3", "r2", "r1"], name="label"),
    )
    suite = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(
                type="expect_column_values_to_be_between", kwargs={"column": "score", "min_value": 0, "max_value": 10}
            )
        ],
    )
    original = df.copy()
    result = validate(df, suite, row_id_column="id")
    # Only the second "a" and the first "c" are bad, though their ids repeat.
    assert list(result.quarantined.index) == ["r5", "r2"]
    assert list(result.clean.index) == ["r6", "r4", "r3", "r1"]
    assert result.results[0].partial_unexpected_ids == ["a", "c"]
    # The caller's frame is untouched (index, values, dtypes).
    pd.testing.assert_frame_equal(df, original)


def test_table_level_failures_follow_the_gate_setting() -> None:
    df = pd.DataFrame({"id": [f"x{i}" for i in range(50)], "v": range(50)})
    suite = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(type="expect_table_row_count_to_be_between", kwargs={"min_value": 100}),
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "v"}),
        ],
    )
    result = validate(df, suite, row_id_column="id", gate=QualityGate())
    assert not result.passed
    assert result.row_pass_rate == 1.0
    assert result.table_failures == ["expect_table_row_count_to_be_between(): observed 50"]
    assert result.quarantined.empty
    lenient = validate(df, suite, row_id_column="id", gate=QualityGate(require_table_expectations=False))
    assert lenient.passed
    assert lenient.expectation_pass_rate == 0.5


def test_a_missing_column_is_a_table_failure_not_a_crash() -> None:
    df = pd.DataFrame({"id": ["a", "b"], "v": [1, 2]})
    suite = SuiteSpec(
        name="t",
        expectations=[ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "missing"})],
    )
    result = validate(df, suite, row_id_column="id")
    assert not result.passed
    assert len(result.table_failures) == 1
    assert result.table_failures[0].startswith("expect_column_values_to_not_be_null(column=missing): not evaluated")
    assert result.results[0].error


def test_mostly_tolerates_its_few_unexpected_rows() -> None:
    df = pd.DataFrame({"id": [f"r{i}" for i in range(100)], "v": [None] * 5 + list(range(95))})
    tolerant = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "v", "mostly": 0.9})
        ],
    )
    result = validate(df, tolerant, row_id_column="id")
    assert result.passed
    assert result.row_pass_rate == 1.0
    assert result.quarantined.empty
    assert result.results[0].unexpected_count == 5
    strict = validate(
        df,
        tolerant.model_copy(
            update={
                "expectations": [
                    ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "v", "mostly": 0.99})
                ]
            }
        ),
        row_id_column="id",
    )
    assert list(strict.quarantined["id"]) == ["r0", "r1", "r2", "r3", "r4"]


def test_whole_table_expectations_see_every_column(credit_df: pd.DataFrame) -> None:
    suite = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(
                type="expect_table_columns_to_match_set",
                kwargs={"column_set": ["applicant_id", "income"], "exact_match": True},
            )
        ],
    )
    result = validate(credit_df, suite, row_id_column=ID)
    # The frame has many more columns than the two named, so an exact match must fail.
    assert not result.passed
    assert len(result.table_failures) == 1


def test_missing_row_id_column_is_a_dataset_error(credit_suite: SuiteSpec) -> None:
    with pytest.raises(DatasetError, match="nope"):
        validate(pd.DataFrame({"a": [1]}), credit_suite, row_id_column="nope")


def test_summary_is_json_ready(credit_df: pd.DataFrame, credit_suite: SuiteSpec) -> None:
    import json

    credit_df.loc[0, "sex"] = "unknown"
    summary = validate(credit_df, credit_suite, row_id_column=ID).summary()
    decoded = json.loads(json.dumps(summary))
    assert decoded["quarantined"] == 1
    assert decoded["failed_expectations"] == ["expect_column_values_to_be_in_set(column=sex): 1 rows"]


def test_missing_values_are_one_entry_with_their_total_count() -> None:
    # More NaNs than SAMPLE_SIZE: GX would list 20 separate NaN entries and lose the rest.
    values = [np.nan] * 30 + [float(i) for i in range(70)]
    mixed: list[Any] = [None, np.nan, float("nan"), pd.NaT, pd.NA] * 4 + ["x"] * 80
    df = pd.DataFrame({"id": [f"r{i}" for i in range(100)], "v": values, "mixed": mixed})
    suite = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "v", "mostly": 0.5}),
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "mixed"}),
        ],
    )
    result = validate(df, suite, row_id_column="id")
    numeric, objects = result.results
    assert numeric.success
    assert numeric.unexpected_count == 30
    assert numeric.unexpected_value_counts == [(None, 30)]
    assert not objects.success
    assert objects.unexpected_value_counts == [(None, 20)]
    assert all(v is None for v in objects.partial_unexpected_values)


def test_unexpected_value_counts_put_the_missing_entry_in_count_order() -> None:
    from data_quality.validation import _unexpected_value_counts

    res = {"unexpected_list": ["a"] * 5 + [np.nan] * 3 + [None] * 4 + ["b"] * 9 + [np.float64("nan")] + ["c"] * 7}
    assert _unexpected_value_counts(res) == [("b", 9), (None, 8), ("c", 7), ("a", 5)]
    # Column-pair values come as tuples: GX's own counts, with its NaN entries regrouped.
    pairs = {
        "unexpected_list": [(1, 2), (1, 2), (3, 4)],
        "partial_unexpected_counts": [
            {"value": (1, 2), "count": 2},
            {"value": float("nan"), "count": 1},
            {"value": float("nan"), "count": 1},
            {"value": (3, 4), "count": 1},
        ],
    }
    assert _unexpected_value_counts(pairs) == [((1, 2), 2), (None, 2), ((3, 4), 1)]
