"""``mlops monitor triggers`` with real local runs: while a person's run of the dataset goes on, a
fired trigger starts nothing (de-duplication against the real runner process); once it has
ended, the trigger starts one run whose reason reaches the run meta, ``mlops runs show`` and the
registered version's lineage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.byod import credit_file
from tests.e2e.project import new_project, run, write_yaml

pytestmark = pytest.mark.e2e


def _first_running_step(runs: Path, deadline: float) -> Path:
    while time.time() < deadline:
        for run_dir in sorted(runs.glob("*")) if runs.exists() else []:
            for record in (run_dir / "steps").glob("*.json"):
                try:
                    if json.loads(record.read_text())["status"] == "running":
                        return run_dir
                except (ValueError, OSError):
                    continue  # being written
        time.sleep(0.2)
    raise AssertionError("no step of a training run started")


def test_a_fired_trigger_waits_for_the_running_run_then_starts_one_with_its_reason(
    tmp_path: Path,
) -> None:
    project = new_project(tmp_path / "project")
    credit_file(2500).to_csv(project / "credit.csv", index=False)
    write_yaml(
        project / "config" / "datasets" / "credit.yaml",
        {"name": "credit", "path": "../../credit.csv", "target": "Risk", "positive_label": "bad"},
    )
    write_yaml(
        project / "config" / "retraining_triggers.yaml",
        {
            "schedule": "0 3 * * *",
            # No cool-down: only the de-duplication stands between a second evaluation and a second run.
            "min_hours_between_runs": 0,
            "models": [{"model": "credit", "dataset": "datasets/credit.yaml"}],
        },
    )
    # The triggers first looked at the model two days ago: a daily 03:00 has come due since.
    state = project / ".mlops" / "triggers"
    state.mkdir(parents=True)
    looked = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    (state / "credit.json").write_text(json.dumps({"model": "credit", "first_evaluated": looked, "last_launch": None}))

    base = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    # A person's run of the same dataset is going: the fired trigger must not start a second.
    manual = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "run", "training", "--dataset", "config/datasets/credit.yaml"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**base, "COLUMNS": "250"},
    )
    try:
        manual_dir = _first_running_step(project / ".mlops" / "runs", time.time() + 300)
        skipped = run(project, "monitor", "triggers", "--no-wait")
        assert skipped.returncode == 0, skipped.stdout + skipped.stderr
        assert (
            f"skipped: de-duplication: a training run of dataset credit is still running ({manual_dir.name})"
            in skipped.stdout
        ), skipped.stdout
        assert [p.name for p in (project / ".mlops" / "runs").iterdir()] == [manual_dir.name]
        runner = json.loads((manual_dir / "run.json").read_text())["runner"]
        os.kill(int(runner["pid"]), signal.SIGTERM)
        manual.communicate(timeout=300)
    finally:
        if manual.poll() is None:
            manual.kill()

    triggered = run(project, "monitor", "triggers")
    assert triggered.returncode in (0, 3), triggered.stdout[-4000:] + triggered.stderr  # 3: a gate blocked promotion
    assert "launched: started training run" in triggered.stdout
    [run_dir] = [p for p in (project / ".mlops" / "runs").iterdir() if p.name != manual_dir.name]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["reason"].startswith("retraining trigger schedule: schedule '0 3 * * *' came due at ")
    assert meta["exit_code"] == 0  # the pipeline ran to its end (a blocked gate is a result)
    shown = run(project, "runs", "show", run_dir.name)
    assert f"started by: {meta['reason']}" in shown.stdout

    from model_registry.registry import ModelRegistry

    registry = ModelRegistry.local(project / ".mlops" / "registry")
    [version] = registry.versions("credit")
    assert registry.lineage(version)["reason"] == meta["reason"]

    history = [json.loads(line) for line in (state / "credit.history.jsonl").read_text().splitlines()]
    assert [h["action"] for h in history] == ["skipped", "launched"]
    assert history[1]["launched"]["run_id"] == run_dir.name
    assert json.loads((state / "credit.json").read_text())["last_launch"]["reason"] == meta["reason"]
