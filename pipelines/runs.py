"""Local training runs as the CLI starts and follows them.

:func:`start_local` creates the run folder, writes its meta (the run's configuration included)
and starts the local runner (``python -m pipelines.local``) in a child process, so the caller
stays responsive; :func:`follow` reports each step as it starts and ends, read from the
records the steps write into the run folder; :func:`finish` records how the run ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.config import DatasetConfig
from mlops.state import StateLayout, StepRecord, new_run_id, read_run_meta, read_steps, write_run_meta
from observability.costs import CostOptimizationConfig
from platform_config import PlatformConfig

POLL_S = 0.3


@dataclass
class LocalRun:
    run_id: str
    run_dir: Path
    log_path: Path
    started: float
    process: subprocess.Popen[bytes]


def start_local(
    platform: PlatformConfig,
    dataset: DatasetConfig,
    *,
    dataset_file: Path,
    environment: str,
    run_id: str | None = None,
    reason: str = "manual",
) -> LocalRun:
    """Create the run folder and start the training pipeline on kfp.local in a child process.

    ``reason``: why the run started (a person, or the retraining trigger that fired).
    """
    layout = StateLayout(platform.state_dir)
    run_id = run_id or new_run_id()
    run_dir = layout.run_dir(run_id).resolve()
    run_dir.mkdir(parents=True)
    started = time.time()
    write_run_meta(
        run_dir,
        {
            "run_id": run_id,
            "pipeline": "training",
            "dataset": dataset.name,
            "dataset_config_file": str(dataset_file),
            "environment": environment,
            "reason": reason,
            "started": started,
            "dataset_config": json.loads(dataset.model_dump_json()),
            "platform_config": json.loads(platform.model_dump_json()),
        },
    )
    log_path = run_dir / "pipeline.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.local",
                "--run-dir",
                str(run_dir),
                "--pipeline-root",
                str(layout.pipeline_root.resolve()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return LocalRun(run_id, run_dir, log_path, started, process)


def follow(run: LocalRun, steps: list[str], on_change: Callable[[StepRecord], None]) -> dict[str, StepRecord]:
    """Call ``on_change`` each time a step starts or ends, until the runner exits; returns the records."""
    seen: dict[str, str] = {}
    while True:
        done = run.process.poll() is not None
        records = read_steps(run.run_dir)
        for name in sorted(records, key=lambda n: steps.index(n) if n in steps else len(steps)):
            rec = records[name]
            if seen.get(name) != rec.status:
                seen[name] = rec.status
                on_change(rec)
        if done:
            return records
        time.sleep(POLL_S)


def finish(run: LocalRun, costs: CostOptimizationConfig | None = None) -> dict[str, Any]:
    """Record the end of the run (duration, exit code and, with ``costs``, what it cost at the
    environment's prices) in its meta; the version it registered gets the cost as tags."""
    meta = read_run_meta(run.run_dir)
    now = time.time()
    meta.update(finished=now, duration_s=now - run.started, exit_code=run.process.returncode)
    if costs is not None:
        from observability.costs import run_cost

        meta["cost"] = run_cost(run.run_dir, costs, meta["environment"]).figures()
    write_run_meta(run.run_dir, meta)
    if costs is not None:
        _tag_registered_version(run.run_dir, meta)
    return meta


def _tag_registered_version(run_dir: Path, meta: dict[str, Any]) -> None:
    """The run's cost on the version it registered: lineage a person reads with the model."""
    reg = read_steps(run_dir).get("register")
    if reg is None or reg.status != "succeeded":
        return
    registry = PlatformConfig.model_validate(meta["platform_config"]).open_registry()
    tags = {f"cost.{k}": f"{v:g}" for k, v in meta["cost"].items()}
    registry.set_tags(str(reg.figures["model"]), str(reg.figures["version"]), tags)


__all__ = ["LocalRun", "finish", "follow", "start_local"]
