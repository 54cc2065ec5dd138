"""The HTML report: self-contained, escaped, and says what failed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data_quality.reports import render_html, write_report
from data_quality.suite import ExpectationSpec, SuiteSpec
from data_quality.validation import ValidationResult, validate
from mlops.report_html import base_css

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def failing(gx_context: Any, credit_suite: SuiteSpec, credit_2000: pd.DataFrame) -> ValidationResult:
    df = credit_2000.copy()
    df.loc[:199, "region"] = HOSTILE
    return validate(df, credit_suite, row_id_column="applicant_id")


def test_report_is_self_contained(failing: ValidationResult) -> None:
    page = render_html(failing, dataset_name="credit_risk", suite_name="credit_risk")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert base_css().strip() in page  # the platform's report base, then the report's own rules
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert "url(" not in page


def test_report_escapes_data_values(failing: ValidationResult) -> None:
    page = render_html(failing, dataset_name="<b>ds</b>", suite_name="credit_risk")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "<b>ds</b>" not in page
    assert "&lt;b&gt;ds&lt;/b&gt;" in page


def test_report_summarises_the_failure(failing: ValidationResult) -> None:
    page = render_html(failing, dataset_name="credit_risk", suite_name="credit_risk")
    assert "FAILED" in page
    assert "PASSED" not in page
    assert "90.00%" in page  # row pass rate, vs the gate's 95.00%
    assert "95.00%" in page
    assert "200" in page  # quarantined rows
    assert page.count("<tr class=") == len(failing.results)
    assert page.count('class="status bad">FAIL') == 1
    assert "APP-0000000" in page  # a sample row id of the failing rows


def test_write_report_and_passing_page(
    gx_context: Any, credit_suite: SuiteSpec, credit_2000: pd.DataFrame, tmp_path: Path
) -> None:
    result = validate(credit_2000, credit_suite, row_id_column="applicant_id")
    path = write_report(result, tmp_path / "out" / "report.html", dataset_name="credit_risk")
    page = path.read_text(encoding="utf-8")
    assert "PASSED" in page
    assert "FAILED" not in page
    assert page.count('class="status ok">pass') == len(credit_suite.expectations)


def test_missing_values_show_as_one_null_entry(gx_context: Any) -> None:
    df = pd.DataFrame({"id": [f"r{i}" for i in range(100)], "income": [float("nan")] * 12 + [1.0] * 88})
    suite = SuiteSpec(
        name="t",
        expectations=[
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "income", "mostly": 0.95})
        ],
    )
    result = validate(df, suite, row_id_column="id")
    assert result.results[0].unexpected_value_counts == [(None, 12)]
    page = render_html(result, dataset_name="d")
    assert page.count("<code>null</code> &times;") == 1
    assert "<code>null</code> &times; 12</li>" in page
