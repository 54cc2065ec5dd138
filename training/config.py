"""The training room's sections of the platform config: ``model`` and ``evaluation``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops.config import StrictModel

ModelFamily = Literal["hist_gradient_boosting", "gradient_boosting", "random_forest", "logistic_regression"]


class ModelConfig(StrictModel):
    family: ModelFamily = "hist_gradient_boosting"
    params: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    random_seed: int = 42


class EvaluationGate(StrictModel):
    metric: Literal["roc_auc", "accuracy", "f1", "average_precision"] = "roc_auc"
    min_value: float = Field(default=0.6, ge=0, le=1)
    # The candidate may be at most this much worse than the current champion.
    max_regression: float = Field(default=0.01, ge=0, le=1)


__all__ = ["EvaluationGate", "ModelConfig", "ModelFamily"]
