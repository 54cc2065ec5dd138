"""How a training run is shown: each step as it starts and ends, then the run's summary (steps,
figures, reports, reason, cost, the registered version). Used by ``mlops run training``,
``mlops runs show`` and the runs ``mlops monitor triggers`` starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.state import StepRecord

console = Console(highlight=False, soft_wrap=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _figures(rec: StepRecord, limit: int = 6) -> str:
    shown = [f"{k}={_fmt(v)}" for k, v in rec.figures.items() if k != "traceback"]
    more = f" (+{len(shown) - limit})" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


STATUS_STYLE = {
    "succeeded": "[green]✓ succeeded[/]",
    "blocked": "[yellow]■ blocked[/]",
    "failed": "[red]✗ failed[/]",
    "running": "[cyan]… running[/]",
    "skipped": "[dim]- skipped[/]",
}


def _summary_table(steps: list[str], records: dict[str, StepRecord]) -> Table:
    table = Table(title="Run summary", title_justify="left")
    for col in ("step", "status", "duration", "key figures"):
        table.add_column(col, overflow="fold")
    for name in steps:
        rec = records.get(name)
        if rec is None:
            table.add_row(name, STATUS_STYLE["skipped"], "", "")
            continue
        dur = f"{rec.duration_s:.1f} s" if rec.duration_s is not None else ""
        detail = _figures(rec) + (f"\n[yellow]{rec.message}[/]" if rec.message else "")
        detail += "".join(f"\n[dim]· {escape(note)}[/]" for note in rec.notes)
        table.add_row(name, STATUS_STYLE.get(rec.status, rec.status), dur, detail)
    return table


def print_progress(rec: StepRecord) -> None:
    if rec.status == "running":
        console.print(f"  [cyan]→[/] {rec.name} …")
    else:
        console.print(f"  {STATUS_STYLE.get(rec.status, rec.status)}  {rec.name}  ({rec.duration_s or 0:.1f} s)")


def print_report(run_dir: Path, steps: list[str], records: dict[str, StepRecord], meta: dict[str, Any]) -> None:
    console.print(_summary_table(steps, records))
    reports = [(f"{n}:{k}", p) for n in steps if n in records for k, p in records[n].reports.items()]
    for label, path in reports:
        console.print(f"  report {label}: {path}", soft_wrap=True)
    console.print(f"  run folder: {run_dir}", soft_wrap=True)
    if meta.get("reason", "manual") != "manual":
        console.print(f"  started by: {meta['reason']}", soft_wrap=True)
    if "duration_s" in meta:
        console.print(f"  pipeline wall time: {meta['duration_s']:.1f} s")
    if "cost" in meta:
        cost = meta["cost"]
        console.print(
            f"  cost at {meta.get('environment', '?')} prices: ${cost['cost_usd']:.4f} "
            f"({cost['cpu_seconds']:.0f} CPU-s, peak {cost['peak_memory_mib']:.0f} MiB)"
        )
    reg = records.get("register")
    if reg and reg.status == "succeeded":
        promoted = records.get("promote")
        if promoted is None:
            alias = "no alias (a gate failed)"
        else:
            alias = "challenger" if promoted.status == "succeeded" else "no alias (promote did not finish)"
        console.print(f"  registered [bold]{reg.figures.get('model')} {reg.figures.get('version')}[/] → {alias}")
    blocked = [r for r in records.values() if r.status == "blocked"]
    for rec in blocked:
        console.print(f"  [yellow]gate blocked at {rec.name}:[/] {rec.message}")


__all__ = ["STATUS_STYLE", "print_progress", "print_report"]
