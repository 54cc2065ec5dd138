"""Batch runs on the object store: an ``s3://`` output root, its retention, and staged inputs.

An ``s3://`` output is never written in place. The engine writes the run into a local staging
folder; once the run has succeeded (rows counted, manifest made) the parts are uploaded to
``<output_root>/run=<id>/`` and ``_manifest.json`` last, so a reader never finds a manifest
without its parts. A run that fails before the upload leaves nothing in the bucket; an upload
that fails deletes what it had uploaded. Only a process killed in the middle of an upload can
leave parts without a manifest: such a folder reads as incomplete, and retention deletes it
like any other old run.

An engine that cannot read the object store (Spark here: no S3 connector on the image) gets
the input downloaded once into the staging folder, hashed on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import DatasetError, ObjectStoreError
from mlops.object_store import ObjectStore, split_uri
from serving.batch.inputs import BatchInput, open_input
from serving.batch.manifest import MANIFEST_NAME, RUN_PREFIX, BatchManifest

if TYPE_CHECKING:
    from pyarrow import fs

__all__ = [
    "apply_remote_retention",
    "check_output_root",
    "remote_run_folders",
    "stage_input",
    "upload_run",
]


def _path(uri: str) -> str:
    """``s3://bucket/key/`` -> ``bucket/key`` (a pyarrow S3 path); DatasetError for a bad URI."""
    try:
        bucket, key = split_uri(uri.rstrip("/"))
    except ValueError as exc:
        raise DatasetError(f"batch output root: {exc}") from None
    return f"{bucket}/{key}"


def check_output_root(uri: str, store: ObjectStore) -> None:
    """Fail before any scoring when the output's bucket is missing, refused or unreachable."""
    from pyarrow import fs

    bucket = _path(uri).partition("/")[0]
    try:
        info = store.filesystem().get_file_info(bucket)
    except OSError as exc:
        raise ObjectStoreError(f"batch output root {store.error(uri, exc)}") from None
    if info.type != fs.FileType.Directory:
        raise ObjectStoreError(f"batch output root {uri}: no such bucket {bucket!r}")


def stage_input(source: BatchInput, folder: Path) -> tuple[BatchInput, str]:
    """Download an object-store input into ``folder`` (its file name or folder layout kept) and
    return the local copy with ``sha256:<hex>``, the same hash a local copy of it gets."""
    folder.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    local_root = folder / (source.root.rpartition("/")[2] or "input")
    for file in source.files:
        relative = source.relative(file)
        target = local_root / relative if source.is_dir else local_root
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir:
            h.update(relative.encode() + b"\0")
        try:
            # Raw bytes (a .csv.gz stays compressed): the local reader decompresses it as it would.
            with source.filesystem.open_input_stream(file, compression=None) as stream, target.open("wb") as out:
                while block := stream.read(1 << 20):
                    h.update(block)
                    out.write(block)
        except OSError as exc:
            raise source.store_error(file, exc) from None
    return open_input(local_root), f"sha256:{h.hexdigest()}"


def upload_run(run_dir: Path, manifest: BatchManifest, store: ObjectStore) -> None:
    """Upload the staged run's parts, then its manifest, to ``manifest.output_dir`` (a URI).

    On any failure whatever was uploaded is deleted again and an ObjectStoreError names the URI.
    """
    from pyarrow import fs

    target = _path(manifest.output_dir)
    filesystem = store.filesystem()
    local = fs.LocalFileSystem()
    current = manifest.output_dir
    try:
        for name in manifest.output_files:
            current = f"{manifest.output_dir}/{name}"
            fs.copy_files(
                str(run_dir / name), f"{target}/{name}", source_filesystem=local, destination_filesystem=filesystem
            )
        current = manifest.location
        with filesystem.open_output_stream(f"{target}/{MANIFEST_NAME}") as out:
            out.write((manifest.to_json() + "\n").encode())
    except BaseException as exc:  # an interrupt too: no parts without their manifest
        with contextlib.suppress(OSError):
            filesystem.delete_dir(target)
        if isinstance(exc, OSError):
            raise ObjectStoreError(f"batch output {store.error(current, exc)}") from None
        raise


def remote_run_folders(uri: str, store: ObjectStore) -> list[str]:
    """The run folders under an ``s3://`` output root (URIs), oldest first: by the start time in
    the run id (``run=YYYYmmdd-HHMMSS-xxxx``, UTC), then by the manifest's start time, else
    (incomplete runs) by their newest object's modification time.

    The run id comes first because the store keeps modification times to the second only, and
    an interrupted upload's parts carry the time of the upload, not of the run."""
    from pyarrow import fs

    root = _path(uri)
    filesystem = store.filesystem()
    try:
        listed = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
        runs = [i.path for i in listed if i.type == fs.FileType.Directory and i.base_name.startswith(RUN_PREFIX)]
        keys = [(*_sort_key(filesystem, run), run) for run in runs]
    except OSError as exc:
        raise ObjectStoreError(f"batch output root {store.error(uri, exc)}") from None
    return [f"s3://{run}" for *_, run in sorted(keys)]


def _sort_key(filesystem: fs.FileSystem, run: str) -> tuple[datetime, datetime]:
    started = _started(filesystem, run)
    try:
        named = datetime.strptime(run.rpartition("/")[2][len(RUN_PREFIX) : len(RUN_PREFIX) + 15], "%Y%m%d-%H%M%S")
    except ValueError:  # a folder named otherwise: by its own time, to the second
        return started.replace(microsecond=0), started
    return named.replace(tzinfo=UTC), started


def _started(filesystem: fs.FileSystem, run: str) -> datetime:
    from pyarrow import fs

    try:
        with filesystem.open_input_stream(f"{run}/{MANIFEST_NAME}") as f:
            return datetime.fromisoformat(json.loads(f.read())["started"])
    except (FileNotFoundError, ValueError, KeyError):
        pass  # no manifest (incomplete run) or an unreadable one: by its objects' times
    times = [
        i.mtime
        for i in filesystem.get_file_info(fs.FileSelector(run, recursive=True))
        if i.type == fs.FileType.File and i.mtime is not None
    ]
    return max(times, default=datetime.fromtimestamp(0, UTC))


def apply_remote_retention(uri: str, keep_last: int, store: ObjectStore, *, current: str | None = None) -> list[str]:
    """Delete all but the newest ``keep_last`` run folders under an ``s3://`` output root (never
    ``current``); return the deleted folders' URIs."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1, got {keep_last}")
    keep = current.rstrip("/") if current else None
    runs = remote_run_folders(uri, store)
    filesystem = store.filesystem()
    deleted: list[str] = []
    for run in runs[: max(len(runs) - keep_last, 0)]:
        if run == keep:
            continue
        try:
            filesystem.delete_dir(_path(run))
        except OSError as exc:
            raise ObjectStoreError(f"batch retention {store.error(run, exc)}") from None
        deleted.append(run)
    return deleted
