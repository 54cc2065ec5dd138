"""Interrupted runs: the run and the versions it registered say so.

The signal tests run the real local runner (``pipelines.local.main``) as its own process and
signal it for real. Its pipeline is a stand-in: a real training run takes minutes, so
``run_local`` is replaced by one that starts a "step" process with kfp.local's own launcher
(as its SubprocessRunner starts every step). The step registers a real version in a real
MLflow registry, then waits where the promote step would run: that is where the signal arrives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.config import load_dataset_config
from mlops.state import RUN_DIR_ENV, StepRecord, process_identity, read_run_meta, read_steps, run_status, write_run_meta
from model_registry.registry import ModelRegistry
from platform_config import load_platform_config

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "20261130-120000-beef"
WAITING = "step-waiting"


# ---------------------------------------------------------------- the stand-in pipeline
def _step() -> None:
    """One pipeline "step" process (argv: the run's config JSON; the run folder from the environment)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlops.state import current_run_dir, record_step
    from platform_config import RunConfig

    run_dir, platform = current_run_dir(), RunConfig.parse(sys.argv[1]).platform
    assert run_dir is not None, "the runner gives its steps the run folder"
    if os.environ["STAND_IN"] == "register":
        with record_step("register") as rec:
            rng = np.random.default_rng(0)
            info = platform.open_registry().register(
                "loans",
                LogisticRegression().fit(rng.random((40, 2)), rng.integers(0, 2, 40)),
                serving_schema={"income": "number", "region": "string"},
                schema_hash="s",
                training_fingerprint="t",
                params={},
                metrics={"roc_auc": 0.7},
                gates={"evaluation": True},
                lineage={},
            )
            rec.figures.update(model=info.name, version=info.semver)
    with record_step("promote"):
        (run_dir / WAITING).write_text(str(os.getpid()))
        time.sleep(120)


def _stand_in_pipeline(config: str, run_dir: Path, pipeline_root: Path) -> None:
    # kfp.local's own launcher, as its SubprocessRunner starts every step.
    from kfp.local.subprocess_task_handler import run_local_subprocess

    code = "from tests.model_registry.test_interrupted_runs import _step; _step()"
    os.environ[RUN_DIR_ENV] = str(run_dir)
    if run_local_subprocess([sys.executable, "-c", code, config]) != 0:
        raise RuntimeError("the step failed")


def _runner() -> None:
    """``python -m pipelines.local`` with the stand-in pipeline."""
    import pipelines.local as runner

    runner.run_local = _stand_in_pipeline
    sys.exit(runner.main(sys.argv[1:]))


# ---------------------------------------------------------------- helpers
@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def _start_run(workdir: Path, stand_in: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A run folder as ``mlops run training`` writes it, and the runner started on it."""
    platform = load_platform_config(workdir / "config", "dev")
    run_dir = workdir / ".mlops" / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    write_run_meta(
        run_dir,
        {
            "run_id": RUN_ID,
            "pipeline": "training",
            "dataset": "loans",
            "started": time.time(),
            "dataset_config": json.loads(
                load_dataset_config(workdir / "config/datasets/credit_risk.yaml").model_dump_json()
            ),
            "platform_config": json.loads(platform.model_dump_json()),
        },
    )
    code = "from tests.model_registry.test_interrupted_runs import _runner; _runner()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--run-dir", str(run_dir), "--pipeline-root", str(workdir / "root")],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT), "STAND_IN": stand_in},
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 120
    while not (run_dir / WAITING).exists():
        assert proc.poll() is None, f"the runner exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "the stand-in step never started"
        time.sleep(0.2)
    return proc, run_dir


@pytest.fixture
def cleanup() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def mlops(workdir: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _row(output: str, key: str) -> str:
    rows = [line for line in output.splitlines() if key in line]
    assert len(rows) == 1, output
    return rows[0]


# ---------------------------------------------------------------- the signals, for real
@pytest.mark.timeout(300)
def test_ctrl_c_during_promotion(workdir: Path, cleanup: list[subprocess.Popen[bytes]]) -> None:
    proc, run_dir = _start_run(workdir, "register")
    cleanup.append(proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: the whole job
    assert proc.wait(timeout=120) == 130

    runner = read_run_meta(run_dir)["runner"]
    assert (runner["status"], runner["signal"]) == ("interrupted", "SIGINT")
    promote = read_steps(run_dir)["promote"]
    assert (promote.status, promote.message) == ("failed", "KeyboardInterrupt: ")

    assert "interrupted" in _row(mlops(workdir, "runs", "list"), RUN_ID)
    shown = mlops(workdir, "runs", "show", RUN_ID)
    assert f"run {RUN_ID}: interrupted, dataset loans" in shown
    assert "interrupted during promote by SIGINT" in shown

    # Registered, never promoted: the version says its run did not finish.
    info = ModelRegistry.local(workdir / ".mlops" / "registry").get("loans", "1.0.0")
    assert (info.run_status, info.aliases) == ("interrupted", ())
    assert "incomplete: run interrupted before promotion" in _row(mlops(workdir, "models", "list"), "1.0.0")


@pytest.mark.timeout(120)
def test_sigterm_to_the_runner_alone_stops_its_step(workdir: Path, cleanup: list[subprocess.Popen[bytes]]) -> None:
    proc, run_dir = _start_run(workdir, "wait")
    cleanup.append(proc)
    step_pid = int((run_dir / WAITING).read_text())
    proc.send_signal(signal.SIGTERM)  # only the runner: the step hears it from the runner
    assert proc.wait(timeout=60) == 130

    runner = read_run_meta(run_dir)["runner"]
    assert (runner["status"], runner["signal"]) == ("interrupted", "SIGTERM")
    assert read_steps(run_dir)["promote"].message == "KeyboardInterrupt: "  # it stopped, and said so
    deadline = time.monotonic() + 10
    while (Path(f"/proc/{step_pid}").exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{step_pid}").exists(), "the step outlived its runner"


@pytest.mark.timeout(120)
def test_a_killed_runner_reads_as_interrupted(workdir: Path, cleanup: list[subprocess.Popen[bytes]]) -> None:
    proc, run_dir = _start_run(workdir, "wait")
    cleanup.append(proc)
    assert "running" in _row(mlops(workdir, "runs", "list"), RUN_ID)
    os.killpg(proc.pid, signal.SIGKILL)  # nothing can record this: the pid is all there is
    proc.wait(timeout=30)

    row = _row(mlops(workdir, "runs", "list"), RUN_ID)
    assert "interrupted" in row
    assert "running" not in row
    assert "its pipeline process is gone" in mlops(workdir, "runs", "show", RUN_ID)
    assert read_run_meta(run_dir)["runner"]["status"] == "running"  # told by the pid alone


# ---------------------------------------------------------------- the status rules
def _records(*statuses: str) -> dict[str, StepRecord]:
    return {f"s{i}": StepRecord(name=f"s{i}", status=s) for i, s in enumerate(statuses)}  # type: ignore[arg-type]


def test_run_status_from_the_runner_record() -> None:
    alive = {"status": "running", **process_identity()}
    assert run_status({"runner": alive}, _records("running")) == "running"
    # The same pid, started at another time: the pid was reused by another process.
    reused = {**alive, "pid_started": "1"}
    assert run_status({"runner": reused}, _records("running")) == "interrupted"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert run_status({"runner": {"status": "running", "pid": gone.pid}}, {}) == "interrupted"
    interrupted = {**alive, "status": "interrupted", "signal": "SIGINT"}
    assert run_status({"runner": interrupted, "exit_code": 130}, _records("failed")) == "interrupted"
    # Finished, though the CLI that watched it was closed before recording the exit code.
    finished = {**alive, "status": "finished"}
    assert run_status({"runner": finished}, _records("succeeded", "blocked")) == "blocked"
    assert run_status({"runner": finished, "exit_code": 0}, _records("succeeded")) == "succeeded"
    assert run_status({"runner": {**alive, "status": "failed"}}, _records("failed")) == "failed"
    # Runs recorded before the runner wrote its pid.
    assert run_status({}, _records("running")) == "running (or interrupted)"
    assert run_status({"exit_code": 1}, _records("succeeded")) == "failed"
