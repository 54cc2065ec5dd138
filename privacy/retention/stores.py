"""The stores retention applies to: one class per policy ``type``, found through :data:`STORES`.

Each store first *plans* (lists what is past its period, and what it keeps although it is, with
why), then deletes what it planned. Every store plans before any deletes, so a refusal (a backup
the newest restore point needs) leaves everything as it was.

Where the stores are is the :class:`RetentionContext`, built by the CLI from the environment's
platform config: this module opens no registry, feature store or backup repository itself.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from mlops.errors import PrivacyError
from mlops.state import file_lock
from privacy.retention.policies import (
    BackupsPolicy,
    BatchOutputsPolicy,
    FeastOfflinePolicy,
    Policy,
    PredictionLogsPolicy,
    QuarantinePolicy,
    RawDatasetsPolicy,
    RunFoldersPolicy,
    ShadowLogsPolicy,
)
from privacy.retention.runs import RunInfo, artifact_folders, read_runs
from privacy.rewrite import replace_file, scrubbed_sqlite

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from backup.repository import Repository
    from backup.strategy import Strategy

# The dataset copies a training run leaves under its pipeline_root folder (step/artifact).
DATASET_ARTIFACTS = ("ingest/dataset", "validate-data/clean", "build-features/training_set", "train/holdout")
QUARANTINE_ARTIFACTS = ("validate-data/quarantine",)
# The shadow comparison log's table and time column (serving.shadow.store).
SHADOW_TABLE = "shadow_pairs"
SHADOW_TIME = "ts"


@dataclass(frozen=True)
class OfflineTable:
    """One feature view's offline source: a parquet file, or a PostgreSQL table with a way to
    open a connection to its database (a context manager committing on success)."""

    view: str
    kind: str  # "parquet" | "postgres"
    location: str  # the file's path, or the quoted "schema"."table"
    timestamp_column: str
    connect: Callable[[], contextlib.AbstractContextManager[Any]] | None = None


@dataclass(frozen=True)
class BackupAccess:
    """The environment's backup repository and the strategies whose keep rules apply."""

    repository: Repository
    strategies: list[Strategy]


@dataclass
class RetentionContext:
    """Where one environment's stores are, and how to reach what is not a local file."""

    state_dir: Path
    environment: str = "dev"
    # The prediction log's root: a folder or an s3:// URI (None: <state>/predictions).
    prediction_log_root: str | None = None
    # The batch output roots (the platform config's privacy.batch_outputs).
    batch_output_roots: list[str] = field(default_factory=list)
    # The object store's filesystem, for s3:// locations (None: the environment has none).
    object_store: Callable[[], pafs.FileSystem] | None = None
    # (model, semantic version) of every version a champion/challenger alias points at.
    aliased_versions: Callable[[], set[tuple[str, str]]] | None = None
    # The feature views' offline sources (None: no feature store in this environment).
    offline_tables: Callable[[], list[OfflineTable]] | None = None
    # The backup repository (None from the callable: there is none yet).
    backups: Callable[[], BackupAccess | None] | None = None
    _runs: list[RunInfo] | None = field(default=None, init=False, repr=False)
    _aliased: set[tuple[str, str]] | None = field(default=None, init=False, repr=False)

    def runs(self) -> list[RunInfo]:
        if self._runs is None:
            self._runs = read_runs(self.state_dir)
        return self._runs

    def aliased(self) -> set[tuple[str, str]]:
        """Read once, and only when a run that registered a version is past its period (MLflow is slow to import)."""
        if self._aliased is None:
            if self.aliased_versions is None:
                raise PrivacyError(
                    "run folders: the model registry is not available, so the runs of aliased versions "
                    "cannot be told apart; nothing was deleted"
                )
            self._aliased = self.aliased_versions()
        return self._aliased

    def filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        """``(filesystem, path)`` of a folder (relative: under the state folder) or an s3:// URI."""
        import pyarrow.fs as pafs

        if location.startswith("s3://"):
            if self.object_store is None:
                raise PrivacyError(f"{location}: the {self.environment} environment has no object store configured")
            return self.object_store(), location.removeprefix("s3://").rstrip("/")
        path = Path(location)
        return pafs.LocalFileSystem(), str((path if path.is_absolute() else self.state_dir / path).resolve())

    def shown(self, path: Path | str) -> str:
        """A path relative to the state folder when inside it (records travel between machines)."""
        try:
            return str(Path(path).resolve().relative_to(self.state_dir.resolve()))
        except ValueError:
            return str(path)


