"""The run manifest written beside each batch output, and retention of old runs.

    <output_root>/
      run=<run_id>/                 one batch run (a hive partition: readers see a ``run`` column)
        _manifest.json              written last: a run folder without it is incomplete
        [<partition>=<value>/]part-*.parquet

The leading ``_`` keeps the manifest out of the data for Spark and pyarrow.dataset readers.
``<output_root>`` is a local folder or an ``s3://`` URI (then ``output_dir`` is the run's URI;
its listing and retention are in :mod:`serving.batch.remote`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST_NAME = "_manifest.json"
RUN_PREFIX = "run="


@dataclass(frozen=True)
class BatchManifest:
    run_id: str
    model_name: str
    model_version: str
    engine: str
    engine_config: dict[str, Any]
    input_path: str
    input_format: str
    input_hash: str
    rows_in: int
    rows_out: int
    output_dir: str
    # Relative to ``output_dir``.
    output_files: list[str]
    output_columns: list[str]
    id_column: str | None
    partition_by: str | None
    started: str
    finished: str
    duration_s: float
    model_ref: str | None = None
    engine_details: dict[str, Any] = field(default_factory=dict)
    # Declared PII columns the input held and the output left out (absent from older manifests).
    pii_columns_dropped: list[str] = field(default_factory=list)
    # What scored: "onnx" (the version's verified compiled scorer) or "sklearn" (the fitted model).
    scorer: str = "sklearn"

    @property
    def path(self) -> Path:
        """The manifest of a local run (see :attr:`location` for one on the object store)."""
        return Path(self.output_dir) / MANIFEST_NAME

    @property
    def location(self) -> str:
        """Where the manifest is: a local path, or the ``s3://`` URI of a run on the object store."""
        return f"{self.output_dir}/{MANIFEST_NAME}" if self.output_dir.startswith("s3://") else str(self.path)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> BatchManifest:
        return cls(**json.loads(text))

    def outputs(self) -> tuple[str, int, str]:
        """The batch component's outputs: (model version, rows written, run folder)."""
        return self.model_version, self.rows_out, self.output_dir


def write_manifest(manifest: BatchManifest) -> Path:
    path = manifest.path
    tmp = path.with_name(f"{MANIFEST_NAME}.tmp")
    tmp.write_text(manifest.to_json() + "\n")
    tmp.replace(path)  # atomic: a reader sees no manifest or a whole one
    return path


def read_manifest(run_dir: Path) -> BatchManifest:
    return BatchManifest.from_json((run_dir / MANIFEST_NAME).read_text())


def run_folders(output_root: Path) -> list[Path]:
    """Run folders, oldest first: by the manifest's start time, else (incomplete runs) by mtime."""
    if not output_root.is_dir():
        return []

    def started(run_dir: Path) -> datetime:
        try:
            return datetime.fromisoformat(json.loads((run_dir / MANIFEST_NAME).read_text())["started"])
        except (OSError, ValueError, KeyError):
            return datetime.fromtimestamp(run_dir.stat().st_mtime, UTC)

    runs = [p for p in output_root.iterdir() if p.is_dir() and p.name.startswith(RUN_PREFIX)]
    return sorted(runs, key=lambda p: (started(p), p.name))


def apply_retention(output_root: Path, keep_last: int, *, current: Path | str | None = None) -> list[Path]:
    """Delete all but the newest ``keep_last`` run folders (never ``current``); return the deleted."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1, got {keep_last}")
    keep = Path(current).resolve() if current else None
    runs = run_folders(Path(output_root))
    deleted: list[Path] = []
    for run_dir in runs[: max(len(runs) - keep_last, 0)]:
        if keep is not None and run_dir.resolve() == keep:
            continue
        shutil.rmtree(run_dir)
        deleted.append(run_dir)
    return deleted
