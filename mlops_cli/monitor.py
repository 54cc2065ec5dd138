"""``mlops monitor …`` and ``mlops cost …``: what the observability room measures, as commands."""

from __future__ import annotations

import typer

from mlops_cli.cost import report_command, serving_command
from mlops_cli.monitor_drift import drift
from mlops_cli.monitor_labels import labels_command
from mlops_cli.monitor_status import freshness_command, status_command
from mlops_cli.monitor_triggers import triggers_command

monitor_app = typer.Typer(help="Watch served models: prediction log, drift, freshness, triggers.", no_args_is_help=True)
cost_app = typer.Typer(help="What runs and serving cost, against the budgets.", no_args_is_help=True)

monitor_app.command("drift")(drift)
monitor_app.command("labels")(labels_command)
monitor_app.command("status")(status_command)
monitor_app.command("freshness")(freshness_command)
monitor_app.command("triggers")(triggers_command)
cost_app.command("report")(report_command)
cost_app.command("serving")(serving_command)

__all__ = ["cost_app", "monitor_app"]
