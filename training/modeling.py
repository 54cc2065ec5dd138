"""Model building, the holdout split and metrics (scikit-learn, imported lazily).

Every model is a ``Pipeline([("prep", ColumnTransformer), ("model", estimator)])`` so the
one object carries its preprocessing into the registry, serving and governance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

from mlops.errors import DatasetError
from training.config import ModelConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Maps the config's family literal to the estimator class path (one place, one dict).
FAMILIES: dict[str, str] = {
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
    "gradient_boosting": "sklearn.ensemble.GradientBoostingClassifier",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
}
# Families whose estimator takes NaN inputs as they are; the others get an imputer for
# numeric features (median, plus a missing-indicator column per feature that had gaps).
NATIVE_MISSING: frozenset[str] = frozenset({"hist_gradient_boosting", "random_forest"})


class ModelInputs(Protocol):
    """What :func:`build_pipeline` reads from a schema (FeatureSchema or the ServingSchema)."""

    @property
    def numeric(self) -> Sequence[str]: ...

    @property
    def categorical(self) -> Sequence[str]: ...

    @property
    def nullable(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class FeatureSchema:
    """The model's input columns and their kinds: what serving must accept."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    nullable: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, str]:
        out = {c: "number" for c in self.numeric}
        out.update({c: "string" for c in self.categorical})
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> FeatureSchema:
        return cls(
            numeric=tuple(c for c, k in data.items() if k == "number"),
            categorical=tuple(c for c, k in data.items() if k == "string"),
        )

    @classmethod
    def from_roles(cls, features: list[str], categorical: list[str]) -> FeatureSchema:
        cats = set(categorical)
        return cls(numeric=tuple(c for c in features if c not in cats), categorical=tuple(categorical))


def build_pipeline(config: ModelConfig, schema: ModelInputs) -> Pipeline:
    """The model for ``schema``: one-hot categoricals (a missing value is a category of its
    own), numbers as they are for trees, scaled for linear models, imputed (median, plus an
    indicator for features that had gaps) where the family cannot take NaN."""
    import importlib

    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    module, _, cls_name = FAMILIES[config.family].rpartition(".")
    estimator_cls = getattr(importlib.import_module(module), cls_name)
    params: dict[str, Any] = dict(config.params)
    if "random_state" in estimator_cls().get_params():
        params.setdefault("random_state", config.random_seed)
    if config.family == "logistic_regression":
        params.setdefault("max_iter", 1000)
    # Linear models need scaled numbers; trees do not care, so they get them untouched.
    numeric_steps: list[tuple[str, Any]] = []
    # Always for these families: a batch file may hold gaps a clean training set never had.
    if config.family not in NATIVE_MISSING:
        numeric_steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True)))
    if config.family == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    numeric_step: Any = Pipeline(numeric_steps) if numeric_steps else "passthrough"
    prep = ColumnTransformer(
        [
            ("num", numeric_step, list(schema.numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(schema.categorical)),
        ]
    )
    return Pipeline([("prep", prep), ("model", estimator_cls(**params))])


HoldoutMethod = Literal["time", "stratified_random"]


def holdout_split(
    df: pd.DataFrame, *, test_size: float, timestamp_column: str | None, seed: int, y: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, HoldoutMethod]:
    """The holdout, and how it was chosen.

    With an event time: the latest ``test_size`` share (as the model will be used: on the
    future). Without one: a seeded random share, stratified by ``y`` when every class has at
    least two rows, so a file sorted by date or by target still gives a representative holdout.
    """
    if len(df) < 10:
        raise DatasetError(f"too few rows to train and evaluate: {len(df)}")
    if timestamp_column:
        ordered = df.sort_values(timestamp_column, kind="stable")
        cut = round(len(ordered) * (1 - test_size))
        return ordered.iloc[:cut], ordered.iloc[cut:], "time"
    from sklearn.model_selection import train_test_split

    stratify = y if y is not None and len(y) == len(df) and np.bincount(y).min() >= 2 else None
    train, holdout = train_test_split(df, test_size=test_size, random_state=seed, shuffle=True, stratify=stratify)
    return train, holdout, "stratified_random"


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, log_loss, roc_auc_score

    pred = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) > 1
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)) if both_classes else float("nan"),
        "average_precision": float(average_precision_score(y_true, proba)) if both_classes else float("nan"),
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "log_loss": float(log_loss(y_true, np.clip(proba, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positive_rate": float(pred.mean()),
    }


def predict_proba(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict_proba(X)[:, 1])
