"""The governance step of the training pipeline in one call.

:func:`govern` takes the fitted pipeline and the holdout split, runs the fairness gate on the
holdout predictions, computes global SHAP importance, and builds and renders the model card;
:func:`write_outputs` writes the artifacts the pipeline component hands on. The result's
``passed`` is True only when every gate on the card passed: the ones the caller recorded
(e.g. data quality, evaluation) and ``fairness``, which this step adds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import FairnessGate
from model_governance.cards import (
    ChampionComparison,
    ModelCard,
    ModelDetails,
    TimeRange,
    TrainingData,
    render_html,
    render_markdown,
)
from model_governance.cards.model import ParamValue
from model_governance.explainability import global_importance, importance_plot_png
from model_governance.fairness import FairnessReport, assess_fairness

FAIRNESS_GATE = "fairness"
OUTPUT_FILES = ("model_card.md", "model_card.html", "fairness.json", "importance.json")

# Estimator class -> the platform's ModelConfig.family name.
FAMILIES = {
    "HistGradientBoostingClassifier": "hist_gradient_boosting",
    "GradientBoostingClassifier": "gradient_boosting",
    "RandomForestClassifier": "random_forest",
    "LogisticRegression": "logistic_regression",
}
_UNITS = {"log_odds": "log-odds", "probability": "probability", "decision_function": "decision score"}


@dataclass(frozen=True)
class GovernanceResult:
    card: ModelCard
    card_markdown: str
    card_html: str
    fairness: FairnessReport
    importance: pd.Series
    importance_png: bytes
    passed: bool


def govern(
    pipeline: Any,
    X_holdout: pd.DataFrame,
    y_holdout: pd.Series | np.ndarray,
    sensitive_holdout: pd.DataFrame,
    *,
    gate: FairnessGate,
    model_name: str,
    training_data: TrainingData,
    version: str | None = None,
    metrics: Mapping[str, float] | None = None,
    champion: ChampionComparison | None = None,
    gates: Mapping[str, bool] | None = None,
    lineage: Mapping[str, str] | None = None,
    intended_use: str | None = None,
    limitations: Sequence[str] | None = None,
    ethical_considerations: Sequence[str] | None = None,
    model_family: str | None = None,
    model_params: Mapping[str, ParamValue] | None = None,
    created_at: datetime | None = None,
    max_rows: int = 2000,
    seed: int = 0,
) -> GovernanceResult:
    """Fairness gate, SHAP importance and the rendered model card for a fitted pipeline.

    ``sensitive_holdout`` holds the sensitive attributes row-aligned with ``X_holdout`` (they
    need not be model inputs). ``metrics`` defaults to holdout ROC AUC, average precision,
    accuracy and F1 computed here. ``gates`` are outcomes decided upstream; ``fairness`` is
    added (passing a gate of that name is an error). ``None`` for a text field keeps the card's
    default. Fairness uses ``pipeline.predict`` (its 0.5 threshold), as serving does.
    """
    recorded = dict(gates or {})
    if FAIRNESS_GATE in recorded:
        raise ValueError(f"the {FAIRNESS_GATE!r} gate is decided by govern(); do not pass it in gates")
    if not len(X_holdout) == len(y_holdout) == len(sensitive_holdout):
        raise ValueError(
            f"X_holdout ({len(X_holdout)}), y_holdout ({len(y_holdout)}) and sensitive_holdout "
            f"({len(sensitive_holdout)}) must have the same number of rows"
        )

    predictions = np.asarray(pipeline.predict(X_holdout))
    fairness = assess_fairness(y_holdout, predictions, sensitive_holdout, gate)
    importance = global_importance(pipeline, X_holdout, max_rows=max_rows, seed=seed)
    png = importance_plot_png(importance)
    recorded[FAIRNESS_GATE] = fairness.passed

    estimator = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    optional: dict[str, Any] = {}
    if intended_use is not None:
        optional["intended_use"] = intended_use
    if limitations is not None:
        optional["limitations"] = list(limitations)
    if ethical_considerations is not None:
        optional["ethical_considerations"] = list(ethical_considerations)
    if created_at is not None:
        optional["created_at"] = created_at
    card = ModelCard(
        model_name=model_name,
        version=version,
        model=ModelDetails(
            family=model_family or family_of(estimator),
            estimator=type(estimator).__name__,
            params=dict(model_params) if model_params is not None else plain_params(estimator),
        ),
        training_data=training_data,
        metrics=dict(metrics) if metrics is not None else holdout_metrics(pipeline, X_holdout, y_holdout),
        champion=champion,
        fairness=fairness.to_dict(),
        feature_importance={str(k): float(v) for k, v in importance.items()},
        importance_method=_importance_method(importance),
        gates=recorded,
        lineage=dict(lineage or {}),
        **optional,
    )
    return GovernanceResult(
        card=card,
        card_markdown=render_markdown(card),
        card_html=render_html(card, png),
        fairness=fairness,
        importance=importance,
        importance_png=png,
        passed=card.passed,
    )


def write_outputs(result: GovernanceResult, out_dir: Path) -> dict[str, Path]:
    """Write model_card.md, model_card.html, fairness.json and importance.json; name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    importance = {
        **result.importance.attrs,
        "importance": {str(k): float(v) for k, v in result.importance.items()},
    }
    contents = {
        "model_card.md": result.card_markdown,
        "model_card.html": result.card_html,
        # allow_nan=False: a NaN would make the file unreadable by strict JSON parsers.
        "fairness.json": json.dumps(result.fairness.to_dict(), indent=2, allow_nan=False),
        "importance.json": json.dumps(importance, indent=2, allow_nan=False),
    }
    written: dict[str, Path] = {}
    for name in OUTPUT_FILES:
        path = out_dir / name
        text = contents[name]
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        written[name] = path
    return written


