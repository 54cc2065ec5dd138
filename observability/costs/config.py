"""``config/cost_optimization.yaml``: the schema this room owns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops.config import StrictModel


class CostOptimizationConfig(StrictModel):
    """``config/cost_optimization.yaml``: tags on every resource, budgets, idle policies."""

    class Budget(StrictModel):
        monthly_usd: float = Field(gt=0)
        alert_at_fraction: float = Field(default=0.8, gt=0, le=1)

    class Compute(StrictModel):
        training_spot_instances: bool = True
        scale_to_zero_after_minutes: int = Field(default=30, ge=0)

    cost_center: str
    owner: str
    tags: dict[str, str] = Field(default_factory=dict)
    budgets: dict[Literal["dev", "staging", "prod"], Budget]
    compute: Compute = Compute()


__all__ = ["CostOptimizationConfig"]
