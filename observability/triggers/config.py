"""``config/retraining_triggers.yaml``: the schema this room owns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlops.config import StrictModel


class RetrainingTriggersConfig(StrictModel):
    """``config/retraining_triggers.yaml``: when a new training run starts by itself."""

    class Drift(StrictModel):
        share_of_drifted_columns: float = Field(gt=0, le=1)
        window_days: int = Field(default=7, ge=1)

    class Performance(StrictModel):
        metric: Literal["roc_auc", "accuracy", "f1", "average_precision"] = "roc_auc"
        min_value: float = Field(ge=0, le=1)

    schedule: str | None = Field(default=None, description="cron expression")
    drift: Drift | None = None
    performance: Performance | None = None
    min_hours_between_runs: int = Field(default=24, ge=0)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and len(v.split()) != 5:
            raise ValueError("a five-field cron expression such as '0 3 * * 1'")
        return v


__all__ = ["RetrainingTriggersConfig"]
