"""Acting on fired triggers: one run, its reason, the trigger state, and the guards (cool-down,
de-duplication, no storm), with a launcher that records what it was asked to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops.state import process_identity, write_run_meta
from observability.triggers import (
    Evaluation,
    Launched,
    LaunchRequest,
    TriggerResult,
    TriggerSettings,
    act_on_triggers,
    append_history,
    read_history,
    read_state,
    running_local_runs,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = DATASET = "credit_risk"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DRIFT = TriggerResult("drift", "fired", "drift share 0.42 ≥ 0.30 over the last 7 days (credit_risk 1.0.0)")
SCHEDULE = TriggerResult("schedule", "fired", "schedule '0 3 * * 1' came due at 2026-11-16 03:00 UTC")
QUIET = TriggerResult("new_data", "quiet", "12 new rows in credit_risk since credit_risk 1.0.0 was trained")


def settings(hours: float = 24) -> TriggerSettings:
    return TriggerSettings(
        model=MODEL,
        dataset=None,
        schedule="0 3 * * 1",
        drift=None,
        performance=None,
        new_data=None,
        schema_change=None,
        min_hours_between_runs=hours,
    )


def evaluation(*results: TriggerResult, at: datetime = NOW) -> Evaluation:
    return Evaluation(MODEL, at, list(results), champion="1.0.0")


@dataclass
class RecordingLauncher:
    """Starts nothing; a launch leaves a run folder as ``pipelines.runs.start_local`` does."""

    state_dir: Path
    target: str = "local"
    requests: list[LaunchRequest] = field(default_factory=list)

    def running(self, dataset: str) -> list[str]:
        return running_local_runs(self.state_dir, dataset)

    def launch(self, request: LaunchRequest) -> Launched:
        self.requests.append(request)
        run_id = f"run-{len(self.requests)}"
        write_run_meta(
            self.state_dir / "runs" / run_id,
            {"run_id": run_id, "pipeline": "training", "dataset": request.dataset, "started": time.time()},
        )
        return Launched(run_id=run_id, target=self.target)


def act(state_dir: Path, launcher: RecordingLauncher, result: Evaluation, **kw: Any) -> Any:
    kw.setdefault("settings", settings())
    return act_on_triggers(kw.pop("settings"), result, state_dir=state_dir, dataset=DATASET, launcher=launcher, **kw)


def finish_runs(state_dir: Path) -> None:
    """Mark every run folder as ended (the CLI writes exit_code when a run finishes)."""
    for run_dir in (state_dir / "runs").iterdir():
        meta = json.loads((run_dir / "run.json").read_text())
        write_run_meta(run_dir, {**meta, "exit_code": 0})


# --------------------------------------------------------------------------- launching
def test_several_fired_triggers_start_one_run_whose_reason_lists_them_all(tmp_path: Path) -> None:
    launcher = RecordingLauncher(tmp_path)
    decision = act(tmp_path, launcher, evaluation(DRIFT, QUIET, SCHEDULE), now=NOW, dataset_file=Path("ds.yaml"))
    assert decision.action == "launched"
    [request] = launcher.requests
    assert request.reason == f"retraining triggers drift, schedule: {DRIFT.reason}; {SCHEDULE.reason}"
    assert request.triggers == ["drift", "schedule"]
    assert request.dataset_file == Path("ds.yaml")
    state = read_state(tmp_path, MODEL)
    assert state.last_launch is not None
    assert state.last_launch["run_id"] == "run-1"
    assert state.last_launch["reason"] == request.reason
    assert state.last_launch_at == NOW
    [entry] = read_history(tmp_path, MODEL)
    assert entry["action"] == "launched"
    assert entry["launched"]["run_id"] == "run-1"
    assert entry["evaluated_at"] == NOW.isoformat()
    assert set(entry["timings_s"]) == {"launch"}
    assert [r["trigger"] for r in entry["results"]] == ["drift", "new_data", "schedule"]


def test_nothing_fired_starts_nothing_and_remembers_when_it_first_looked(tmp_path: Path) -> None:
    launcher = RecordingLauncher(tmp_path)
    decision = act(tmp_path, launcher, evaluation(QUIET), now=NOW)
    later = act(tmp_path, launcher, evaluation(QUIET), now=NOW + timedelta(days=3))
    assert (decision.action, later.action) == ("nothing_fired", "nothing_fired")
    assert launcher.requests == []
    state = read_state(tmp_path, MODEL)
    assert state.first_evaluated == NOW.timestamp()
    assert state.last_launch is None
    assert [e["action"] for e in read_history(tmp_path, MODEL)] == ["nothing_fired", "nothing_fired"]


def test_the_history_keeps_its_newest_decisions(tmp_path: Path) -> None:
    for n in range(7):
        append_history(tmp_path, MODEL, {"n": n}, keep=3)
    assert [e["n"] for e in read_history(tmp_path, MODEL)] == [4, 5, 6]


def test_dry_run_starts_nothing_and_leaves_no_launch(tmp_path: Path) -> None:
    launcher = RecordingLauncher(tmp_path)
    decision = act(tmp_path, launcher, evaluation(DRIFT), now=NOW, dry_run=True)
    assert decision.action == "dry_run"
    assert decision.reason.startswith("retraining trigger drift: drift share 0.42")
    assert launcher.requests == []
    assert read_state(tmp_path, MODEL).last_launch is None
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- guards
def test_cool_down_skips_until_min_hours_have_passed(tmp_path: Path) -> None:
    launcher = RecordingLauncher(tmp_path)
    act(tmp_path, launcher, evaluation(DRIFT), now=NOW)
    finish_runs(tmp_path)  # only the cool-down stands in the way
    again = act(tmp_path, launcher, evaluation(DRIFT), now=NOW + timedelta(hours=5))
    assert again.action == "skipped"
    assert again.why == (
        "cool-down: the last trigger-started run of credit_risk (run-1) started 5.0 h ago; min_hours_between_runs is 24"
    )
    assert len(launcher.requests) == 1
    after = act(tmp_path, launcher, evaluation(DRIFT), now=NOW + timedelta(hours=24))
    assert after.action == "launched"
    assert len(launcher.requests) == 2
    assert [e["action"] for e in read_history(tmp_path, MODEL)] == ["launched", "skipped", "launched"]
    assert read_history(tmp_path, MODEL)[1]["why"].startswith("cool-down")


def test_a_running_run_of_the_dataset_is_never_joined_by_a_second(tmp_path: Path) -> None:
    # A manual `mlops run training` of the same dataset whose runner (this process) still runs.
    write_run_meta(
        tmp_path / "runs" / "20261120-110000-abcd",
        {
            "pipeline": "training",
            "dataset": DATASET,
            "started": time.time() - 3600,
            "runner": {"status": "running", **process_identity()},
        },
    )
    launcher = RecordingLauncher(tmp_path)
    decision = act(tmp_path, launcher, evaluation(DRIFT), settings=settings(hours=0), now=NOW)
    assert decision.action == "skipped"
    assert decision.why == (
        "de-duplication: a training run of dataset credit_risk is still running (20261120-110000-abcd)"
    )
    assert launcher.requests == []
    assert read_history(tmp_path, MODEL)[0]["action"] == "skipped"


def test_the_last_launchs_runner_still_running_is_a_duplicate_too(tmp_path: Path) -> None:
    launcher = RecordingLauncher(tmp_path)

    def launch_as_this_process(request: LaunchRequest) -> Launched:
        launcher.requests.append(request)
        ident = process_identity()
        return Launched(run_id="run-x", target="local", pid=ident["pid"], pid_started=ident["pid_started"])

    launcher.launch = launch_as_this_process  # type: ignore[method-assign]
    act(tmp_path, launcher, evaluation(DRIFT), settings=settings(hours=0), now=NOW)
    again = act(tmp_path, launcher, evaluation(DRIFT), settings=settings(hours=0), now=NOW + timedelta(hours=1))
    assert again.why == "de-duplication: the last trigger-started run run-x is still running"
    assert len(launcher.requests) == 1


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_local_runs_tells_running_from_ended_runs(tmp_path: Path) -> None:
    now = time.time()
    alive = {"status": "running", **process_identity()}
    runs = {
        "a-running": {"dataset": DATASET, "started": now - 600, "runner": alive},
        "b-finished": {"dataset": DATASET, "started": now - 600, "runner": alive, "exit_code": 0},
        "c-runner-gone": {
            "dataset": DATASET,
            "started": now - 600,
            "runner": {"status": "running", "pid": _dead_pid()},
        },
        "d-starting": {"dataset": DATASET, "started": now - 5},
        "e-never-started": {"dataset": DATASET, "started": now - 3600},
        "f-other-dataset": {"dataset": "churn", "started": now - 600, "runner": alive},
        "g-runner-failed": {"dataset": DATASET, "started": now - 600, "runner": {**alive, "status": "failed"}},
    }
    for name, meta in runs.items():
        write_run_meta(tmp_path / "runs" / name, {"pipeline": "training", **meta})
    (tmp_path / "runs" / "h-no-meta").mkdir()
    assert running_local_runs(tmp_path, DATASET, now=now) == ["a-running", "d-starting"]
    assert running_local_runs(tmp_path / "nowhere", DATASET) == []


# --------------------------------------------------------------------------- two processes at once
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    from mlops.state import write_run_meta
    from observability.triggers import (
        Evaluation, Launched, TriggerResult, TriggerSettings, act_on_triggers, running_local_runs,
    )

    state_dir, go, hours = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    name = sys.argv[4]

    class Launcher:
        target = "local"

        def running(self, dataset):
            return running_local_runs(state_dir, dataset)

        def launch(self, request):
            time.sleep(0.5)  # starting takes a while: the other process must wait, not slip in
            write_run_meta(state_dir / "runs" / name, {"pipeline": "training", "dataset": request.dataset,
                                                       "started": time.time()})
            (state_dir / f"launched-{name}").write_text(request.reason)
            return Launched(run_id=name, target="local")

    settings = TriggerSettings(model="credit_risk", dataset=None, schedule=None, drift=None, performance=None,
                               new_data=None, schema_change=None, min_hours_between_runs=hours)
    fired = [TriggerResult("drift", "fired", "drift share 0.42"), TriggerResult("new_data", "fired", "900 rows")]
    evaluation = Evaluation("credit_risk", datetime.now(UTC), fired)
    while time.time() < go:
        time.sleep(0.005)
    decision = act_on_triggers(settings, evaluation, state_dir=state_dir, dataset="credit_risk", launcher=Launcher())
    print(json.dumps({"action": decision.action, "why": decision.why}))
    """
)


@pytest.mark.parametrize(("hours", "guard"), [(24, "cool-down"), (0, "de-duplication")])
def test_two_processes_at_once_start_one_run(tmp_path: Path, hours: float, guard: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    state = tmp_path / "state"
    go = time.time() + 3  # both have imported by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(state), str(go), str(hours), name],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for name in ("first", "second")
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_, errors) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, errors
    decisions = sorted((json.loads(out) for out, _ in outputs), key=lambda d: d["action"])
    assert [d["action"] for d in decisions] == ["launched", "skipped"]
    assert decisions[1]["why"].startswith(guard), decisions[1]["why"]
    launched = list(state.glob("launched-*"))
    assert len(launched) == 1
    assert launched[0].read_text() == "retraining triggers drift, new_data: drift share 0.42; 900 rows"
    assert sorted(e["action"] for e in read_history(state, MODEL)) == ["launched", "skipped"]
