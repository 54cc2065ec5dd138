"""What the state folder's run folders and kfp.local artifact folders are, read once per retention run.

    <state>/runs/<id>/            run.json (meta, runner), pipeline.log, steps/, reports/
    <state>/pipeline_root/<name>/ kfp.local's artifacts of one pipeline run, one folder per step

A run folder names its ``pipeline_root`` folder only in its ``pipeline.log`` (kfp.local prints
the artifact paths), so the link is read from the log's first lines. A run is in progress while
its runner process lives (:func:`mlops.state.run_status`); an older run without a runner record
and without an exit code cannot be told apart from a running one, so it counts as in progress
(as does a folder without a readable ``run.json`` modified within :data:`FRESH_S`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.state import StateLayout, read_run_meta, run_status

# kfp.local prints each step's artifact paths, the first within the log's first few kilobytes.
_PIPELINE_ROOT_REF = re.compile(r"pipeline_root/([A-Za-z0-9._-]+)/")
_LOG_HEAD = 64 * 1024
IN_PROGRESS = ("running", "running (or interrupted)")
# A run folder without a readable run.json counts as starting for this long.
FRESH_S = 3600.0


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    folder: Path
    in_progress: bool
    # When the run ended (else started; else the run record's modification time), UTC.
    ended: datetime
    # The run's folder under <state>/pipeline_root, when its log names one that exists.
    artifacts: Path | None
    # (model, semantic version) the run registered, read from its register step's record.
    registered: tuple[str, str] | None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else None


def _artifacts_folder(run_dir: Path, pipeline_root: Path) -> Path | None:
    try:
        with (run_dir / "pipeline.log").open("rb") as log:
            head = log.read(_LOG_HEAD).decode("utf-8", "replace")
    except OSError:
        return None
    found = _PIPELINE_ROOT_REF.search(head)
    if found is None:
        return None
    folder = pipeline_root / found[1]
    return folder if folder.is_dir() else None


def _registered(run_dir: Path) -> tuple[str, str] | None:
    try:
        figures = json.loads((run_dir / "steps" / "register.json").read_text()).get("figures") or {}
    except (OSError, ValueError, AttributeError):
        return None
    model, version = figures.get("model"), figures.get("version")
    return (str(model), str(version)) if model and version else None


def read_runs(state_dir: Path) -> list[RunInfo]:
    """Every run folder under ``<state>/runs``, oldest end first."""
    layout = StateLayout(state_dir)
    runs: list[RunInfo] = []
    if not layout.runs.is_dir():
        return runs
    for folder in layout.runs.iterdir():
        if not folder.is_dir():
            continue
        try:
            meta = read_run_meta(folder)
        except (OSError, ValueError):
            meta = {}  # half-written record: judged by its time below, never as finished
        runner: dict[str, Any] = meta["runner"] if isinstance(meta.get("runner"), dict) else {}
        ended = _time(meta.get("finished")) or _time(runner.get("ended")) or _time(meta.get("started"))
        if ended is None:
            record = folder / "run.json"
            ended = datetime.fromtimestamp((record if record.exists() else folder).stat().st_mtime, UTC)
        # Step records only tell failed from succeeded, which retention does not need. Without a
        # record (a run starting now, or a damaged one) only a fresh folder counts as live.
        fresh = time.time() - folder.stat().st_mtime < FRESH_S
        in_progress = run_status(meta, {}) in IN_PROGRESS if meta else fresh
        runs.append(
            RunInfo(
                run_id=folder.name,
                folder=folder,
                in_progress=in_progress,
                ended=ended,
                artifacts=_artifacts_folder(folder, layout.pipeline_root),
                registered=_registered(folder),
            )
        )
    return sorted(runs, key=lambda r: (r.ended, r.run_id))


def artifact_folders(state_dir: Path) -> list[Path]:
    """Every folder under ``<state>/pipeline_root``."""
    root = StateLayout(state_dir).pipeline_root
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


__all__ = ["RunInfo", "artifact_folders", "read_runs"]
