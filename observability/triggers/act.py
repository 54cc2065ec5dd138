"""Acting on fired triggers: at most one training run per model, never two at once, never in a loop.

    <state>/triggers/<model>.json           the last launch (run id, reason, when, where) and
                                            when the triggers first looked at the model
    <state>/triggers/<model>.history.jsonl  one line per decision: launched, skipped (and why),
                                            dry run, nothing fired
    <state>/triggers/<model>.lock           held while deciding and starting (file_lock)

The guards, checked under the model's lock, in order:

- **cool-down**: a trigger-started run of the model less than ``min_hours_between_runs`` ago;
- **de-duplication**: a training run of the model's dataset still running (as the launcher sees
  it: the local run folders, or the KFP runs);
- **storm**: every fired trigger goes into the one run's reason; a second process deciding at
  the same time waits for the lock, then finds the first one's launch and skips.

The launch itself is the caller's (:class:`Launcher`): the CLI starts a local kfp.local run or
submits to a KFP API server; tests pass a fake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from mlops.state import StateLayout, file_lock, process_running, read_run_meta, runner_status
from observability.prediction_log import check_model_name
from observability.triggers.config import TriggerSettings
from observability.triggers.evaluate import Evaluation, launch_reason

# A run folder whose runner has not yet recorded its pid is taken for one still starting this long.
STARTING_GRACE_S = 300.0
# Decisions a model's history keeps (an hourly job writes about 9000 a year).
HISTORY_KEPT = 2000

Action = Literal["launched", "skipped", "dry_run", "nothing_fired"]


def triggers_dir(state_dir: Path) -> Path:
    """``<state>/triggers``."""
    return Path(state_dir) / "triggers"


@dataclass(frozen=True)
class LaunchRequest:
    """One training run to start for the model's dataset."""

    model: str
    dataset: str
    reason: str
    triggers: list[str]
    # The dataset config file the run trains on (None: the launcher's default).
    dataset_file: Path | None = None


@dataclass(frozen=True)
class Launched:
    """A started run, as the launcher reports it."""

    run_id: str
    # "local" or the KFP API it was submitted to.
    target: str
    run_dir: str = ""
    # The local runner process (to tell later whether it still runs).
    pid: int | None = None
    pid_started: str | None = None


class Launcher(Protocol):
    """Starts training runs and knows which ones still run."""

    target: str

    def running(self, dataset: str) -> list[str]:
        """Ids of the dataset's training runs that have not ended."""
        ...

    def launch(self, request: LaunchRequest) -> Launched:
        """Start one training run; its reason is ``request.reason``."""
        ...


@dataclass
class TriggerState:
    """What ``<state>/triggers/<model>.json`` holds."""

    model: str
    first_evaluated: float
    last_launch: dict[str, Any] | None = None

    @property
    def last_launch_at(self) -> datetime | None:
        if not self.last_launch:
            return None
        return datetime.fromtimestamp(float(self.last_launch["launched_at"]), UTC)


def _state_path(state_dir: Path, model: str) -> Path:
    check_model_name(model)  # the name becomes a file name
    return triggers_dir(state_dir) / f"{model}.json"


def read_state(state_dir: Path, model: str, *, now: datetime | None = None) -> TriggerState:
    """The model's trigger state; a model never seen before starts now (not written here)."""
    path = _state_path(state_dir, model)
    try:
        data = json.loads(path.read_text())
        return TriggerState(
            model=model, first_evaluated=float(data["first_evaluated"]), last_launch=data.get("last_launch")
        )
    except FileNotFoundError:
        return TriggerState(model=model, first_evaluated=(now or datetime.now(UTC)).timestamp())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        from mlops.errors import MonitoringError

        raise MonitoringError(f"{path}: not a readable trigger state ({type(exc).__name__}: {exc})") from None


def write_state(state_dir: Path, state: TriggerState) -> None:
    path = _state_path(state_dir, state.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)  # atomic: another process may read it at any time


def append_history(state_dir: Path, model: str, record: dict[str, Any], *, keep: int = HISTORY_KEPT) -> None:
    """Add one decision to the model's history, which keeps its newest ``keep`` lines.

    Called under the model's lock (:func:`model_lock`), so trimming never loses another
    process's line.
    """
    path = triggers_dir(state_dir) / f"{model}.history.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str)
    lines = path.read_text().splitlines() if path.exists() else []
    if len(lines) < keep:
        with path.open("a") as handle:
            handle.write(line + "\n")
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join([*lines[len(lines) - keep + 1 :], line]) + "\n")
    tmp.replace(path)


def read_history(state_dir: Path, model: str) -> list[dict[str, Any]]:
    path = triggers_dir(state_dir) / f"{model}.history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def model_lock(state_dir: Path, model: str) -> Iterator[None]:
    """Exclusive across processes: one decision (and launch) per model at a time."""
    check_model_name(model)
    with file_lock(triggers_dir(state_dir) / f"{model}.lock"):
        yield


