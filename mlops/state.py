"""The one local state folder (gitignored) and the run records inside it.

    <state>/
      data/            generated sample data
      runs/<run_id>/   one training run: steps/<step>.json, reports, summary.json
      registry/        MLflow tracking + registry (SQLite) and its artifacts
      feast/           Feast registry, SQLite online store, parquet offline sources
      pipeline_root/   kfp.local artifacts
      suites/          baseline expectation suites profiled for review
      secrets/         local development secrets created by `make run` (never committed)

A step writes ``steps/<name>.json`` when it starts and again when it ends, so the CLI can
show progress while the pipeline runs in another process and summarise it afterwards.
Each record also holds what the step's process used while the step ran (CPU-seconds, wall
time, peak resident memory): what ``observability.costs`` prices.
``run.json`` holds the run's meta: the CLI writes it before and after the run (``exit_code``),
the local runner adds ``runner`` (its pid and start time, and how it ended), so a run whose
runner is gone without finishing reads as interrupted even when nothing could record that.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mlops.exit import freeze_at_exit

StepStatus = Literal["running", "succeeded", "blocked", "failed", "skipped"]
# The run folder steps record into: set by the local runner in the environment the step
# processes inherit. Unset on a cluster, where the figures go to KFP metrics only.
RUN_DIR_ENV = "MLOPS_RUN_DIR"
# Where a step's numeric figures also go (a KFP ``Output[Metrics]``'s ``log_metric``).
MetricsSink = Callable[[str, float], None]
# How the local pipeline process ended, as it recorded it; "running" until then.
RunnerStatus = Literal["running", "finished", "failed", "interrupted"]


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def feast(self) -> Path:
        return self.root / "feast"

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline_root"

    @property
    def suites(self) -> Path:
        return self.root / "suites"

    def baseline(self, dataset: str, *, pending: bool = False) -> Path:
        """The dataset's baseline suite: accepted (reused by later runs) or pending review.

        A baseline profiled in a run stays pending until that run registers a version (or a
        person accepts it with ``mlops data baseline accept``), so a run that failed for some
        other reason never leaves behind a suite that blocks the corrected data.
        """
        return self.suites / f"{dataset}.baseline{'.pending' if pending else ''}.yaml"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed) across processes and threads.

    ``flock`` locks per open file, so two threads of one process exclude each other too; the
    lock goes with the process if it dies. For state several local runs share (the SQLite
    registry, the Feast files); servers order their own writers.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique enough for one machine: time to the second plus 4 random hex digits."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{os.urandom(2).hex()}"


@dataclass
class StepRecord:
    """What one pipeline step did: status, timing, key figures and report paths."""

    name: str
    status: StepStatus = "running"
    started: float = field(default_factory=time.time)
    ended: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    message: str = ""
    # Lines a user should read in full (left-out columns, the suite file in use, …).
    notes: list[str] = field(default_factory=list)
    # The run folder this record is written to ("" on a cluster).
    run_dir: str = ""
    # What the step's process used between the step's start and end (None while it runs, and
    # in records written before these were measured). See :class:`_Usage`.
    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    peak_memory_bytes: int | None = None
    # "step": the highest resident memory while the step ran; "process": the process's
    # lifetime high-water mark (where it cannot be reset at the step's start).
    peak_memory_scope: Literal["step", "process"] | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    def attach(self, filename: str, path: str | Path) -> None:
        """Copy a report into ``<run folder>/reports/<filename>`` (a run folder holds all it produced).

        KFP artifact paths have no suffix, so the file name (with its suffix) is given here;
        the report is listed under that file name.
        """
        import shutil

        if not self.run_dir:
            return
        dest = Path(self.run_dir) / "reports" / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        self.reports[filename] = str(dest)

    def block(self, message: str) -> None:
        """Mark the step's gate as not passed (a result, not a crash)."""
        self.status = "blocked"
        self.message = message


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)  # atomic: the CLI polls these files while they are written


def current_run_dir() -> Path | None:
    """The run folder the local runner gave this step process, or None (a cluster run)."""
    value = os.environ.get(RUN_DIR_ENV, "")
    return Path(value) if value else None


_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def _cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak_memory() -> bool:
    """Reset the kernel's high-water mark of this process's resident memory to its current size.

    Linux >= 4.0 (``clear_refs`` value 5), so the peak read at the step's end is the step's
    own, not one left by code the process ran before (imports, an earlier in-process step).
    """
    try:
        _PROC_CLEAR_REFS.write_text("5")
    except OSError:  # no /proc (macOS) or not permitted
        return False
    return True


def _peak_memory_bytes() -> int:
    """The high-water mark of this process's resident memory (``VmHWM``), else ``ru_maxrss``."""
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