def training_data_summary(
    frame: pd.DataFrame,
    *,
    dataset_name: str,
    target: str,
    features: Sequence[str],
    timestamp_column: str | None = None,
    dataset_hash: str | None = None,
) -> TrainingData:
    """Summarise a training frame for the card; the hash defaults to :func:`frame_hash`."""
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in the frame")
    labels = frame[target].dropna()
    time_range = None
    if timestamp_column is not None and len(frame):
        stamps = pd.to_datetime(frame[timestamp_column], utc=True)
        time_range = TimeRange(start=stamps.min().to_pydatetime(), end=stamps.max().to_pydatetime())
    return TrainingData(
        dataset_name=dataset_name,
        rows=len(frame),
        dataset_hash=dataset_hash or frame_hash(frame),
        features=[str(f) for f in features],
        target=target,
        positive_rate=float((labels == 1).mean()) if len(labels) else None,
        time_range=time_range,
    )


def frame_hash(frame: pd.DataFrame) -> str:
    """``sha256:<hex>`` of the frame's column names and cell values (row order matters)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def holdout_metrics(pipeline: Any, X: pd.DataFrame, y: pd.Series | np.ndarray) -> dict[str, float]:
    """ROC AUC, average precision, accuracy and F1 of the positive class on ``(X, y)``."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    truth = np.asarray(y)
    scores = np.asarray(pipeline.predict_proba(X))[:, 1]
    predicted = np.asarray(pipeline.predict(X))
    metrics = {"accuracy": accuracy_score(truth, predicted), "f1": f1_score(truth, predicted)}
    if len(np.unique(truth)) == 2:  # ranking metrics are undefined with a single class
        metrics["roc_auc"] = roc_auc_score(truth, scores)
        metrics["average_precision"] = average_precision_score(truth, scores)
    return {name: float(value) for name, value in sorted(metrics.items())}


def family_of(estimator: Any) -> str:
    """The platform family name for ``estimator`` (snake_case class name when unknown)."""
    name = type(estimator).__name__
    return FAMILIES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def plain_params(estimator: Any) -> dict[str, ParamValue]:
    """The estimator's own parameters as card values (anything non-scalar as its repr)."""
    params: dict[str, ParamValue] = {}
    for key, value in sorted(estimator.get_params(deep=False).items()):
        if isinstance(value, np.generic):
            value = value.item()
        params[key] = value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)
    return params


def _importance_method(importance: pd.Series) -> str:
    attrs = importance.attrs
    unit = _UNITS.get(str(attrs.get("output")), str(attrs.get("output", "model output")))
    return (
        f"Mean |SHAP value| per input column ({attrs.get('explainer', 'shap')} explainer, in {unit}) "
        f"over {attrs.get('rows', '?')} holdout rows; one-hot columns are summed back to their "
        "source column before taking the absolute value."
    )


__all__ = [
    "FAIRNESS_GATE",
    "GovernanceResult",
    "family_of",
    "frame_hash",
    "govern",
    "holdout_metrics",
    "plain_params",
    "training_data_summary",
    "write_outputs",
]
