"""Train and evaluate: the two pipeline steps that are pure scikit-learn."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.config import EvaluationGate, ModelConfig
from mlops.datasets import Roles, frame_hash
from mlops.modeling import (
    FeatureSchema,
    build_pipeline,
    check_binary_target,
    classification_metrics,
    holdout_split,
    predict_proba,
)
from mlops.registry import ModelRegistry
from mlops.versioning import fingerprint


@dataclass(frozen=True)
class TrainResult:
    rows_train: int
    rows_holdout: int
    schema: dict[str, str]
    schema_hash: str
    training_fingerprint: str
    train_metrics: dict[str, float]


def train(training_set: pd.DataFrame, roles: Roles, config: ModelConfig) -> tuple[Any, pd.DataFrame, TrainResult]:
    """Fit the configured model on all but the latest holdout share; return model, holdout, facts."""
    import time

    train_df, holdout = holdout_split(
        training_set, test_size=config.test_size, timestamp_column=roles.timestamp, seed=config.random_seed
    )
    y = check_binary_target(train_df[roles.target], roles.target)
    schema = FeatureSchema.from_roles(roles.features, roles.categorical)
    model = build_pipeline(config, schema)
    started = time.perf_counter()
    model.fit(train_df[schema.columns], y)
    fit_s = time.perf_counter() - started
    train_metrics = classification_metrics(y, predict_proba(model, train_df[schema.columns]))
    schema_dict = schema.to_dict()
    result = TrainResult(
        rows_train=len(train_df),
        rows_holdout=len(holdout),
        schema=schema_dict,
        schema_hash=fingerprint(schema_dict),
        # Same data + same model config => the same model: the registry then bumps PATCH only.
        training_fingerprint=fingerprint({"data": frame_hash(training_set), "model": config.model_dump()}),
        train_metrics={**train_metrics, "fit_seconds": fit_s},
    )
    return model, holdout, result


@dataclass(frozen=True)
class EvaluationResult:
    metrics: dict[str, float]
    champion: str | None
    champion_metrics: dict[str, float] = field(default_factory=dict)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def evaluate(
    model: Any,
    holdout: pd.DataFrame,
    roles: Roles,
    gate: EvaluationGate,
    *,
    registry: ModelRegistry | None,
    schema_hash: str,
) -> EvaluationResult:
    """Holdout metrics, compared with the current champion on the same holdout rows."""
    schema = FeatureSchema.from_roles(roles.features, roles.categorical)
    y = check_binary_target(holdout[roles.target], roles.target)
    metrics = classification_metrics(y, predict_proba(model, holdout[schema.columns]))
    reasons: list[str] = []
    value = metrics[gate.metric]
    if math.isnan(value) or value < gate.min_value:
        reasons.append(f"{gate.metric} {value:.4f} below the minimum {gate.min_value}")

    champion_name: str | None = None
    champion_metrics: dict[str, float] = {}
    champion = registry.by_alias(roles.name, "champion") if registry else None
    if champion is not None and registry is not None:
        champion_name = champion.semver
        if champion.tags.get("schema_hash") == schema_hash:
            champ_model = registry.load_model(champion)
            champion_metrics = classification_metrics(y, predict_proba(champ_model, holdout[schema.columns]))
            floor = champion_metrics[gate.metric] - gate.max_regression
            if value < floor:
                reasons.append(
                    f"{gate.metric} {value:.4f} worse than champion {champion.semver} "
                    f"({champion_metrics[gate.metric]:.4f}) by more than {gate.max_regression}"
                )
        else:
            # Different inputs: the champion cannot score these rows; compare its recorded metric.
            recorded = champion.metrics.get(gate.metric)
            if recorded is not None:
                champion_metrics = {gate.metric: recorded}
                if value < recorded - gate.max_regression:
                    reasons.append(
                        f"{gate.metric} {value:.4f} worse than champion {champion.semver}'s recorded {recorded:.4f}"
                    )
    return EvaluationResult(
        metrics=metrics,
        champion=champion_name,
        champion_metrics=champion_metrics,
        passed=not reasons,
        reasons=reasons,
    )


def save_model(model: Any, path: Path) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)


def load_model(path: Path) -> Any:
    import joblib

    return joblib.load(path)
