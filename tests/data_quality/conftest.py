"""Shared fixtures for the data_quality tests.

Importing great_expectations costs seconds, so the GX context is created once per session and
the frames stay small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data_quality.suite import SuiteSpec, load_suite
from training.sample_data import generate_credit_risk

REPO = Path(__file__).resolve().parents[2]
CREDIT_SUITE = REPO / "data_quality" / "expectations" / "credit_risk.yaml"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def credit_suite_path() -> Path:
    return CREDIT_SUITE


@pytest.fixture(scope="session")
def gx_context() -> Any:
    from data_quality.validation import default_context

    return default_context()


@pytest.fixture(scope="session")
def credit_suite() -> SuiteSpec:
    return load_suite(CREDIT_SUITE)


@pytest.fixture(scope="session")
def credit_2000() -> pd.DataFrame:
    return generate_credit_risk(2000)


@pytest.fixture
def credit_df(credit_2000: pd.DataFrame) -> pd.DataFrame:
    """A fresh copy of the 2,000-row sample for each test to corrupt."""
    return credit_2000.copy()