def running_local_runs(state_dir: Path, dataset: str, *, now: float | None = None) -> list[str]:
    """Ids of the local training runs of ``dataset`` that have not ended.

    A run is running while its runner process runs; a run folder whose runner has not yet
    recorded its pid counts as starting for :data:`STARTING_GRACE_S` after it was created.
    """
    runs = StateLayout(Path(state_dir)).runs
    if not runs.exists():
        return []
    now = time.time() if now is None else now
    found = []
    for run_dir in sorted(runs.iterdir()):
        try:
            meta = read_run_meta(run_dir)
        except (OSError, ValueError):
            continue  # being written right now, or not a run folder
        if meta.get("pipeline", "training") != "training" or meta.get("dataset") != dataset:
            continue
        if "exit_code" in meta:
            continue
        status = runner_status(meta)
        starting = status is None and now - float(meta.get("started", 0)) < STARTING_GRACE_S
        if status == "running" or starting:
            found.append(run_dir.name)
    return found


@dataclass(frozen=True)
class Decision:
    """What the triggers of one model led to."""

    model: str
    action: Action
    why: str
    reason: str = ""
    launched: Launched | None = None
    evaluation: Evaluation | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _record(state_dir: Path, decision: Decision, now: datetime) -> None:
    evaluation = decision.evaluation
    append_history(
        state_dir,
        decision.model,
        {
            "at": now.isoformat(timespec="seconds"),
            "action": decision.action,
            "why": decision.why,
            "reason": decision.reason,
            "champion": evaluation.champion if evaluation else None,
            "results": [r.to_dict() for r in evaluation.results] if evaluation else [],
            "launched": asdict(decision.launched) if decision.launched else None,
            # What deciding cost: when the evaluation started, seconds per trigger, the launch.
            "evaluated_at": evaluation.at.isoformat() if evaluation else None,
            "timings_s": {**(evaluation.timings if evaluation else {}), **decision.extra.get("timings_s", {})},
        },
    )


def act_on_triggers(
    settings: TriggerSettings,
    evaluation: Evaluation,
    *,
    state_dir: Path,
    dataset: str,
    launcher: Launcher,
    dataset_file: Path | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Start at most one training run for the fired triggers of ``evaluation``, if the guards allow.

    Every decision is appended to the model's history; a launch also becomes the model's last
    launch (what the cool-down and the schedule count from).
    """
    now = now or datetime.now(UTC)
    model = settings.model
    fired = evaluation.fired
    if not fired:
        decision = Decision(model, "nothing_fired", "no trigger fired", evaluation=evaluation)
        with model_lock(state_dir, model):
            _remember(state_dir, model, now)
            _record(state_dir, decision, now)
        return decision
    reason = launch_reason(evaluation)
    with model_lock(state_dir, model):
        state = _remember(state_dir, model, now)
        skipped = _guard(settings, state, dataset, launcher, now)
        if skipped is not None:
            decision = Decision(model, "skipped", skipped, reason=reason, evaluation=evaluation)
        elif dry_run:
            decision = Decision(
                model, "dry_run", "one training run would start; nothing started", reason=reason, evaluation=evaluation
            )
        else:
            request = LaunchRequest(
                model=model,
                dataset=dataset,
                reason=reason,
                triggers=[r.trigger for r in fired],
                dataset_file=dataset_file,
            )
            started = time.perf_counter()
            launched = launcher.launch(request)
            launch_s = round(time.perf_counter() - started, 3)
            state.last_launch = {
                **asdict(launched),
                "launched_at": now.timestamp(),
                "reason": reason,
                "triggers": request.triggers,
                "dataset": dataset,
            }
            write_state(state_dir, state)
            decision = Decision(
                model,
                "launched",
                f"started training run {launched.run_id} ({launched.target})",
                reason=reason,
                launched=launched,
                evaluation=evaluation,
                extra={"timings_s": {"launch": launch_s}},
            )
        _record(state_dir, decision, now)
    return decision


def _remember(state_dir: Path, model: str, now: datetime) -> TriggerState:
    """The state, written once so the first evaluation's time is kept (the schedule's fallback start)."""
    state = read_state(state_dir, model, now=now)
    if not _state_path(state_dir, model).exists():
        write_state(state_dir, state)
    return state


def _guard(
    settings: TriggerSettings, state: TriggerState, dataset: str, launcher: Launcher, now: datetime
) -> str | None:
    """Why no run may start now, or None."""
    last = state.last_launch
    if last is not None:
        # A process that decided before taking the lock may see a launch made after its ``now``:
        # a negative age, which is "just now". 0 hours means no cool-down at all.
        since_h = max(0.0, (now.timestamp() - float(last["launched_at"])) / 3600)
        if settings.min_hours_between_runs > 0 and since_h < settings.min_hours_between_runs:
            return (
                f"cool-down: the last trigger-started run of {settings.model} ({last['run_id']}) started "
                f"{since_h:.1f} h ago; min_hours_between_runs is {settings.min_hours_between_runs:g}"
            )
        pid = last.get("pid")
        # The last launch's own runner, even where the run folders are not visible (another state copy).
        if pid is not None and last.get("target") == "local" and process_running(int(pid), last.get("pid_started")):
            return f"de-duplication: the last trigger-started run {last['run_id']} is still running"
    running = launcher.running(dataset)
    if running:
        return f"de-duplication: a training run of dataset {dataset} is still running ({', '.join(running)})"
    return None


__all__ = [
    "HISTORY_KEPT",
    "STARTING_GRACE_S",
    "Action",
    "Decision",
    "LaunchRequest",
    "Launched",
    "Launcher",
    "TriggerState",
    "act_on_triggers",
    "append_history",
    "model_lock",
    "read_history",
    "read_state",
    "running_local_runs",
    "triggers_dir",
    "write_state",
]
