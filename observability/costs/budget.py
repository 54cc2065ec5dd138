"""Month-to-date spend against an environment's monthly budget."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel

from mlops.errors import ConfigError
from observability.costs.config import CONFIG_FILE, CostOptimizationConfig
from observability.costs.pricing import RunCost


class BudgetStatus(BaseModel):
    """How much of the month's budget the measured runs have used."""

    environment: str
    month: str  # YYYY-MM (UTC)
    month_to_date_usd: float
    budget_usd: float
    fraction: float
    alert_at_fraction: float
    # fraction >= alert_at_fraction: the budget alert fires.
    over_threshold: bool
    over_budget: bool
    runs_counted: int


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first day of ``now``'s month (budgets are calendar months, as AWS Budgets)."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def budget_status(
    runs: Iterable[RunCost], config: CostOptimizationConfig, environment: str, *, now: datetime | None = None
) -> BudgetStatus:
    """Sum the runs that started this calendar month (UTC) and compare with the monthly budget."""
    budget = next((b for env, b in config.budgets.items() if env == environment), None)
    if budget is None:
        raise ConfigError(CONFIG_FILE, f"budgets.{environment}", "a monthly budget for this environment")
    now = now or datetime.now(UTC)
    start = month_start(now)
    counted = [r for r in runs if r.started is not None and start <= r.started <= now]
    spent = sum(r.cost_usd for r in counted)
    fraction = spent / budget.monthly_usd
    return BudgetStatus(
        environment=environment,
        month=start.strftime("%Y-%m"),
        month_to_date_usd=spent,
        budget_usd=budget.monthly_usd,
        fraction=fraction,
        alert_at_fraction=budget.alert_at_fraction,
        over_threshold=fraction >= budget.alert_at_fraction,
        over_budget=fraction >= 1.0,
        runs_counted=len(counted),
    )


__all__ = ["BudgetStatus", "budget_status", "month_start"]
