"""Cost tracking: measured step usage priced by ``config/cost_optimization.yaml``."""

from observability.costs.config import CostOptimizationConfig

__all__ = ["CostOptimizationConfig"]
