"""Model building, the holdout split and metrics (scikit-learn, imported lazily).

Every model is a ``Pipeline([("prep", ColumnTransformer), ("model", estimator)])`` so the
one object carries its preprocessing into the registry, serving and governance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.config import ModelConfig
from mlops.errors import DatasetError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Maps the config's family literal to the estimator class path (one place, one dict).
FAMILIES: dict[str, str] = {
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
    "gradient_boosting": "sklearn.ensemble.GradientBoostingClassifier",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
}


@dataclass(frozen=True)
class FeatureSchema:
    """The model's input columns and their kinds: what serving must accept."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

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


def build_pipeline(config: ModelConfig, schema: FeatureSchema) -> Pipeline:
    import importlib

    from sklearn.compose import ColumnTransformer
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
    numeric_step = StandardScaler() if config.family == "logistic_regression" else "passthrough"
    prep = ColumnTransformer(
        [
            ("num", numeric_step, list(schema.numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(schema.categorical)),
        ]
    )
    return Pipeline([("prep", prep), ("model", estimator_cls(**params))])


def holdout_split(
    df: pd.DataFrame, *, test_size: float, timestamp_column: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Latest ``test_size`` share by event time as holdout (as it will be used: on the future).

    Without a timestamp the split is a seeded shuffle.
    """
    if len(df) < 10:
        raise DatasetError(f"too few rows to train and evaluate: {len(df)}")
    if timestamp_column:
        ordered = df.sort_values(timestamp_column, kind="stable")
    else:
        ordered = df.sample(frac=1.0, random_state=seed)
    cut = round(len(ordered) * (1 - test_size))
    return ordered.iloc[:cut], ordered.iloc[cut:]


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


def check_binary_target(y: pd.Series, column: str) -> np.ndarray:
    values = set(pd.unique(y.dropna()))
    if not values <= {0, 1} or y.isna().any():
        shown = sorted(map(str, values))[:5]
        raise DatasetError(f"target {column!r} must be binary 0/1 without nulls; found values {shown}")
    return y.astype(int).to_numpy()
