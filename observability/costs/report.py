"""The cost report of one environment: its runs, the month against the budget, right-sizing
hints, and the budget gauges written for Prometheus.

Month-to-date spend counts the pipeline runs recorded in the state folder; serving is priced
separately (``observability.costs.serving``), from a scrape of its metrics.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge
from pydantic import BaseModel

from observability.costs.budget import BudgetStatus, budget_status
from observability.costs.config import CostOptimizationConfig
from observability.costs.pricing import RunCost, run_costs
from observability.costs.rightsizing import RightSizingHint, step_hints
from observability.metrics import write_textfile


class CostReport(BaseModel):
    environment: str
    generated: datetime
    since: datetime
    # The runs that started since ``since``, newest first.
    runs: list[RunCost]
    budget: BudgetStatus
    hints: list[RightSizingHint]

    @property
    def total_usd(self) -> float:
        return sum(r.cost_usd for r in self.runs)


def cost_report(
    state_dir: Path,
    config: CostOptimizationConfig,
    environment: str,
    *,
    since: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> CostReport:
    """Price every run of ``environment`` under ``state_dir``; the budget counts this month's,
    the hints look at each step's last runs whatever ``since`` says."""
    now = now or datetime.now(UTC)
    runs = run_costs(state_dir, config, environment)
    start = now - since
    return CostReport(
        environment=environment,
        generated=now,
        since=start,
        runs=[r for r in runs if r.started is not None and r.started >= start],
        budget=budget_status(runs, config, environment, now=now),
        hints=step_hints(runs, config),
    )


def write_cost_gauges(budget: BudgetStatus, state_dir: Path) -> Path:
    """Write ``mlops_cost_month_to_date_usd`` and ``mlops_cost_budget_usd`` for the environment
    to ``<state>/metrics/cost-<env>.prom`` (one file per environment, so each keeps its own)."""
    registry = CollectorRegistry()
    spent = Gauge(
        "mlops_cost_month_to_date_usd", "Measured spend this month (pipeline runs)", ["environment"], registry=registry
    )
    limit = Gauge("mlops_cost_budget_usd", "The monthly budget", ["environment"], registry=registry)
    spent.labels(budget.environment).set(budget.month_to_date_usd)
    limit.labels(budget.environment).set(budget.budget_usd)
    return write_textfile(registry, state_dir, f"cost-{budget.environment}")


__all__ = ["CostReport", "cost_report", "write_cost_gauges"]
