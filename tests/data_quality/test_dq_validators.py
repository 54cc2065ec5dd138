"""The custom expectations catch what they are for, through the suite and registry path."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from data_quality.suite import ExpectationSpec, SuiteSpec
from data_quality.validation import validate


@pytest.fixture(autouse=True)
def _gx(gx_context: Any) -> None:
    """Every test here runs GX; share one context."""


def _bad_ids(values: list[Any], type_name: str, **kwargs: Any) -> list[str]:
    df = pd.DataFrame({"id": [f"r{i}" for i in range(len(values))], "x": values})
    suite = SuiteSpec(name="t", expectations=[ExpectationSpec(type=type_name, kwargs={"column": "x", **kwargs})])
    result = validate(df, suite, row_id_column="id")
    outcome = result.results[0]
    assert outcome.error is None
    assert outcome.success == result.quarantined.empty
    return list(result.quarantined["id"])


def test_probabilities_reject_values_outside_0_1() -> None:
    values = [0.0, 1.0, 0.5, 1.0001, -0.01, None, 7]
    assert _bad_ids(values, "expect_column_values_to_be_probabilities") == ["r3", "r4", "r6"]


def test_probabilities_pass_on_rates() -> None:
    assert _bad_ids([0.0, 0.25, 1.0], "expect_column_values_to_be_probabilities") == []


def test_entity_ids_default_pattern() -> None:
    values = ["APP-0000001", "user_42", "a.b:c", "has space", "", "-leading", "x" * 129, None]
    assert _bad_ids(values, "expect_column_values_to_be_entity_ids") == ["r3", "r4", "r5", "r6"]


def test_entity_ids_with_a_dataset_pattern() -> None:
    values = ["APP-0000001", "APP-1", "app-0000002", "APP-00000003"]
    bad = _bad_ids(values, "expect_column_values_to_be_entity_ids", regex=r"^APP-\d{7}$")
    assert bad == ["r1", "r2", "r3"]


def test_money_amounts_reject_negative_non_finite_and_sub_cent_values() -> None:
    values = [0.0, 12.34, 1_000_000.99, 0.1 + 0.2, -0.01, float("inf"), 1.234, None]
    assert _bad_ids(values, "expect_column_values_to_be_money_amounts") == ["r4", "r5", "r6"]


def test_money_amounts_respect_bounds_and_decimals() -> None:
    values = [5, 10.5, 100.0, 100.01, 0.125]
    bad = _bad_ids(values, "expect_column_values_to_be_money_amounts", min_value=1, max_value=100, decimals=1)
    assert bad == ["r3", "r4"]


def test_money_amounts_reject_text() -> None:
    assert _bad_ids(["12.50", "twelve", 3.0], "expect_column_values_to_be_money_amounts") == ["r1"]
