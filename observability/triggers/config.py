"""``config/retraining_triggers.yaml``: the schema this room owns.

The top-level trigger keys are the defaults of every model; ``models`` lists the models the
triggers watch, each with the dataset config its retraining runs train on, and may change any
trigger for that model: a key left out keeps the top-level value, ``null`` turns the trigger
off for that model::

    schedule: "0 3 * * 1"
    drift: {share_of_drifted_columns: 0.3, window_days: 7}
    min_hours_between_runs: 24
    models:
      - model: credit_risk
        dataset: datasets/credit_risk.yaml     # relative to this file
        schedule: null                         # no weekly run for this one

Without ``models`` the triggers watch the platform's default dataset (the model is named after
its dataset, as the register step names it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlops.config import StrictModel, load_model

# Metrics the performance trigger computes (scikit-learn) from labelled predictions; each is
# "higher is better", so the trigger fires below ``min_value``.
PerformanceMetric = Literal["roc_auc", "average_precision", "accuracy", "f1", "precision", "recall"]
SchemaChangeKind = Literal["missing", "new", "retyped"]
SCHEMA_CHANGE_KINDS: tuple[SchemaChangeKind, ...] = ("missing", "new", "retyped")
TriggerName = Literal["schedule", "drift", "performance", "new_data", "schema_change", "erasure"]
TRIGGER_NAMES: tuple[TriggerName, ...] = ("schedule", "drift", "performance", "new_data", "schema_change", "erasure")


def _check_cron(value: str | None) -> str | None:
    if value is None:
        return value
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("a five-field cron expression such as '0 3 * * 1' (minute hour day month weekday)")
    return value


class DriftTrigger(StrictModel):
    """Fires when at least this share of the champion's features drift (Evidently) in the window."""

    share_of_drifted_columns: float = Field(gt=0, le=1)
    window_days: int = Field(default=7, ge=1)


class PerformanceTrigger(StrictModel):
    """Fires when the metric on the window's labelled predictions falls below ``min_value``."""

    metric: PerformanceMetric = "roc_auc"
    min_value: float = Field(ge=0, le=1)
    window_days: int = Field(default=30, ge=1)
    # Fewer labelled predictions than this decide nothing (the metric would be mostly noise).
    min_labelled_rows: int = Field(default=200, ge=1)


class NewDataTrigger(StrictModel):
    """Fires when the dataset file holds enough rows the champion was not trained on.

    Either bound (or both: whichever is reached first) — a number of rows, or a fraction of the
    rows the champion's run read.
    """

    min_new_rows: int | None = Field(default=None, ge=1)
    min_new_fraction: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> NewDataTrigger:
        if self.min_new_rows is None and self.min_new_fraction is None:
            raise ValueError("min_new_rows, min_new_fraction or both")
        return self


class SchemaChangeTrigger(StrictModel):
    """Fires when the dataset's features differ from the champion's serving schema."""

    # Which differences count: features gone from the file, features the file now adds, and
    # features whose type (number / string) changed.
    changes: list[SchemaChangeKind] = Field(default_factory=lambda: list(SCHEMA_CHANGE_KINDS), min_length=1)

    @field_validator("changes")
    @classmethod
    def _distinct(cls, v: list[SchemaChangeKind]) -> list[SchemaChangeKind]:
        if len(set(v)) != len(v):
            raise ValueError("each kind of change once")
        return v


class ErasureTrigger(StrictModel):
    """Fires when the champion was trained on an erased subject's rows (``mlops privacy erase``
    tagged it ``erasure_pending``): a version trained without them should replace it."""


class ModelTriggers(StrictModel):
    """One watched model; a trigger key left out keeps the file's top-level value, ``null`` is off."""

    model: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,62}$")
    # Its dataset config (relative to the triggers file); None: the platform's default dataset.
    dataset: Path | None = None
    schedule: str | None = None
    drift: DriftTrigger | None = None
    performance: PerformanceTrigger | None = None
    new_data: NewDataTrigger | None = None
    schema_change: SchemaChangeTrigger | None = None
    erasure: ErasureTrigger | None = None
    min_hours_between_runs: float | None = Field(default=None, ge=0)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)


class TriggerSettings(StrictModel):
    """The triggers of one model with the defaults applied: what the evaluation reads."""

    model: str
    dataset: Path | None
    schedule: str | None
    drift: DriftTrigger | None
    performance: PerformanceTrigger | None
    new_data: NewDataTrigger | None
    schema_change: SchemaChangeTrigger | None
    erasure: ErasureTrigger | None = None
    min_hours_between_runs: float

    @property
    def enabled(self) -> list[TriggerName]:
        return [name for name in TRIGGER_NAMES if getattr(self, name) is not None]


class RetrainingTriggersConfig(StrictModel):
    """``config/retraining_triggers.yaml``: when a new training run starts by itself."""

    schedule: str | None = Field(default=None, description="cron expression")
    drift: DriftTrigger | None = None
    performance: PerformanceTrigger | None = None
    new_data: NewDataTrigger | None = None
    schema_change: SchemaChangeTrigger | None = None
    erasure: ErasureTrigger | None = None
    min_hours_between_runs: float = Field(default=24, ge=0)
    models: list[ModelTriggers] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, v: list[ModelTriggers]) -> list[ModelTriggers]:
        names = [m.model for m in v]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"each model once (repeated: {', '.join(repeated)})")
        return v

    def settings(self, entry: ModelTriggers) -> TriggerSettings:
        """``entry``'s triggers: its own keys where it sets them (``null`` included), else the defaults."""
        own = entry.model_fields_set
        values = {key: getattr(entry if key in own else self, key) for key in TRIGGER_NAMES}
        # No cool-down is 0, not null: null keeps the file's value.
        hours = entry.min_hours_between_runs
        return TriggerSettings(
            model=entry.model,
            dataset=entry.dataset,
            min_hours_between_runs=self.min_hours_between_runs if hours is None else hours,
            **values,
        )

    def watched(self, default_model: str | None = None) -> list[TriggerSettings]:
        """Every model's settings; without ``models``, ``default_model`` (on the default dataset)."""
        entries = self.models or ([ModelTriggers(model=default_model)] if default_model else [])
        return [self.settings(entry) for entry in entries]

    def resolved(self, base_dir: Path) -> RetrainingTriggersConfig:
        """Copy with each model's ``dataset`` made absolute against ``base_dir`` (the file's folder)."""
        models = [
            m if m.dataset is None else m.model_copy(update={"dataset": (base_dir / m.dataset).resolve()})
            for m in self.models
        ]
        return self.model_copy(update={"models": models})


def load_triggers_config(path: Path) -> RetrainingTriggersConfig:
    """The triggers file, validated (errors name file and key), dataset paths resolved against its folder."""
    return load_model(path, RetrainingTriggersConfig).resolved(path.parent)


__all__ = [
    "TRIGGER_NAMES",
    "DriftTrigger",
    "ErasureTrigger",
    "ModelTriggers",
    "NewDataTrigger",
    "PerformanceMetric",
    "PerformanceTrigger",
    "RetrainingTriggersConfig",
    "SchemaChangeKind",
    "SchemaChangeTrigger",
    "TriggerName",
    "TriggerSettings",
    "load_triggers_config",
]
