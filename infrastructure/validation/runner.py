"""Offline validation of everything under ``infrastructure/`` (``make validate-infra``).

The runner: runs the checks of :data:`~infrastructure.validation.checks.CHECKS` concurrently,
prints a summary, writes ``<out>/report.json`` and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.validation.checks import CHECKS
from infrastructure.validation.context import Check, Context
from infrastructure.validation.core import CheckResult, Layout
from mlops.errors import MissingToolError


@dataclass
class Report:
    """The results of one run, in CHECKS order."""

    results: list[CheckResult]
    wall_time: float
    root: Path

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def by_name(self) -> dict[str, CheckResult]:
        return {r.name: r for r in self.results}

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "wall_time_s": round(self.wall_time, 3),
            "root": str(self.root),
            "checks": {r.name: r.as_json() for r in self.results},
        }


def _timed(name: str, check: Check, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    try:
        result = check(ctx)
    except MissingToolError as exc:
        result = CheckResult(name, failures=[str(exc)])
    except Exception as exc:  # one check crashing must not hide the others' results
        lines = traceback.format_exc().strip().splitlines()[-4:]
        result = CheckResult(name, failures=[f"internal error: {type(exc).__name__}: {exc}", *lines])
    result.name = name
    result.duration = time.perf_counter() - start
    return result


def run(layout: Layout, names: Sequence[str], kube_version: str | None = None) -> Report:
    """Run the named checks concurrently (they mostly wait on subprocesses) and collect results."""
    start = time.perf_counter()
    layout.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(layout, kube_version)
    # checkov is by far the slowest: submitted first so its processes start at once.
    ordered = sorted(names, key=lambda n: n != "checkov")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ordered)) as pool:
        futures = {name: pool.submit(_timed, name, CHECKS[name], ctx) for name in ordered}
        results = {name: future.result() for name, future in futures.items()}
    report = Report([results[n] for n in CHECKS if n in results], time.perf_counter() - start, layout.root)
    (layout.out / "report.json").write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    return report


CHECKOV_MEASURES = ("passed", "failed", "skipped", "parsing_errors", "resource_count")


def _counts_text(name: str, counts: dict[str, int]) -> str:
    """Counts for the summary table; checkov's per-target counts are folded into one entry each."""
    if name != "checkov":
        return ", ".join(f"{key}={value}" for key, value in counts.items())
    targets: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        measure = next((m for m in CHECKOV_MEASURES if key.endswith(f"_{m}")), "")
        targets.setdefault(key.removesuffix(f"_{measure}"), {})[measure] = value
    folded = [f"{t} {c.get('passed', 0)}/{c.get('failed', 0)}/{c.get('skipped', 0)}" for t, c in targets.items()]
    return ", ".join(folded) + " (passed/failed/skipped)"


def print_report(report: Report, report_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Logs (CI, make) are not terminals: do not squeeze them to 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title="make validate-infra", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("counts")
    for r in report.results:
        status = Text("PASS", style="green") if r.ok else Text(f"FAIL ({len(r.failures)})", style="bold red")
        table.add_row(r.name, status, f"{r.duration:.1f}s", Text(_counts_text(r.name, r.counts)))
    console.print(table)
    # Failures last: a CI log is often read from its tail.
    for r in report.results:
        if r.notes:
            console.print(Text(f"\n{r.name}:", style="dim"))
            for line in r.notes:
                console.print(Text(f"  {line}", style="dim"), soft_wrap=True)
    for r in report.results:
        if r.failures:
            console.print(Text(f"\n{r.name}: {len(r.failures)} failure(s)", style="bold red"))
            for line in r.failures:
                console.print(Text(f"  {line}"), soft_wrap=True)
    verdict = Text("PASSED" if report.ok else "FAILED", style="bold green" if report.ok else "bold red")
    console.print(
        Text("\n").append(verdict).append(f" in {report.wall_time:.1f}s; report: {report_path}"), soft_wrap=True
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infrastructure.validation", description=__doc__.split("\n\n", 1)[0] if __doc__ else None
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=list(CHECKS),
        metavar="CHECK",
        help=f"run only these checks: {', '.join(CHECKS)}",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <root>/build/infra)")
    parser.add_argument("--kube-version", help="Kubernetes version to validate against (default: newest known)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks the arguments name (all by default): 0 when every one passed, else 1."""
    args = parse_args(argv)
    root = args.root.resolve()
    out = (args.out if args.out is not None else root / "build" / "infra").resolve()
    layout = Layout(root, out)
    names = list(dict.fromkeys(args.only or CHECKS))
    report = run(layout, names, args.kube_version)
    print_report(report, layout.out / "report.json")
    return 0 if report.ok else 1
