"""``mlops monitor …`` and ``mlops cost …``: what the observability room measures, as commands."""

from __future__ import annotations

import typer

monitor_app = typer.Typer(help="Watch served models: prediction log, drift, freshness, triggers.", no_args_is_help=True)
cost_app = typer.Typer(help="What runs and serving cost, against the budgets.", no_args_is_help=True)

__all__ = ["cost_app", "monitor_app"]
