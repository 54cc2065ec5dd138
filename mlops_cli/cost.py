"""``mlops cost report`` and ``mlops cost serving``: measured usage priced by the cost config.

The observability room does the pricing (``observability.costs``); these commands find the
state folder and the charts, print a table or JSON, and publish the budget gauges.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from observability.costs import CostReport, ServingCost

console = Console(highlight=False, soft_wrap=True)

ConfigDir = Annotated[
    Path,
    typer.Option(
        "--config-dir", envvar="MLOPS_CONFIG_DIR", help="Folder holding platform.yaml and cost_optimization.yaml."
    ),
]
EnvOpt = Annotated[
    str, typer.Option("--env", envvar="MLOPS_ENV", help="dev, staging or prod: whose prices and budget.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` or ``45s`` as a timedelta (typer.BadParameter otherwise)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30d, 12h, 2w, 90m or 45s")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def _print_report(report: CostReport, gauges: Path) -> None:
    from rich.table import Table

    table = Table(title=f"Runs since {report.since:%Y-%m-%d} at {report.environment} prices", title_justify="left")
    for col in ("run", "pipeline", "started (UTC)", "steps", "wall", "CPU-s", "peak mem", "requested", "used", "cost"):
        table.add_column(col, justify="right" if col not in ("run", "pipeline", "started (UTC)") else "left")
    for run in report.runs:
        measured = [s for s in run.steps if s.measured]
        table.add_row(
            run.run_id,
            run.pipeline,
            f"{run.started:%Y-%m-%d %H:%M}" if run.started else "?",
            str(len(run.steps)) + (f" (+{len(run.unfinished)} unfinished)" if run.unfinished else ""),
            f"{sum(s.wall_seconds for s in run.steps):,.1f} s",
            f"{sum(s.cpu_seconds or 0.0 for s in measured):,.1f}" if measured else "-",
            _mib(max((s.peak_memory_bytes or 0 for s in measured), default=None)),
            _money(run.requested_usd),
            _money(run.used_usd) if measured else "-",
            _money(run.cost_usd),
        )
    console.print(table if report.runs else f"no runs since {report.since:%Y-%m-%d}")
    if report.runs:
        console.print(f"total of these runs: {_money(report.total_usd)}")
    b = report.budget
    style = "red" if b.over_threshold else "green"
    verdict = "over budget" if b.over_budget else ("over the alert threshold" if b.over_threshold else "within budget")
    console.print(
        f"month {b.month} to date ({b.runs_counted} runs): {_money(b.month_to_date_usd)} of {_money(b.budget_usd)} "
        f"= [{style}]{b.fraction:.1%}[/] (alert at {b.alert_at_fraction:.0%}): [{style}]{verdict}[/]"
    )
    if report.hints:
        console.print("right-sizing:")
        for hint in report.hints:
            console.print(f"  [yellow]· {hint.message}[/]")
    unmeasured = sorted({f"{r.run_id}/{s}" for r in report.runs for s in r.unmeasured})
    if unmeasured:
        console.print(f"[dim]priced by request only (recorded before usage was measured): {', '.join(unmeasured)}[/]")
    console.print(f"[dim]gauges: {gauges}[/]")


def report_command(
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    since: Annotated[str, typer.Option("--since", help="List runs started within this long: 30d, 12h, 2w.")] = "30d",
    as_json: JsonOpt = False,
) -> None:
    """Each run's cost, the month to date against the budget, and right-sizing hints.

    Writes the gauges mlops_cost_month_to_date_usd and mlops_cost_budget_usd to
    <state>/metrics/cost-<env>.prom.
    """
    from observability.costs import cost_report, load_cost_config, write_cost_gauges
    from platform_config import load_platform_config

    window = parse_duration(since)
    state_dir = load_platform_config(config_dir, env).state_dir
    report = cost_report(state_dir, load_cost_config(config_dir), env, since=window)
    gauges = write_cost_gauges(report.budget, state_dir)
    if as_json:
        payload = report.model_dump(mode="json")
        payload.update(total_usd=report.total_usd, gauges_file=str(gauges))
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_report(report, gauges)


def _print_serving(cost: ServingCost, hints: list[str]) -> None:
    c = cost
    req = c.requests
    console.print(
        f"serving in {c.environment}: {c.replicas} pods x {req.cpu} CPU / {req.memory} on {c.instance_class} "
        f"at {_money(c.pod_hourly_usd)}/h per pod"
        + (f", shadow {c.shadow_replicas} pods x {_money(c.shadow_pod_hourly_usd)}/h" if c.shadow_replicas else "")
    )
    console.print(f"  deployment: {_money(c.deployment_hourly_usd)}/h, {_money(c.deployment_monthly_usd)}/month")
    variants = ", ".join(f"{k or '?'} {v:,.0f}" for k, v in sorted(c.predictions_by_variant.items()))
    console.print(
        f"  window {c.window_seconds / 3600:.2f} h: {c.served_predictions:,.0f} served predictions ({variants}); "
        f"{c.predictions_per_pod_hour:,.0f} per pod-hour"
    )
    console.print(f"  cost per 1,000 predictions: {_money(c.cost_per_1000_usd)} (requested)")
    if c.used_cost_per_1000_usd is not None:
        console.print(
            f"  used: {c.used_cpu_cores or 0:.3f} CPU, {_mib(c.used_memory_bytes)} per pod → "
            f"{_money(c.used_cost_per_1000_usd)} per 1,000"
        )
    for note in c.notes:
        console.print(f"  [dim]· {note}[/]")
    for hint in hints:
        console.print(f"  [yellow]right-sizing: {hint}[/]")


def serving_command(
    metrics: Annotated[
        str, typer.Option("--metrics", help="The serving process's /metrics URL, or a file saved from it.")
    ],
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    window: Annotated[
        str | None,
        typer.Option("--window", help="How long the counters have counted (the process's uptime), e.g. 6h."),
    ] = None,
    pods_in_scrape: Annotated[
        int, typer.Option("--pods-in-scrape", min=1, help="How many serving processes the metrics text sums over.")
    ] = 1,
    replicas: Annotated[
        int | None, typer.Option("--replicas", min=1, help="Replica count to price (default: from the chart values).")
    ] = None,
    helm_dir: Annotated[Path, typer.Option("--helm-dir", help="Folder holding the Helm charts.")] = Path(
        "infrastructure/helm"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Cost per 1,000 predictions from one scrape of the serving metrics and the chart's pod size."""
    from observability.costs import (
        load_cost_config,
        parse_serving_metrics,
        read_metrics,
        serving_cost,
        serving_deployment,
        serving_hints,
    )

    window_s = parse_duration(window).total_seconds() if window else None
    config = load_cost_config(config_dir)
    deployment = serving_deployment(helm_dir / "serving", env)
    text, scraped_at = read_metrics(metrics)
    sample = parse_serving_metrics(text, source=metrics)
    cost = serving_cost(
        sample,
        deployment,
        config,
        window_s=window_s,
        scraped_at=scraped_at,
        pods_in_scrape=pods_in_scrape,
        replicas=replicas,
    )
    hints = serving_hints(cost, config)
    if as_json:
        payload = cost.model_dump(mode="json")
        payload["hints"] = [h.model_dump(mode="json") for h in hints]
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_serving(cost, [h.message for h in hints])


__all__ = ["parse_duration", "report_command", "serving_command"]