@dataclass(frozen=True)
class _Usage:
    """Resource usage of the current process across one step, measured as deltas.

    A step process may have run code before the step starts (interpreter start-up, imports,
    an earlier step of an in-process test), so CPU and wall time are differences between the
    start and the end. CPU counts every thread of the process plus the child processes it
    waited for in between; concurrent steps in threads of one process would count each
    other's CPU (the runner gives each step its own process). Peak memory is the highest
    resident set size of the process while the step ran, including what was already resident
    when it began (the interpreter and imported libraries): the pod's memory request has to
    hold all of it. Memory of child processes is not included.
    """

    cpu_start: float
    wall_start: float
    peak_reset: bool

    @classmethod
    def start(cls) -> _Usage:
        return cls(cpu_start=_cpu_seconds(), wall_start=time.perf_counter(), peak_reset=_reset_peak_memory())

    def store(self, rec: StepRecord) -> None:
        rec.cpu_seconds = max(_cpu_seconds() - self.cpu_start, 0.0)
        rec.wall_seconds = time.perf_counter() - self.wall_start
        rec.peak_memory_bytes = _peak_memory_bytes()
        rec.peak_memory_scope = "step" if self.peak_reset else "process"


def _numbers(figures: dict[str, Any]) -> dict[str, float]:
    """The figures KFP metrics can hold (scalars); text figures stay in the run record."""
    return {k: float(v) for k, v in figures.items() if isinstance(v, int | float)}


@contextmanager
def record_step(name: str, *, metrics: MetricsSink | None = None) -> Iterator[StepRecord]:
    """Record a step's start and end under ``<run folder>/steps``; exceptions mark it failed.

    The run folder comes from the runner's environment (:data:`RUN_DIR_ENV`); without one (a
    cluster run) nothing is written there. Numeric figures also go to ``metrics`` when given,
    so a cluster run shows them in the KFP UI. When the step ends, its CPU-seconds, wall time
    and peak memory are stored on the record (see :class:`_Usage`).
    """
    # A step's process (kfp's executor) ends right after its step.
    freeze_at_exit()
    run_dir = current_run_dir()
    path = run_dir / "steps" / f"{name}.json" if run_dir else None
    rec = StepRecord(name=name, run_dir=str(run_dir or ""))
    if path:
        _write_json(path, asdict(rec))
    usage = _Usage.start()
    try:
        yield rec
    except BaseException as exc:
        rec.status = "failed"
        rec.message = f"{type(exc).__name__}: {exc}"
        rec.figures.setdefault("traceback", traceback.format_exc(limit=5))
        raise
    else:
        if rec.status == "running":
            rec.status = "succeeded"
        if metrics is not None:
            for key, value in _numbers(rec.figures).items():
                metrics(key, value)
    finally:
        usage.store(rec)
        rec.ended = time.time()
        if path:
            _write_json(path, asdict(rec))


def read_steps(run_dir: Path) -> dict[str, StepRecord]:
    """Every step record of a run, by name."""
    out: dict[str, StepRecord] = {}
    for path in sorted((run_dir / "steps").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue  # being replaced right now; the next poll reads it
        out[data["name"]] = StepRecord(**data)
    return out


def write_run_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    _write_json(run_dir / "run.json", meta)


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3… of ``/proc/<pid>/stat`` (state first), or None when there is no such process.

    The command name (field 2) may hold spaces and parentheses, so split after its last ``)``.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """``{"pid", "pid_started"}`` of a process: with the start time (clock ticks since boot, where
    ``/proc`` exists) a later check cannot mistake a new process that reused the pid for it."""
    pid = os.getpid() if pid is None else pid
    fields = _proc_stat(pid)
    return {"pid": pid, "pid_started": fields[19] if fields and len(fields) > 19 else None}


def process_running(pid: int, pid_started: str | None = None) -> bool:
    """Whether the process recorded by ``process_identity`` still runs (an exited process not yet
    reaped by its parent does not)."""
    if Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return pid_started is None or (len(fields) > 19 and fields[19] == pid_started)
    try:  # no /proc (macOS): the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def update_runner(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the run meta's ``runner`` record (re-read first: the CLI writes too)."""
    meta = read_run_meta(run_dir)
    meta["runner"] = {**meta.get("runner", {}), **fields}
    write_run_meta(run_dir, meta)
    return meta


def runner_status(meta: dict[str, Any]) -> RunnerStatus | None:
    """How the run's pipeline process ended; "interrupted" also when it is gone without saying
    (killed, machine restarted). None for runs recorded before the runner wrote its pid."""
    runner = meta.get("runner")
    if not isinstance(runner, dict) or "pid" not in runner:
        return None
    status: RunnerStatus = runner.get("status", "running")
    if status == "running" and not process_running(int(runner["pid"]), runner.get("pid_started")):
        return "interrupted"
    return status


def run_status(meta: dict[str, Any], records: dict[str, StepRecord]) -> str:
    """How a run stands, from its meta and step records: running, interrupted, failed, blocked or succeeded."""
    # The pipeline process records how it ended; gone without a word, it was interrupted too.
    runner = runner_status(meta)
    if runner == "interrupted":
        return "interrupted"
    if "exit_code" not in meta:  # the CLI that watched the run did not see it end
        if runner is None:
            return "running (or interrupted)"  # recorded before the runner wrote its pid
        if runner in ("running", "failed"):
            return runner
    if any(r.status == "failed" for r in records.values()) or meta.get("exit_code", 0) != 0:
        return "failed"
    if any(r.status == "blocked" for r in records.values()):
        return "blocked"
    return "succeeded"
