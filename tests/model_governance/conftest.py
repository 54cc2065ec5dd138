"""Shared, session-scoped fits for the model_governance tests (small data, fitted once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from training.sample_data import generate_credit_risk

# A chosen subset of the sample's features, not its schema (that is training.sample_data.sample_feature_schema):
# small-scale numbers, because these pipelines pass numbers through unscaled (with income or
# credit_score the logistic regression stops converging and the suite runs ~60 % longer), and
# `region` kept out as the pass-through column of the explainability tests.
NUMERIC = ["debt_to_income", "late_payments_12m", "open_accounts", "loan_term_months"]
CATEGORICAL = ["employment_type", "home_ownership", "loan_purpose", "risk_tier"]
FEATURES = NUMERIC + CATEGORICAL
SIGNAL = "risk_tier"
# Default rate per tier: the tier alone nearly decides the label, every other column is noise
# with respect to it. It is categorical, so it only ranks first if one-hot columns are summed.
TIER_RATES = {"tier_a": 0.03, "tier_b": 0.15, "tier_c": 0.5, "tier_d": 0.85, "tier_e": 0.97}


@dataclass(frozen=True)
class Columns:
    numeric: list[str]
    categorical: list[str]
    features: list[str]
    signal: str


@pytest.fixture(scope="session")
def columns() -> Columns:
    """The column roles of ``credit_frame`` (tests get them here rather than importing conftest)."""
    return Columns(list(NUMERIC), list(CATEGORICAL), list(FEATURES), SIGNAL)


def make_pipeline(estimator: object) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("num", "passthrough", NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
        ]
    )
    return Pipeline([("prep", prep), ("model", estimator)])


@pytest.fixture(scope="session")
def build_pipeline() -> Callable[[object], Pipeline]:
    """The training room's pipeline shape around any estimator (unfitted)."""
    return make_pipeline


@pytest.fixture(scope="session")
def credit_frame() -> pd.DataFrame:
    frame = generate_credit_risk(3000, seed=11)
    rng = np.random.default_rng(3)
    tiers = rng.choice(list(TIER_RATES), size=len(frame))
    frame["risk_tier"] = tiers
    frame["label"] = (rng.random(len(frame)) < pd.Series(tiers).map(TIER_RATES).to_numpy()).astype(int)
    return frame


@pytest.fixture(scope="session")
def train_test(credit_frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return credit_frame.iloc[:2400].reset_index(drop=True), credit_frame.iloc[2400:].reset_index(drop=True)


def _fit(estimator: object, train: pd.DataFrame) -> Pipeline:
    return make_pipeline(estimator).fit(train[FEATURES], train["label"])


@pytest.fixture(scope="session")
def hgb_pipeline(train_test: tuple[pd.DataFrame, pd.DataFrame]) -> Pipeline:
    return _fit(HistGradientBoostingClassifier(max_iter=60, random_state=0), train_test[0])


@pytest.fixture(scope="session")
def rf_pipeline(train_test: tuple[pd.DataFrame, pd.DataFrame]) -> Pipeline:
    return _fit(RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0, n_jobs=1), train_test[0])


@pytest.fixture(scope="session")
def lr_pipeline(train_test: tuple[pd.DataFrame, pd.DataFrame]) -> Pipeline:
    return _fit(LogisticRegression(max_iter=2000), train_test[0])
