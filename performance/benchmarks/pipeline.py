"""Benchmark the training pipeline as a user runs it: `mlops run training` on the bundled sample.

    python -m performance.benchmarks.pipeline --out bench-results/pipeline.json [--rows 50000]

Runs in a fresh temporary project folder (config copied, empty state: no registry, no Feast
store), so the figure includes first-use costs such as creating the MLflow database. Reports
the CLI wall time, the pipeline wall time and each step's duration as recorded by the step.
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

from performance.benchmarks.report import write_report
from performance.benchmarks.workload import sample_project


def run_once(rows: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        work = Path(tmp)
        ds_file = sample_project(work, rows)
        # Generate the sample first: the figure is the pipeline, not the data generator.
        from mlops.config import load_dataset_config
        from training.datasets import ensure_synthetic

        ensure_synthetic(load_dataset_config(ds_file))
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "mlops_cli", "run", "training"], cwd=work, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"pipeline failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        run_dir = sorted((work / ".mlops" / "runs").iterdir())[-1]
        meta = json.loads((run_dir / "run.json").read_text())
        steps = {}
        for path in (run_dir / "steps").glob("*.json"):
            rec = json.loads(path.read_text())
            steps[rec["name"]] = round(rec["ended"] - rec["started"], 2)
        return {"cli_wall_s": round(wall, 2), "pipeline_wall_s": round(meta["duration_s"], 2), "steps_s": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {
        "benchmark": "training_pipeline_local",
        "rows": args.rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0]},
        **run_once(args.rows),
    }
    write_report(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