@dataclass
class Item:
    """One thing past its period: a file, a folder, a partition, a backup, or a table's old rows."""

    location: str
    bytes: int = 0
    rows: int = 0
    # What deleting it needs (paths, a table, a snapshot id); not part of the record.
    target: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "bytes": self.bytes, "rows": self.rows}


@dataclass
class StorePlan:
    store: str
    days: int
    cutoff: datetime
    items: list[Item] = field(default_factory=list)
    # Past the period but kept: "location: why".
    kept: list[str] = field(default_factory=list)
    # Why the store was not looked at ("" when it was).
    skipped: str = ""
    # Planning and deleting, once done.
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    @property
    def rows(self) -> int:
        return sum(i.rows for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "days": self.days,
            "cutoff": self.cutoff.isoformat(timespec="seconds"),
            "items": len(self.items),
            "bytes": self.bytes,
            "rows": self.rows,
            "locations": [i.as_dict() for i in self.items],
            "kept": self.kept,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


P = TypeVar("P", bound=Policy)


class RetentionStore(ABC, Generic[P]):
    """One store: what is past ``policy.days`` (:meth:`plan`), and deleting it (:meth:`delete`)."""

    type: ClassVar[str]

    def __init__(self, policy: P, context: RetentionContext) -> None:
        self.policy = policy
        self.context = context

    def new_plan(self, cutoff: datetime, skipped: str = "") -> StorePlan:
        return StorePlan(self.type, self.policy.days, cutoff, skipped=skipped)

    @abstractmethod
    def plan(self, cutoff: datetime) -> StorePlan:
        """What is older than ``cutoff`` (UTC) and may go; changes nothing."""

    @abstractmethod
    def delete(self, plan: StorePlan) -> list[Item]:
        """Delete what ``plan`` lists; what was deleted (rows as counted while deleting)."""


# --------------------------------------------------------------------------- local files
def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _newest_mtime(path: Path) -> datetime:
    """The newest modification time of a file, or of anything in a folder (a folder's own time
    changes only when entries are added or removed)."""
    stamps = [path.stat().st_mtime]
    if path.is_dir():
        stamps += [p.stat().st_mtime for p in path.rglob("*")]
    return datetime.fromtimestamp(max(stamps), UTC)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class _LocalFiles(RetentionStore[P]):
    """A store of local files and folders: each item's target is the list of paths it removes."""

    def delete(self, plan: StorePlan) -> list[Item]:
        done: list[Item] = []
        for item in plan.items:
            paths: list[Path] = item.target
            if not any(p.exists() for p in paths):
                continue  # gone meanwhile (an erasure, another retention run)
            for path in paths:
                _remove(path)
            done.append(item)
        return done

    def _live_artifacts(self) -> set[Path]:
        """pipeline_root folders of runs in progress: their files are being read and written."""
        return {r.artifacts for r in self.context.runs() if r.in_progress and r.artifacts is not None}

    def _artifact_items(self, plan: StorePlan, relative: tuple[str, ...]) -> None:
        live = self._live_artifacts()
        for folder in artifact_folders(self.context.state_dir):
            for rel in relative:
                path = folder / rel
                if not path.exists() or _newest_mtime(path) >= plan.cutoff:
                    continue
                if folder in live:
                    plan.kept.append(f"{self.context.shown(path)}: its run is in progress")
                    continue
                plan.items.append(Item(self.context.shown(path), _tree_bytes(path), target=[path]))


class RawDatasetsStore(_LocalFiles[RawDatasetsPolicy]):
    """Dataset copies under ``<state>/pipeline_root``, by their files' modification time."""

    type = "raw_datasets"

    def plan(self, cutoff: datetime) -> StorePlan:
        plan = self.new_plan(cutoff)
        self._artifact_items(plan, DATASET_ARTIFACTS)
        return plan


class QuarantineStore(_LocalFiles[QuarantinePolicy]):
    """Quarantined rows: run folders' ``reports/quarantine*.parquet`` and the validate step's artifact."""

    type = "quarantine"

    def plan(self, cutoff: datetime) -> StorePlan:
        plan = self.new_plan(cutoff)
        for run in self.context.runs():
            for path in sorted((run.folder / "reports").glob("quarantine*.parquet")):
                if _newest_mtime(path) >= cutoff:
                    continue
                if run.in_progress:
                    plan.kept.append(f"{self.context.shown(path)}: its run is in progress")
                    continue
                plan.items.append(Item(self.context.shown(path), path.stat().st_size, target=[path]))
        self._artifact_items(plan, QUARANTINE_ARTIFACTS)
        return plan


class RunFoldersStore(_LocalFiles[RunFoldersPolicy]):
    """Whole runs by the time they ended: ``runs/<id>`` and its ``pipeline_root`` folder. Never a
    run in progress, nor one that registered a version an alias points at (serving loads it,
    its lineage and reports are the version's evidence). A ``pipeline_root`` folder no run folder
    names goes by its newest file's time."""

    type = "run_folders"

    def plan(self, cutoff: datetime) -> StorePlan:
        plan = self.new_plan(cutoff)
        named: set[Path] = set()
        for run in self.context.runs():
            if run.artifacts is not None:
                named.add(run.artifacts)
            if run.ended >= cutoff:
                continue
            shown = self.context.shown(run.folder)
            if run.in_progress:
                plan.kept.append(f"{shown}: the run is in progress")
                continue
            if run.registered is not None and run.registered in self.context.aliased():
                model, version = run.registered
                plan.kept.append(
                    f"{shown}: registered {model} {version}, which an alias (champion/challenger) points at"
                )
                continue
            paths = [run.folder] + ([run.artifacts] if run.artifacts is not None else [])
            plan.items.append(Item(shown, sum(_tree_bytes(p) for p in paths), target=paths))
        for folder in artifact_folders(self.context.state_dir):
            if folder not in named and _newest_mtime(folder) < cutoff:
                plan.items.append(Item(self.context.shown(folder), _tree_bytes(folder), target=[folder]))
        return plan


# --------------------------------------------------------------------------- prediction log
def _partition_end(parts: list[str]) -> datetime | None:
    """The end of the hour ``[model=…, date=YYYY-MM-DD, hour=HH]`` covers (None: not a partition)."""
    if len(parts) < 3 or not parts[0].startswith("model=") or not parts[1].startswith("date="):
        return None
    if not parts[2].startswith("hour="):
        return None
    try:
        start = datetime.strptime(f"{parts[1][5:]} {parts[2][5:]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        return None
    return start + timedelta(hours=1)


class PredictionLogsStore(RetentionStore[PredictionLogsPolicy]):
    """Hour partitions of the prediction log whose whole hour is older than the period."""

    type = "prediction_logs"

    def __init__(self, policy: PredictionLogsPolicy, context: RetentionContext) -> None:
        super().__init__(policy, context)
        self._whole_days: set[str] = set()  # model=…/date=… folders whose every file goes

    def _root(self) -> str:
        return self.context.prediction_log_root or str(self.context.state_dir / "predictions")

    def plan(self, cutoff: datetime) -> StorePlan:
        import pyarrow.fs as pafs

        plan = self.new_plan(cutoff)
        root = self._root()
        filesystem, base = self.context.filesystem(root)
        partitions: dict[str, Item] = {}
        # Per model and date: does every file of the day go? Then the day goes in one call.
        whole_day: dict[str, bool] = {}
        for info in filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
            if info.type != pafs.FileType.File:
                continue
            parts = info.path[len(base) :].strip("/").split("/")
            end = _partition_end(parts)
            day = "/".join(parts[:2])
            if end is None or end > cutoff:
                whole_day[day] = False
                continue
            whole_day.setdefault(day, True)
            key = "/".join(parts[:3])
            item = partitions.setdefault(key, Item(f"{root.rstrip('/')}/{key}", target=(filesystem, base, key)))
            item.bytes += info.size or 0
        plan.items = [partitions[k] for k in sorted(partitions)]
        self._whole_days = {day for day, whole in whole_day.items() if whole}
        return plan

    def delete(self, plan: StorePlan) -> list[Item]:
        done_days: set[str] = set()
        for item in plan.items:
            filesystem, base, key = item.target
            day = key.rsplit("/", 1)[0]
            if day in self._whole_days:
                if day not in done_days:
                    filesystem.delete_dir(f"{base}/{day}")
                    done_days.add(day)
                continue
            try:
                filesystem.delete_dir(f"{base}/{key}")
            except FileNotFoundError:
                continue  # gone meanwhile
        return list(plan.items)


# --------------------------------------------------------------------------- shadow logs
@contextlib.contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    # The serving process may be appending (WAL): wait for its write instead of failing.
    with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as conn, conn:
        yield conn


class ShadowLogsStore(RetentionStore[ShadowLogsPolicy]):
    """Rows of ``<state>/shadow/<model>.sqlite`` whose request time is older than the period."""

    type = "shadow_logs"

    def _files(self) -> list[Path]:
        return sorted((self.context.state_dir / "shadow").glob("*.sqlite"))

    def plan(self, cutoff: datetime) -> StorePlan:
        plan = self.new_plan(cutoff)
        for path in self._files():
            try:
                with _sqlite(path) as conn:
                    (rows,) = conn.execute(
                        f"SELECT count(*) FROM {SHADOW_TABLE} WHERE {SHADOW_TIME} < ?", (cutoff.timestamp(),)
                    ).fetchone()
            except sqlite3.Error as exc:
                if "no such table" in str(exc):
                    continue  # not a comparison log
                raise PrivacyError(f"shadow log {path}: cannot be read: {exc}") from None
            if rows:
                plan.items.append(Item(self.context.shown(path), rows=int(rows), target=path))
        return plan

    def delete(self, plan: StorePlan) -> list[Item]:
        done: list[Item] = []
        for item in plan.items:
            try:
                # The deleted rows are left readable neither in the file nor in its log.
                with scrubbed_sqlite(item.target) as conn:
                    cursor = conn.execute(
                        f"DELETE FROM {SHADOW_TABLE} WHERE {SHADOW_TIME} < ?", (plan.cutoff.timestamp(),)
                    )
                    rows = cursor.rowcount
            except sqlite3.Error as exc:
                raise PrivacyError(f"shadow log {item.target}: cannot delete old rows: {exc}") from None
            done.append(Item(item.location, rows=rows))
        return done


# --------------------------------------------------------------------------- batch outputs
BATCH_RUN_PREFIX = "run="
BATCH_MANIFEST = "_manifest.json"


def _batch_run_time(filesystem: pafs.FileSystem, run: str, files: list[pafs.FileInfo]) -> datetime | None:
    """When a batch run finished (its manifest), else its newest file's time (an unfinished run)."""
    try:
        with filesystem.open_input_stream(f"{run}/{BATCH_MANIFEST}") as stream:
            finished = json.loads(stream.read())["finished"]
        stamp = datetime.fromisoformat(finished)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except (OSError, ValueError, KeyError, TypeError):
        times = [f.mtime for f in files if f.mtime is not None]
        return max(times).astimezone(UTC) if times else None


class BatchOutputsStore(RetentionStore[BatchOutputsPolicy]):
    """``run=<id>/`` folders under each configured output root, by the time the run finished."""

    type = "batch_outputs"

    def plan(self, cutoff: datetime) -> StorePlan:
        import pyarrow.fs as pafs

        if not self.context.batch_output_roots:
            return self.new_plan(cutoff, skipped="no output roots configured (privacy.batch_outputs)")
        plan = self.new_plan(cutoff)
        for root in self.context.batch_output_roots:
            filesystem, base = self.context.filesystem(root)
            for entry in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
                if entry.type != pafs.FileType.Directory or not entry.base_name.startswith(BATCH_RUN_PREFIX):
                    continue
                files = [
                    f
                    for f in filesystem.get_file_info(pafs.FileSelector(entry.path, recursive=True))
                    if f.type == pafs.FileType.File
                ]
                finished = _batch_run_time(filesystem, entry.path, files)
                if finished is None or finished >= cutoff:
                    continue
                location = f"{root.rstrip('/')}/{entry.base_name}"
                plan.items.append(Item(location, sum(f.size or 0 for f in files), target=(filesystem, entry.path)))
        return plan

    def delete(self, plan: StorePlan) -> list[Item]:
        for item in plan.items:
            filesystem, path = item.target
            filesystem.delete_dir(path)
        return list(plan.items)


# --------------------------------------------------------------------------- Feast offline
def _trim_parquet(path: Path, column: str, cutoff: datetime, *, dry_run: bool) -> int:
    """Rows of the parquet file older than ``cutoff``; unless ``dry_run``, the file is rewritten
    without them beside itself and renamed into place (a reader sees the old or the new file)."""
    import pyarrow.compute as pc
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    stamps = pq.read_table(path, columns=[column]).column(column)
    if stamps.type.tz is None:  # Feast reads naive event times as UTC
        old_mask = pc.less(stamps, pc.cast(cutoff.replace(tzinfo=None), stamps.type))
    else:
        old_mask = pc.less(stamps, pc.cast(cutoff, stamps.type))
    old = int(pc.sum(old_mask).as_py() or 0)
    if dry_run or not old:
        return old
    table = pq.read_table(path)
    kept = table.filter(pc.invert(pc.fill_null(old_mask, False)))
    replace_file(str(path), pafs.LocalFileSystem(), lambda target: pq.write_table(kept, target))
    return old


class FeastOfflineStore(RetentionStore[FeastOfflinePolicy]):
    """Rows of each feature view's offline source older than the period, by event timestamp.

    Held under the Feast build lock, so a feature build never writes a source while its old
    rows are cut. The online store is not touched: it holds each entity's newest values, which
    a later build replaces."""

    type = "feast_offline"

    def _tables(self) -> list[OfflineTable] | None:
        return self.context.offline_tables() if self.context.offline_tables is not None else None

    def _rows(self, table: OfflineTable, cutoff: datetime, *, dry_run: bool) -> int:
        if table.kind == "parquet":
            path = Path(table.location)
            return _trim_parquet(path, table.timestamp_column, cutoff, dry_run=dry_run) if path.exists() else 0
        if table.kind == "postgres" and table.connect is not None:
            from psycopg import sql

            column = sql.Identifier(table.timestamp_column)
            verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
            query = sql.SQL(verb + " {} WHERE {} < %s").format(sql.SQL(table.location), column)
            with table.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s)", (table.location,))
                if cur.fetchone()[0] is None:
                    return 0
                cur.execute(query, (cutoff,))
                return int(cur.fetchone()[0]) if dry_run else int(cur.rowcount)
        raise PrivacyError(f"feast offline source of view {table.view}: unsupported kind {table.kind!r}")

    def plan(self, cutoff: datetime) -> StorePlan:
        tables = self._tables()
        if tables is None:
            return self.new_plan(cutoff, skipped="no feature store in this environment")
        plan = self.new_plan(cutoff)
        if not tables:
            return plan  # no feature view yet (and no lock file made by a dry run)
        with file_lock(self.context.state_dir / "feast" / "build.lock"):
            for table in tables:
                rows = self._rows(table, cutoff, dry_run=True)
                if rows:
                    location = self.context.shown(table.location) if table.kind == "parquet" else table.location
                    plan.items.append(Item(f"{table.view}: {location}", rows=rows, target=table))
        return plan

    def delete(self, plan: StorePlan) -> list[Item]:
        done: list[Item] = []
        if not plan.items:
            return done
        with file_lock(self.context.state_dir / "feast" / "build.lock"):
            for item in plan.items:
                rows = self._rows(item.target, plan.cutoff, dry_run=False)
                done.append(Item(item.location, rows=rows))
        return done


# --------------------------------------------------------------------------- backups
class BackupsStore(RetentionStore[BackupsPolicy]):
    """Backups older than the period, and those the strategies' keep rules drop (``mlops backup
    prune``'s own code). Refused, before anything is deleted anywhere, when that would remove a
    backup the newest restore point needs: the newest complete backup, and for every target the
    newest backup holding it (a restore of the whole platform takes each target from there)."""

    type = "backups"

    def plan(self, cutoff: datetime) -> StorePlan:
        from backup.service import list_backups, prune_backups

        access = self.context.backups() if self.context.backups is not None else None
        if access is None:
            return self.new_plan(cutoff, skipped="no backup repository in this environment")
        plan = self.new_plan(cutoff)
        backups = list_backups(access.repository)
        if not backups:
            return plan
        needed: dict[str, list[str]] = {backups[-1].backup_id: ["the newest backup"]}
        targets = {t for b in backups for t, status in b.targets.items() if status == "complete"}
        for target in sorted(targets):
            newest = next(b for b in reversed(backups) if b.targets.get(target) == "complete")
            needed.setdefault(newest.backup_id, []).append(f"the newest of target {target}")
        dropped: dict[str, str] = {}
        if self.policy.prune_strategies and access.strategies:
            for strategy, outcome in prune_backups(access.repository, access.strategies, dry_run=True).items():
                for backup_id in outcome["removed"]:
                    dropped.setdefault(backup_id, f"strategy {strategy}'s keep rules")
        for b in backups:
            if datetime.fromisoformat(b.time.replace("Z", "+00:00")) < cutoff:
                dropped.setdefault(b.backup_id, f"older than {self.policy.days} days")
        refused = [f"{i} ({', '.join(needed[i])}; dropped by {dropped[i]})" for i in dropped if i in needed]
        if refused:
            raise PrivacyError(
                f"backups: refused, nothing deleted: the policy (days: {self.policy.days}) would delete "
                f"backup(s) the newest restore point needs: {'; '.join(refused)}; raise the period "
                "or take a new backup first"
            )
        for b in backups:
            if b.backup_id in dropped:
                location = f"backup {b.backup_id} ({b.time[:19]}, {b.strategy or 'manual'}): {dropped[b.backup_id]}"
                plan.items.append(Item(location, b.size, target=(b.snapshot, dropped[b.backup_id])))
        return plan

    def delete(self, plan: StorePlan) -> list[Item]:
        from backup.service import prune_backups

        if not plan.items:
            return []
        access = self.context.backups() if self.context.backups is not None else None
        assert access is not None  # the plan listed its backups
        by_age = [i.target[0] for i in plan.items if not i.target[1].startswith("strategy ")]
        if by_age:
            access.repository.run(["forget", *by_age])
        pruned = False
        if self.policy.prune_strategies and access.strategies:
            outcome = prune_backups(access.repository, access.strategies)
            pruned = any(r["removed"] for r in outcome.values())
        if by_age and not pruned:
            access.repository.run(["prune"])  # frees the space of what forget dropped
        return list(plan.items)


# The explicit registry: policy type -> the store that applies it.
STORES: dict[str, type[RetentionStore[Any]]] = {
    cls.type: cls
    for cls in (
        RawDatasetsStore,
        QuarantineStore,
        RunFoldersStore,
        PredictionLogsStore,
        ShadowLogsStore,
        BatchOutputsStore,
        FeastOfflineStore,
        BackupsStore,
    )
}


__all__ = [
    "DATASET_ARTIFACTS",
    "QUARANTINE_ARTIFACTS",
    "STORES",
    "BackupAccess",
    "BackupsStore",
    "BatchOutputsStore",
    "FeastOfflineStore",
    "Item",
    "OfflineTable",
    "PredictionLogsStore",
    "QuarantineStore",
    "RawDatasetsStore",
    "RetentionContext",
    "RetentionStore",
    "RunFoldersStore",
    "ShadowLogsStore",
    "StorePlan",
]
