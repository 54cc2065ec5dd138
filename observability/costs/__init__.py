"""Cost tracking: measured step usage priced by ``config/cost_optimization.yaml``.

config       CostOptimizationConfig (the file's schema), load_cost_config
pricing      run_cost / run_costs: each step's usage (recorded by ``record_step``) priced
budget       budget_status: month-to-date spend against the environment's monthly budget
rightsizing  step_hints: requests much larger than the measured use
serving      serving_cost: cost per 1,000 predictions from a scrape of ``/metrics``
report       cost_report, write_cost_gauges: what ``mlops cost report`` shows and publishes
"""

from observability.costs.budget import BudgetStatus, budget_status
from observability.costs.config import CostOptimizationConfig, load_cost_config
from observability.costs.pricing import RunCost, StepCost, pod_hourly_usd, run_cost, run_costs
from observability.costs.report import CostReport, cost_report, write_cost_gauges
from observability.costs.rightsizing import RightSizingHint, step_hints
from observability.costs.serving import (
    ServingCost,
    ServingDeployment,
    parse_serving_metrics,
    read_metrics,
    serving_cost,
    serving_deployment,
    serving_hints,
)

__all__ = [
    "BudgetStatus",
    "CostOptimizationConfig",
    "CostReport",
    "RightSizingHint",
    "RunCost",
    "ServingCost",
    "ServingDeployment",
    "StepCost",
    "budget_status",
    "cost_report",
    "load_cost_config",
    "parse_serving_metrics",
    "pod_hourly_usd",
    "read_metrics",
    "run_cost",
    "run_costs",
    "serving_cost",
    "serving_deployment",
    "serving_hints",
    "step_hints",
    "write_cost_gauges",
]
