"""Benchmark right-to-erasure: one subject out of every store of a trained dev project.

    python -m performance.benchmarks.erasure --rows 50000 --out bench-results/erasure.json

Sets up a project on ``--rows`` rows of the bundled sample (performance.benchmarks.workload),
runs the training pipeline (``mlops run training``: dataset copies, quarantine, Feast offline
and online, registry lineage), scores the whole dataset with ``mlops batch predict`` (batch
outputs and the prediction log) and takes a backup, then erases the newest applicant:

- ``cli_dry_run_s`` / ``cli_erase_s``: ``mlops privacy erase [--dry-run]`` as a user runs it
  (a whole process: imports of Feast and MLflow, opening the stores);
- ``dry_run_s`` / ``erase_s``: the erasure itself, across every store (the receipt's own clock),
  and ``rows_removed`` per store.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from performance.benchmarks.report import write_report
from performance.benchmarks.workload import sample_project


def _mlops(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=work, capture_output=True, text=True, timeout=7200,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def measure(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="erasure-bench-") as tmp:
        work = Path(tmp)
        dataset = sample_project(work, rows)
        settings = work / "config" / "environments" / "dev.yaml"
        values = yaml.safe_load(settings.read_text()) or {}
        values.setdefault("privacy", {})["batch_outputs"] = [str(work / "scores")]
        settings.write_text(yaml.safe_dump(values))
        started = time.perf_counter()
        _mlops(work, "run", "training", "--dataset", str(dataset))
        setup_s = time.perf_counter() - started
        data = pd.read_parquet(work / "data" / "sample.parquet", columns=["applicant_id", "application_ts"])
        source = str(work / "data" / "sample.parquet")
        _mlops(work, "batch", "predict", "--input", source, "--output", str(work / "scores"),
               "--model", "credit_risk", "--ref", "challenger", "--id-column", "applicant_id")  # fmt: skip
        _mlops(work, "backup", "create", "--env", "dev")
        subject = str(data.sort_values("application_ts")["applicant_id"].iloc[-1])  # online too

        started = time.perf_counter()
        dry = json.loads(_mlops(work, "privacy", "erase", "--subject", subject, "--dry-run", "--json").stdout)
        cli_dry_s = time.perf_counter() - started

        started = time.perf_counter()
        receipt = json.loads(_mlops(work, "privacy", "erase", "--subject", subject, "--json").stdout)
        cli_erase_s = time.perf_counter() - started
        return {
            "rows": rows,
            "setup_s": round(setup_s, 1),
            "cli_dry_run_s": round(cli_dry_s, 2),
            "dry_run_s": dry["duration_s"],
            "cli_erase_s": round(cli_erase_s, 2),
            "erase_s": receipt["duration_s"],
            "rows_removed": {name: r["rows"] for name, r in receipt["stores"].items() if r["rows"]},
            "files_rewritten": sum(r["files"] for r in receipt["stores"].values()),
            "model_versions": receipt["model_versions"],
            "tombstones_added": receipt["tombstones_added"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000])
    parser.add_argument("--out", type=Path, default=Path("bench-results/erasure.json"))
    args = parser.parse_args()
    out = args.out.resolve()
    report: dict[str, Any] = {
        "benchmark": "erasure",
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "runs": [measure(n) for n in args.rows],
    }
    write_report(out, report)
    print(f"wrote {out}")
    for run in report["runs"]:
        print(
            f"  {run['rows']:>9,} rows: erase {run['erase_s']} s (command {run['cli_erase_s']} s); "
            f"removed {sum(run['rows_removed'].values())} rows in {run['files_rewritten']} files"
        )


if __name__ == "__main__":
    main()
