"""Suite files: schema, error messages, the name registry, saving."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from data_quality.suite import (
    ExpectationSpec,
    SuiteSpec,
    core_expectation_types,
    custom_expectation_types,
    load_suite,
    save_suite,
)
from mlops.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_bundled_suite_loads_and_names_only_non_pii_columns(credit_suite: SuiteSpec) -> None:
    assert credit_suite.name == "credit_risk"
    assert 12 <= len(credit_suite.expectations) <= 24
    pii = {"full_name", "email", "phone", "national_id", "note"}
    assert not pii & set(credit_suite.columns())
    assert {"applicant_id", "income", "credit_score", "debt_to_income", "region", "defaulted"} <= set(
        credit_suite.columns()
    )


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "name: s\nexpectations:\n"
        "  - type: expect_column_values_to_not_be_null\n    kwargs: {column: a}\n"
        "  - type: expect_column_values_to_not_be_null\n    kwarg: {column: b}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert err.value.file == str(path)
    assert err.value.key == "expectations.1.kwarg"
    assert str(path) in str(err.value)


def test_unknown_expectation_type_names_file_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "name: s\nexpectations:\n"
        "  - type: expect_table_row_count_to_be_between\n    kwargs: {min_value: 1}\n"
        "  - type: expect_column_values_to_be_in_sett\n    kwargs: {column: a, value_set: [x]}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert err.value.file == str(path)
    assert err.value.key == "expectations.1.type"
    # The message suggests the closest known name.
    assert "expect_column_values_to_be_in_set" in err.value.expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("expectations: []\n", "name"),
        ("name: s\nexpectations: []\n", "expectations"),
        ("name: s\nexpectations:\n  - kwargs: {column: a}\n", "expectations.0.type"),
        ("name: s\nexpectations: {}\n", "expectations"),
    ],
)
def test_malformed_suites_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_suite(_write(tmp_path, text))
    assert err.value.key == key


def test_missing_and_unparsable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the file to exist"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_suite(_write(tmp_path, "name: [unclosed\n"))


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    suite = SuiteSpec(
        name="roundtrip",
        expectations=[
            ExpectationSpec(type="expect_column_values_to_be_probabilities", kwargs={"column": "p"}),
            ExpectationSpec(
                type="expect_column_values_to_be_in_set",
                kwargs={"column": "c", "value_set": ["a", "18-25", "66+"]},
                meta={"why": "test"},
            ),
        ],
    )
    path = save_suite(suite, tmp_path / "nested" / "s.yaml")
    assert load_suite(path) == suite


def test_loading_a_suite_does_not_import_great_expectations(repo_root: Path, credit_suite_path: Path) -> None:
    code = (
        "import sys\n"
        "from data_quality.suite import load_suite\n"
        f"load_suite({str(credit_suite_path)!r})\n"
        "assert 'great_expectations' not in sys.modules, 'GX was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_core_names_match_gx_registry(gx_context: Any) -> None:
    import great_expectations.expectations  # noqa: F401  (registers the core expectations)
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    from data_quality.validators import CUSTOM_EXPECTATIONS

    registered = set(list_registered_expectation_implementations())
    # UnexpectedRowsExpectation is SQL-only and not an expect_* name: out of scope here.
    registered -= {"unexpected_rows_expectation", *CUSTOM_EXPECTATIONS}
    assert core_expectation_types() == registered


def test_custom_names_match_the_explicit_registry(gx_context: Any) -> None:
    from data_quality.validators import CUSTOM_EXPECTATIONS

    assert custom_expectation_types() == set(CUSTOM_EXPECTATIONS)
    for name, cls in CUSTOM_EXPECTATIONS.items():
        assert cls.expectation_type == name  # type: ignore[attr-defined]
    assert len(CUSTOM_EXPECTATIONS) >= 2


def test_bad_kwargs_are_reported_when_the_suite_is_built(gx_context: Any) -> None:
    from data_quality.validation import build_gx_suite

    suite = SuiteSpec(
        name="bad",
        expectations=[
            ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "a"}),
            ExpectationSpec(type="expect_column_values_to_be_between", kwargs={"column": "a", "min_valu": 1}),
        ],
    )
    with pytest.raises(ConfigError) as err:
        build_gx_suite(suite)
    assert err.value.key == "expectations.1.kwargs"
    assert "min_valu" in err.value.expected
