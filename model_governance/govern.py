"""Governance of a fitted model: assess it, then write its card.

:func:`assess` runs the fairness gate on the holdout predictions and computes global SHAP
importance; :func:`build_card` turns an assessment into the rendered model card (the pipeline
does this after registration, so the card carries the version and its lineage); :func:`govern`
does both in one call and :func:`write_outputs` writes the files. A card's ``passed`` is True
only when every gate on it passed: the ones the caller recorded (e.g. data quality,
evaluation) and ``fairness``, which the assessment decides. :func:`write_outputs` writes a
card's files.
"""

from __future__ import annotations

import base64
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

from model_governance.cards import (
    FAIRNESS_GATE,
    ChampionComparison,
    ModelCard,
    ModelDetails,
    TimeRange,
    TrainingData,
    render_html,
    render_markdown,
)
from model_governance.cards.model import ParamValue
from model_governance.config import FairnessGate
from model_governance.explainability import global_importance, importance_plot_png
from model_governance.fairness import FairnessReport, assess_fairness

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


@dataclass(frozen=True)
class Assessment:
    """What governance measures on a fitted model: the fairness gate and global importance.

    Computed once (the ``govern`` step) and rendered into the card later, once the registry
    has given the version a number and a lineage (the ``model_card`` step).
    """

    fairness: FairnessReport
    importance: pd.Series
    importance_png: bytes
    estimator: str
    family: str
    params: dict[str, ParamValue]

    def to_json(self) -> str:
        return json.dumps(
            {
                "fairness": self.fairness.to_dict(),
                "importance": {str(k): float(v) for k, v in self.importance.items()},
                "importance_attrs": dict(self.importance.attrs),
                "importance_png": base64.b64encode(self.importance_png).decode("ascii"),
                "estimator": self.estimator,
                "family": self.family,
                "params": self.params,
            },
            allow_nan=False,
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> Assessment:
        data = json.loads(text)
        importance = pd.Series(data["importance"], dtype="float64")
        importance.attrs.update(data.get("importance_attrs", {}))
        return cls(
            fairness=FairnessReport.from_dict(data["fairness"]),
            importance=importance,
            importance_png=base64.b64decode(data["importance_png"]),
            estimator=data["estimator"],
            family=data["family"],
            params=dict(data["params"]),
        )


def assess(
    pipeline: Any,
    X_holdout: pd.DataFrame,
    y_holdout: pd.Series | np.ndarray,
    sensitive_holdout: pd.DataFrame,
    *,
    gate: FairnessGate,
    model_family: str | None = None,
    model_params: Mapping[str, ParamValue] | None = None,
    max_rows: int = 2000,
    seed: int = 0,
) -> Assessment:
    """The fairness gate on the holdout predictions and global SHAP importance.

    ``sensitive_holdout`` holds the sensitive attributes (group labels) row-aligned with
    ``X_holdout``; with no column at all (no attribute declared) fairness is not assessed and
    its gate passes with an empty report. Fairness uses ``pipeline.predict`` (its 0.5
    threshold), as serving does.
    """
    no_attributes = sensitive_holdout.shape[1] == 0
    if len(X_holdout) != len(y_holdout) or (not no_attributes and len(sensitive_holdout) != len(X_holdout)):
        raise ValueError(
            f"X_holdout ({len(X_holdout)}), y_holdout ({len(y_holdout)}) and sensitive_holdout "
            f"({len(sensitive_holdout)}) must have the same number of rows"
        )
    predictions = np.asarray(pipeline.predict(X_holdout))
    if no_attributes:
        fairness = FairnessReport.without_attributes(gate)
    else:
        fairness = assess_fairness(y_holdout, predictions, sensitive_holdout, gate)
    importance = global_importance(pipeline, X_holdout, max_rows=max_rows, seed=seed)
    estimator = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    return Assessment(
        fairness=fairness,
        importance=importance,
        importance_png=importance_plot_png(importance),
        estimator=type(estimator).__name__,
        family=model_family or family_of(estimator),
        params=dict(model_params) if model_params is not None else plain_params(estimator),
    )


def build_card(
    assessment: Assessment,
    *,
    model_name: str,
    training_data: TrainingData,
    metrics: Mapping[str, float],
    version: str | None = None,
    champion: ChampionComparison | None = None,
    gates: Mapping[str, bool] | None = None,
    lineage: Mapping[str, str] | None = None,
    intended_use: str | None = None,
    limitations: Sequence[str] | None = None,
    ethical_considerations: Sequence[str] | None = None,
    created_at: datetime | None = None,
) -> GovernanceResult:
    """The model card of an assessed model, rendered to Markdown and HTML.

    ``gates`` are outcomes decided upstream; ``fairness`` comes from the assessment (passing
    a gate of that name is an error). ``None`` for a text field keeps the card's default
    (which says the text was not provided).
    """
    recorded = dict(gates or {})
    if FAIRNESS_GATE in recorded:
        raise ValueError(f"the {FAIRNESS_GATE!r} gate is decided by the assessment; do not pass it in gates")
    recorded[FAIRNESS_GATE] = assessment.fairness.passed
    optional: dict[str, Any] = {}
    if intended_use is not None:
        optional["intended_use"] = intended_use
    if limitations is not None:
        optional["limitations"] = list(limitations)
    if ethical_considerations is not None:
        optional["ethical_considerations"] = list(ethical_considerations)
    if created_at is not None:
        optional["created_at"] = created_at
    importance = assessment.importance
    card = ModelCard(
        model_name=model_name,
        version=version,
        model=ModelDetails(family=assessment.family, estimator=assessment.estimator, params=assessment.params),
        training_data=training_data,
        metrics=dict(metrics),
        champion=champion,
        fairness=assessment.fairness.to_dict(),
        feature_importance={str(k): float(v) for k, v in importance.items()},
        importance_method=_importance_method(importance),
        gates=recorded,
        lineage=dict(lineage or {}),
        **optional,
    )
    return GovernanceResult(
        card=card,
        card_markdown=render_markdown(card),
        card_html=render_html(card, assessment.importance_png),
        fairness=assessment.fairness,
        importance=importance,
        importance_png=assessment.importance_png,
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
    description: str = "",
    positive_label: str | int | float | bool | None = None,
    holdout: str | None = None,
    left_out: Mapping[str, str] | None = None,
    nullable_features: Sequence[str] = (),
) -> TrainingData:
    """Summarise a training frame for the card; the hash defaults to :func:`frame_hash`.

    The positive rate is the share of target values equal to 1, so the target must already be
    encoded 0/1 (or bool); ``positive_label`` is the original label that 1 stands for, shown on
    the card. The other keywords are passed through to :class:`TrainingData`.
    """
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in the frame")
    labels = frame[target].dropna()
    # A raw label ("yes"/"no") would silently give a positive rate of 0; encoding is the caller's.
    unexpected = set(pd.unique(labels).tolist()) - {0, 1}
    if unexpected:
        shown = sorted(map(str, unexpected))[:5]
        raise ValueError(f"target column {target!r} must be encoded 0/1 (1 = positive label); got {shown}")
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
        description=description,
        positive_label=None if positive_label is None else str(positive_label),
        holdout=holdout,
        left_out={str(k): str(v) for k, v in (left_out or {}).items()},
        nullable_features=[str(f) for f in nullable_features],
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
    "Assessment",
    "GovernanceResult",
    "assess",
    "build_card",
    "family_of",
    "frame_hash",
    "holdout_metrics",
    "plain_params",
    "training_data_summary",
    "write_outputs",
]
