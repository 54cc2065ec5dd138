"""Benchmark retraining triggers: from a drift-firing evaluation starting to the training run started.

    python -m performance.benchmarks.triggers --out bench-results/triggers.json [--rows 5000] [--repeats 3]

Set-up (not timed), in a fresh temporary project (config copied, its own state): the bundled
synthetic sample (``--rows``) is trained with ``mlops run training``, version 1.0.0 is made the
champion, and ``--logged`` predictions with every numeric feature moved by one standard
deviation go into the prediction log. The triggers file has the drift trigger only.

Each repetition runs ``mlops monitor triggers --no-wait`` as a cron job does (a fresh process:
Evidently's import is paid every time) and reports

- ``evaluation_to_first_step_s``: from the evaluation starting (its time, recorded in the
  model's trigger history) to the started run's first step record saying ``running`` (the
  step's own start time) — the figure asked for;
- its parts, from the same records: the champion's lookup (MLflow's import), the drift trigger
  (Evidently's import and its comparison on their own), ``start_local`` (run folder, runner
  spawned) and the runner's way to its first step;
- ``command_to_first_step_s``: from spawning the command to seeing that record (interpreter
  start-up, the CLI's imports and the config included).

Between repetitions the started run is stopped and the trigger state removed, so the next
evaluation is not held back by the cool-down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from performance.benchmarks.report import write_report
from performance.benchmarks.workload import sample_project

MODEL = "credit_risk"
POLL_S = 0.02


def _cli(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=work, capture_output=True, text=True, env=env, timeout=1800
    )
    if check and proc.returncode not in (0, 3):
        raise SystemExit(f"mlops {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def set_up(work: Path, rows: int, logged: int) -> None:
    """The project: a trained champion, its reference, a drifted prediction log, a drift-only triggers file."""
    ds = yaml.safe_load(sample_project(work, rows).read_text())
    (work / "config" / "retraining_triggers.yaml").write_text(
        yaml.safe_dump(
            {
                "drift": {"share_of_drifted_columns": 0.3, "window_days": 1},
                "min_hours_between_runs": 24,
                "models": [{"model": MODEL, "dataset": "datasets/credit_risk.yaml"}],
            }
        )
    )
    _cli(work, "run", "training")
    _cli(work, "models", "promote", MODEL, "1.0.0", "--to", "champion", "--force")

    import numpy as np
    import pandas as pd

    from model_registry.registry import ModelRegistry
    from observability.prediction_log import PredictionLogger

    schema = ModelRegistry.local(work / ".mlops" / "registry").get(MODEL, "champion").schema
    assert schema is not None
    data = pd.read_parquet(ds["path"]).sample(n=min(logged, rows), random_state=0).reset_index(drop=True)
    features = data[schema.columns].copy()
    for column in schema.numeric:
        features[column] = features[column] + features[column].std()
    logger = PredictionLogger(work / ".mlops" / "predictions", entity_column="entity_id")
    logger.record(
        features,
        np.random.default_rng(0).random(len(features)),
        model=MODEL,
        version="1.0.0",
        request_ids=[f"bench-{i}" for i in range(len(features))],
        entity_ids=data[ds["entity_id"]].astype(str).tolist(),
    )
    if not logger.close():
        raise SystemExit("the prediction log could not be written")


def _first_step_running(runs: Path, known: set[str], deadline: float) -> tuple[Path, float]:
    """The new run folder and the moment one of its step records first says running."""
    while time.time() < deadline:
        for run_dir in runs.glob("*"):
            if run_dir.name in known:
                continue
            for record in (run_dir / "steps").glob("*.json"):
                try:
                    if json.loads(record.read_text())["status"] == "running":
                        return run_dir, time.perf_counter()
                except (ValueError, OSError, KeyError):
                    continue  # being replaced right now
        time.sleep(POLL_S)
    raise SystemExit("no step of the started run began within the deadline")


def _stop(run_dir: Path) -> None:
    """Stop the started run (its runner records the interruption) and forget the trigger state."""
    runner = json.loads((run_dir / "run.json").read_text()).get("runner", {})
    if "pid" in runner:
        with contextlib.suppress(ProcessLookupError):  # already ended
            os.kill(int(runner["pid"]), signal.SIGTERM)
        deadline = time.time() + 120
        while (
            time.time() < deadline
            and json.loads((run_dir / "run.json").read_text())["runner"].get("status", "running") == "running"
        ):
            time.sleep(0.2)
    shutil.rmtree(run_dir.parent.parent / "triggers", ignore_errors=True)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def measure(work: Path) -> dict[str, Any]:
    """One repetition: the command spawned, its run's first step running, the records' figures."""
    runs = work / ".mlops" / "runs"
    known = {p.name for p in runs.glob("*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    spawned = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "monitor", "triggers", "--no-wait"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "COLUMNS": "200"},
    )
    run_dir, seen = _first_step_running(runs, known, time.time() + 300)
    output, _ = proc.communicate(timeout=300)
    if proc.returncode != 0 or "launched:" not in output:
        raise SystemExit(f"the command launched nothing ({proc.returncode}):\n{output}")
    history = work / ".mlops" / "triggers" / f"{MODEL}.history.jsonl"
    decision = json.loads(history.read_text().splitlines()[-1])
    meta = json.loads((run_dir / "run.json").read_text())
    first_step = min(json.loads(p.read_text())["started"] for p in (run_dir / "steps").glob("*.json"))
    [drift] = decision["results"]
    spent = decision["timings_s"]
    evidently = drift["details"]["timings_s"]
    result = {
        "evaluation_to_first_step_s": round(first_step - _epoch(decision["evaluated_at"]), 3),
        "champion_lookup_s": spent["champion"],
        "drift_trigger_s": spent["drift"],
        "evidently_import_s": round(evidently["evidently_import_s"], 3),
        "drift_compute_s": round(evidently["compute_s"], 3),
        "start_local_s": spent["launch"],
        "runner_to_first_step_s": round(first_step - float(meta["started"]), 3),
        "command_to_first_step_s": round(seen - spawned, 3),
        "drift_share": drift["figure"],
        "rows_compared": drift["details"]["rows"],
        "reason": meta["reason"],
    }
    _stop(run_dir)
    return result


def _summary(values: list[dict[str, Any]]) -> dict[str, Any]:
    numbers = [k for k, v in values[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {k: round(statistics.median(float(v[k]) for v in values), 3) for k in numbers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=5_000, help="rows of the synthetic training sample")
    parser.add_argument("--logged", type=int, default=2_000, help="drifted predictions in the log")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlops-bench-triggers-") as tmp:
        work = Path(tmp)
        set_up_started = time.perf_counter()
        set_up(work, args.rows, args.logged)
        set_up_s = time.perf_counter() - set_up_started
        measured = [measure(work) for _ in range(args.repeats)]
    result = {
        "benchmark": "retraining_trigger_drift_to_run_started",
        "rows_trained": args.rows,
        "predictions_logged": args.logged,
        "repeats": args.repeats,
        "set_up_s": round(set_up_s, 1),
        "median": _summary(measured),
        "runs": measured,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": os.getloadavg()[0],
        },
    }
    write_report(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
