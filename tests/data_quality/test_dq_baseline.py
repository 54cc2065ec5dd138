"""profile_baseline(): a suite from data that passes on that data and catches corruption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_quality.suite import SuiteSpec, load_suite, profile_baseline, save_suite
from data_quality.validation import FAILED_COLUMN, validate

NON_PII = [
    "applicant_id", "sex", "age_band", "income", "loan_amount", "loan_term_months", "credit_score",
    "debt_to_income", "open_accounts", "late_payments_12m", "employment_type", "home_ownership",
    "loan_purpose", "region", "defaulted",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _gx(gx_context: Any) -> None:
    """Every test here runs GX; share one context."""


@pytest.fixture
def baseline(credit_df: pd.DataFrame) -> SuiteSpec:
    return profile_baseline(
        credit_df, name="byo", columns=NON_PII, categorical=["loan_term_months", "defaulted"], id_column="applicant_id"
    )


def _by(suite: SuiteSpec, type_name: str, column: str) -> dict[str, Any]:
    matches = [e.kwargs for e in suite.expectations if e.type == type_name and e.kwargs.get("column") == column]
    assert len(matches) == 1, (type_name, column)
    return matches[0]


def test_baseline_shape(baseline: SuiteSpec, credit_df: pd.DataFrame) -> None:
    assert _by(baseline, "expect_column_values_to_be_unique", "applicant_id") == {"column": "applicant_id"}
    assert _by(baseline, "expect_column_values_to_be_in_set", "region")["value_set"] == sorted(
        credit_df["region"].unique()
    )
    assert _by(baseline, "expect_column_values_to_be_in_set", "defaulted")["value_set"] == [0, 1]
    income = _by(baseline, "expect_column_values_to_be_between", "income")
    assert income["min_value"] <= credit_df["income"].min()
    assert income["max_value"] >= credit_df["income"].max()
    assert income["min_value"] >= 0  # never widened below zero for a non-negative column
    table = {e.type: e.kwargs for e in baseline.expectations if "column" not in e.kwargs}
    assert table["expect_table_row_count_to_be_between"] == {"min_value": 1}
    assert set(table["expect_table_columns_to_match_set"]["column_set"]) == set(NON_PII)
    # PII columns were not profiled, so none of their values can leak into the suite file.
    assert not {"email", "full_name", "phone", "national_id", "note"} & set(baseline.columns())


def test_baseline_passes_on_its_source_and_survives_yaml(
    baseline: SuiteSpec, credit_df: pd.DataFrame, tmp_path: Path
) -> None:
    reloaded = load_suite(save_suite(baseline, tmp_path / "byo.yaml"))
    assert reloaded == baseline
    result = validate(credit_df, reloaded, row_id_column="applicant_id")
    assert result.passed
    assert result.row_pass_rate == 1.0
    assert result.expectation_pass_rate == 1.0


def test_baseline_fails_on_corrupted_data(baseline: SuiteSpec, credit_df: pd.DataFrame) -> None:
    corrupted = credit_df.copy()
    corrupted.loc[0:59, "income"] = -1.0
    corrupted.loc[60:119, "region"] = "atlantis"
    corrupted.loc[120:179, "credit_score"] = np.nan
    result = validate(corrupted, baseline, row_id_column="applicant_id")
    assert not result.passed
    assert result.row_pass_rate == pytest.approx(1 - 180 / 2000)
    assert set(result.quarantined.index) == set(range(180))
    joined = " | ".join(result.failed_expectations)
    for label in (
        "expect_column_values_to_be_between(column=income)",
        "expect_column_values_to_be_in_set(column=region)",
        "expect_column_values_to_not_be_null(column=credit_score)",
    ):
        assert label in joined
    assert result.quarantined.loc[0, FAILED_COLUMN] == "expect_column_values_to_be_between(column=income)"


def test_baseline_with_a_dropped_column_fails_at_table_level(baseline: SuiteSpec, credit_df: pd.DataFrame) -> None:
    result = validate(credit_df.drop(columns=["region"]), baseline, row_id_column="applicant_id")
    assert not result.passed
    assert any(t.startswith("expect_table_columns_to_match_set") for t in result.table_failures)


def test_columns_with_few_nulls_get_mostly_and_still_pass() -> None:
    df = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(200)],
            "few_nulls": [None if i % 50 == 0 else float(i) for i in range(200)],  # 2 %
            "many_nulls": [None if i % 2 else "x" for i in range(200)],  # 50 %
        }
    )
    suite = profile_baseline(df, name="nulls", id_column="id")
    few = _by(suite, "expect_column_values_to_not_be_null", "few_nulls")
    assert few["mostly"] == pytest.approx(0.98)
    assert not [e for e in suite.expectations if e.type.endswith("not_be_null") and e.kwargs["column"] == "many_nulls"]
    result = validate(df, suite, row_id_column="id")
    assert result.passed
    assert result.row_pass_rate == 1.0
    worse = df.copy()
    worse.loc[1:20, "few_nulls"] = None
    outcomes = {o.label: o for o in validate(worse, suite, row_id_column="id").results}
    few_outcome = outcomes["expect_column_values_to_not_be_null(column=few_nulls)"]
    assert not few_outcome.success
    assert few_outcome.unexpected_count == 24


def test_unknown_columns_are_rejected(credit_df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="nope"):
        profile_baseline(credit_df, name="x", columns=["nope"])
