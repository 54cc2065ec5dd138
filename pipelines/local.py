"""Run a pipeline with ``kfp.local`` (SubprocessRunner, no venv): the same IR as the cluster.

Used by ``mlops run training`` in a child process (``python -m pipelines.local``), so the
CLI stays responsive and can show each step's progress from the run folder.

The runner records itself in the run meta (``runner``: pid, start time, how it ended). On
SIGINT or SIGTERM it lets the running step stop (forwarding the signal when the step did not
get it too), records ``interrupted``, and marks a version the run registered but never
promoted as such in the registry. A runner killed outright records nothing, but its pid is
gone: ``mlops runs list`` reads that as interrupted too.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType

from mlops.state import RUN_DIR_ENV, process_identity, read_steps, update_runner, write_run_meta
from platform_config import RunConfig

# A step that got the terminal's Ctrl-C too needs a moment to record itself; one still running
# after that is interrupted, and killed if it has not stopped after the grace period.
STEP_SIGNALLED_WAIT_S = 5.0
STEP_STOP_GRACE_S = 10.0


def run_local(config: str, run_dir: Path, pipeline_root: Path) -> None:
    """Run the training pipeline on kfp.local; each step process records into ``run_dir``."""
    from kfp import local

    from pipelines.training import training_pipeline

    # The run folder is a local concern: the steps read it from the environment they inherit.
    os.environ[RUN_DIR_ENV] = str(run_dir)
    # Locally the platform image is not used (SubprocessRunner runs in this environment).
    warnings.filterwarnings("ignore", message=".*non-Python base image.*")
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True)
    training_pipeline(config=config)


def _children() -> list[int]:
    """Pids of this process's children (the running step), where ``/proc`` lists them."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == me and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def _wait_for_children(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _children() and time.monotonic() < deadline:
        time.sleep(0.1)


def _stop_steps(signalled: str) -> None:
    """Let the running step stop. A terminal's Ctrl-C reaches it too (same process group), so
    wait for it first; a ``kill`` (SIGTERM) reached only this process. Then interrupt it (a
    second KeyboardInterrupt could cut its own clean-up short, hence the wait), then kill."""
    if signalled == "SIGINT":
        _wait_for_children(STEP_SIGNALLED_WAIT_S)
    for pid in _children():
        with contextlib.suppress(ProcessLookupError):  # it may just have exited
            os.kill(pid, signal.SIGINT)
    _wait_for_children(STEP_STOP_GRACE_S)
    for pid in _children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _mark_unpromoted_version(run_dir: Path, platform_config: dict[str, object]) -> None:
    """A version this run registered but did not promote is tagged ``run_status=interrupted``."""
    records = read_steps(run_dir)
    reg, promote = records.get("register"), records.get("promote")
    if reg is None or reg.status != "succeeded" or (promote is not None and promote.status == "succeeded"):
        return
    model, version = reg.figures.get("model"), reg.figures.get("version")
    if not (isinstance(model, str) and isinstance(version, str)):
        return
    from platform_config import PlatformConfig

    registry = PlatformConfig.model_validate(platform_config).open_registry()
    if registry.mark_interrupted(model, version) is not None:
        print(f"{model} {version}: registered by this run, never promoted; marked interrupted in the registry")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--pipeline-root", type=Path, required=True)
    args = parser.parse_args(argv)
    meta = update_runner(args.run_dir, status="running", started=time.time(), **process_identity())
    received: list[str] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        # A second signal while stopping takes the default way out.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        config = RunConfig(
            platform=meta["platform_config"], dataset=meta["dataset_config"], reason=meta.get("reason", "manual")
        )
        run_local(config.dump(), args.run_dir, args.pipeline_root)
    except KeyboardInterrupt:
        why = received[0] if received else "SIGINT"
        print(f"interrupted by {why}: stopping the running step", flush=True)
        _stop_steps(why)
        update_runner(args.run_dir, status="interrupted", signal=why, ended=time.time())
        try:
            _mark_unpromoted_version(args.run_dir, meta["platform_config"])
        except Exception as exc:  # the run is already recorded as interrupted; say why this part failed
            print(f"could not mark the run's registered version as interrupted: {type(exc).__name__}: {exc}")
        return 130
    except Exception as exc:  # the step records hold the detail; the CLI reads both
        meta = update_runner(args.run_dir, status="failed", ended=time.time())
        write_run_meta(args.run_dir, {**meta, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    update_runner(args.run_dir, status="finished", ended=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
