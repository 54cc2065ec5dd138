"""Train and evaluate: the two pipeline steps that are pure scikit-learn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.contracts import Evaluation
from mlops.errors import DatasetError
from mlops.hashing import fingerprint, frame_hash
from mlops.roles import Roles
from mlops.schema import ServingSchema
from training.config import EvaluationGate, ModelConfig
from training.datasets import binary_target
from training.modeling import HoldoutMethod, build_pipeline, classification_metrics, holdout_split, predict_proba

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry


@dataclass(frozen=True)
class TrainResult:
    rows_train: int
    rows_holdout: int
    schema: ServingSchema
    schema_hash: str
    training_fingerprint: str
    train_metrics: dict[str, float]
    holdout_method: HoldoutMethod
    # How the holdout was chosen, in words (model card, lineage).
    holdout: str


def target_of(frame: pd.DataFrame, roles: Roles) -> np.ndarray:
    """The frame's target as 0/1 (1 = the dataset's positive label)."""
    return binary_target(frame[roles.target], roles.positive_label, roles.target)


def require_both_labels(y: np.ndarray, roles: Roles, part: str, hint: str) -> None:
    """Refuse a part of the data holding one label only (DatasetError naming the part and label).

    A model fitted on one class predicts it everywhere and metrics on one class are undefined:
    such a run would fail the evaluation gate as a NaN metric and still register a version.
    """
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        only = roles.positive_label if counts[1] else roles.negative_label
        other = roles.negative_label if counts[1] else roles.positive_label
        raise DatasetError(
            f"dataset {roles.name!r}: the {part} has only one label of target {roles.target!r}: {only!r} "
            f"({int(counts.max())} rows, none with {other!r}); {hint}"
        )


def train(training_set: pd.DataFrame, roles: Roles, config: ModelConfig) -> tuple[Any, pd.DataFrame, TrainResult]:
    """Fit the configured model on all but the holdout share; return model, holdout, facts.

    The serving schema is decided here, from the training set: a feature with gaps in it is
    nullable (the model handles them), one without is required. Both target labels must be in
    the training set, the part fitted and the holdout, else the step stops naming the part.
    """
    import time

    y_all = target_of(training_set, roles)
    # The file had both labels (checked at ingest); here the quality gate's quarantine is behind.
    require_both_labels(
        y_all,
        roles,
        "training set (the rows that passed the quality gate)",
        "the other label's rows were all quarantined or lost in the feature store: see the validate_data report",
    )
    train_df, holdout, method = holdout_split(
        training_set,
        test_size=config.test_size,
        timestamp_column=roles.timestamp if roles.has_event_time else None,
        seed=config.random_seed,
        y=y_all,
    )
    share = f"{config.test_size:.0%}"
    split = f"latest {share} by event time" if method == "time" else f"random {share}"
    advice = "the labels are too unevenly spread over time or too rare; more data or another model.test_size"
    require_both_labels(target_of(holdout, roles), roles, f"holdout ({split})", advice)
    require_both_labels(target_of(train_df, roles), roles, f"training part (all but the {split} holdout)", advice)
    y = target_of(train_df, roles)
    schema = ServingSchema.from_frame(
        training_set,
        features=roles.features,
        categorical=roles.categorical,
        sensitive_bins=roles.sensitive_bins,
        pii=roles.pii,
    )
    model = build_pipeline(config, schema)
    started = time.perf_counter()
    model.fit(train_df[schema.columns], y)
    fit_s = time.perf_counter() - started
    train_metrics = classification_metrics(y, predict_proba(model, train_df[schema.columns]))
    described = (
        f"latest {share} by event time ({roles.timestamp})"
        if method == "time"
        else f"seeded stratified random {share} (seed {config.random_seed}; the data has no event time)"
    )
    # Generated columns (ingestion time, row numbers) are not data: identical data gives the
    # same fingerprint on every run, so the registry bumps PATCH, not MINOR.
    data = training_set.drop(columns=[c for c in roles.generated if c in training_set.columns])
    result = TrainResult(
        rows_train=len(train_df),
        rows_holdout=len(holdout),
        schema=schema,
        schema_hash=schema.schema_hash(),
        training_fingerprint=fingerprint({"data": frame_hash(data), "model": config.model_dump()}),
        train_metrics={**train_metrics, "fit_seconds": fit_s},
        holdout_method=method,
        holdout=described,
    )
    return model, holdout, result


def evaluate(
    model: Any,
    holdout: pd.DataFrame,
    roles: Roles,
    gate: EvaluationGate,
    *,
    registry: ModelRegistry | None,
    schema_hash: str,
) -> Evaluation:
    """Holdout metrics, compared with the current champion on the same holdout rows."""
    columns = roles.features
    y = target_of(holdout, roles)
    metrics = classification_metrics(y, predict_proba(model, holdout[columns]))
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
            champion_metrics = classification_metrics(y, predict_proba(champ_model, holdout[columns]))
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
    return Evaluation(
        metrics=metrics,
        champion=champion_name,
        champion_metrics=champion_metrics,
        passed=not reasons,
        reasons=reasons,
    )
