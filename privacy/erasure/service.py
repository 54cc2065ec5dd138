"""Right to erasure: one subject (or several) removed from every store the platform keeps.

    erase(scope, subjects)                       the stores, in this order:
      1. lineage      the registered versions whose training rows held a subject (read first:
                      the lineage files themselves are erased next), tagged ``erasure_pending``
      2. files        every folder and prefix of the scope (dataset copies, run folders with
                      their quarantine files and reports, Feast's parquet offline sources, the
                      prediction and shadow logs, registry artifacts, batch outputs, dataset
                      sources): parquet rows, SQLite rows, text occurrences (:mod:`.files`)
      3. feast        the online store (SQLite or Redis) and PostgreSQL offline tables
         consent      the subject's consent records (SQLite or PostgreSQL)
      4. backups      a tombstone per subject in the backup repository, applied on every restore
      5. receipt      ``<state>/privacy/receipts/<id>.json`` (stores, counts, times; no subject
                      data) and a line in ``<state>/privacy/audit.jsonl``

One erasure at a time per state folder, and none while a feature build writes the Feast files
(their locks). A pipeline step reading a parquet copy meanwhile keeps the file it opened: a file
is replaced whole, never rewritten in place.

A restore applies the repository's tombstones with :func:`apply_tombstones`: the same stores,
matched by digest. What erasure cannot reach is said in docs/privacy.md: a model's weights
(retrain), bytes a storage engine keeps until it compacts, and copies outside the platform.
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backup.environment import Tree
from mlops.errors import PrivacyError
from mlops.state import file_lock
from privacy.erasure.files import erase_tree
from privacy.erasure.subjects import SubjectMatcher

if TYPE_CHECKING:
    from feast import FeatureStore

    from backup.repository import Repository
    from model_registry.registry import ModelRegistry
    from privacy.consent import ConsentStore

PENDING_TAG = "erasure_pending"
# The column names the platform's own logs give an entity (shadow log: entity_id).
LOG_ID_COLUMNS = frozenset({"entity_id", "subject_id"})


@dataclass(frozen=True)
class ErasureScope:
    """Where one environment keeps subject data; built by the CLI from the platform config."""

    state_dir: Path
    # Store name -> the folders or prefixes that hold it (files erased by content).
    trees: Mapping[str, Sequence[Tree]]
    # Column names that hold a subject id: each dataset's entity id and subject id.
    id_columns: frozenset[str]
    feature_store: FeatureStore | None = None
    registry: ModelRegistry | None = None
    repository: Repository | None = None
    consent: ConsentStore | None = None

    @property
    def columns(self) -> frozenset[str]:
        return self.id_columns | LOG_ID_COLUMNS

    def close(self) -> None:
        """Release the consent store's database connections (a PostgreSQL pool otherwise stays
        open until the process ends, one per scope built)."""
        if self.consent is not None:
            self.consent.close()

    def __enter__(self) -> ErasureScope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class StoreResult:
    rows: int = 0
    files: int = 0
    detail: list[str] = field(default_factory=list)


@dataclass
class Receipt:
    """What an erasure did, per store: never the subject's id or data."""

    erasure_id: str
    dry_run: bool
    subjects: int
    started: str
    ended: str = ""
    duration_s: float = 0.0
    stores: dict[str, StoreResult] = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=list)
    tombstones_added: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.stores.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = self.rows
        return data


def privacy_dir(state_dir: Path) -> Path:
    return state_dir / "privacy"


def new_erasure_id(now: datetime | None = None) -> str:
    return f"erasure-{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(3).hex()}"


def trained_on(registry: ModelRegistry, matcher: SubjectMatcher, id_columns: Iterable[str]) -> list[tuple[str, str]]:
    """(model, version) of every registered version whose lineage lists a subject's rows."""
    from pyarrow import fs

    from privacy.erasure.files import erase_parquet

    found: list[tuple[str, str]] = []
    columns = frozenset(id_columns)
    local = fs.LocalFileSystem()
    with tempfile.TemporaryDirectory() as tmp:
        for name in registry.list_models():
            for info in registry.versions(name):
                folder = Path(tmp) / name / info.semver
                try:
                    held = registry.download(info, "lineage", folder)
                except Exception as exc:  # an artifact store that does not answer: say which version
                    raise PrivacyError(f"registry: lineage of {name} {info.semver} cannot be read: {exc}") from None
                if not held:
                    continue
                for path in sorted(folder.glob("*.parquet")):
                    if erase_parquet(str(path), local, matcher, columns, dry_run=True):
                        found.append((name, info.semver))
                        break
    return found


def _erase_files(scope: ErasureScope, matcher: SubjectMatcher, receipt: Receipt, dry_run: bool) -> None:
    for store, trees in scope.trees.items():
        result = receipt.stores.setdefault(store, StoreResult())
        for tree in trees:
            for hit in erase_tree(tree, matcher, scope.columns, dry_run=dry_run):
                result.rows += hit.rows
                result.files += 1
                result.detail.append(f"{hit.kind} {_shown(scope, hit.path)}: {hit.rows}")


def _shown(scope: ErasureScope, path: str) -> str:
    """A path relative to the state folder where it is inside it (receipts travel)."""
    try:
        return str(Path(path).resolve().relative_to(scope.state_dir.resolve()))
    except ValueError:
        return path


def _erase_feast(scope: ErasureScope, matcher: SubjectMatcher, receipt: Receipt, dry_run: bool) -> None:
    store = scope.feature_store
    if store is None:
        receipt.skipped["feast"] = "no feature store in this environment"
        return
    from feature_store.erasure import erase_offline_tables, erase_online

    if not store.list_feature_views():
        receipt.skipped["feast"] = "no feature view registered"
        return
    online = erase_online(store, matcher.select, dry_run=dry_run)
    receipt.stores["feast-online"] = StoreResult(
        rows=sum(online.values()), detail=[f"{view}: {n} entity key(s)" for view, n in online.items()]
    )
    offline = erase_offline_tables(store, matcher.select, dry_run=dry_run)
    if offline or str(store.config.offline_store.type) != "file":
        receipt.stores["feast-offline-tables"] = StoreResult(
            rows=sum(offline.values()), detail=[f"{view}: {n}" for view, n in offline.items()]
        )


def _erase_consent(scope: ErasureScope, matcher: SubjectMatcher, receipt: Receipt, dry_run: bool) -> None:
    store = scope.consent
    if store is None:
        return
    # A tombstone holds a digest only: the stored subjects are matched against it.
    subjects = matcher.select(store.subjects()) if matcher.digests else matcher.raw
    held = sum(len(store.history(s)) for s in subjects) if dry_run else 0
    removed = held if dry_run else store.erase(subjects)
    receipt.stores["consent-records"] = StoreResult(rows=removed, detail=[store.where] if removed else [])


def _locks(scope: ErasureScope) -> ExitStack:
    stack = ExitStack()
    stack.enter_context(file_lock(privacy_dir(scope.state_dir) / "erasure.lock"))
    # A feature build rewrites the offline parquet and the online store under this lock.
    stack.enter_context(file_lock(scope.state_dir / "feast" / "build.lock"))
    return stack


def erase(
    scope: ErasureScope,
    subjects: Sequence[str],
    *,
    hash_key: str | None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Receipt:
    """Erase ``subjects`` from every store of ``scope``; the receipt (written unless ``dry_run``)."""
    ids = [s.strip() for s in subjects if s and s.strip()]
    if not ids:
        raise PrivacyError("no subject id given (an empty id would match nothing or everything)")
    matcher = SubjectMatcher.for_subjects(ids, hash_key)
    started = now or datetime.now(UTC)
    receipt = Receipt(new_erasure_id(started), dry_run, len(set(ids)), started.isoformat())
    clock = time.perf_counter()
    with _locks(scope):
        if scope.registry is not None:
            versions = trained_on(scope.registry, matcher, scope.id_columns)
            receipt.model_versions = [f"{name} {semver}" for name, semver in versions]
            if not dry_run:
                for name, semver in versions:
                    scope.registry.set_tags(name, semver, {PENDING_TAG: receipt.erasure_id})
        else:
            receipt.skipped["registry"] = "no model registry in this environment"
        _erase_files(scope, matcher, receipt, dry_run)
        _erase_feast(scope, matcher, receipt, dry_run)
        _erase_consent(scope, matcher, receipt, dry_run)
        if scope.repository is None:
            receipt.skipped["backups"] = "no backup repository in this environment"
        elif not dry_run:
            from backup.tombstones import add_tombstones

            if scope.repository.exists():
                receipt.tombstones_added = add_tombstones(scope.repository, matcher.raw)
            else:
                receipt.skipped["backups"] = f"no backup repository at {scope.repository.location} yet"
    receipt.duration_s = round(time.perf_counter() - clock, 3)
    receipt.ended = datetime.now(UTC).isoformat()
    if not dry_run:
        _write_receipt(scope.state_dir, receipt)
    return receipt


def apply_tombstones(scope: ErasureScope, digests: frozenset[str], key: bytes) -> Receipt:
    """After a restore: erase again every subject a tombstone names, from the restored stores."""
    matcher = SubjectMatcher.for_tombstones(digests, key)
    started = datetime.now(UTC)
    receipt = Receipt(new_erasure_id(started), False, len(digests), started.isoformat())
    clock = time.perf_counter()
    if not matcher.empty:
        with _locks(scope):
            _erase_files(scope, matcher, receipt, dry_run=False)
            _erase_feast(scope, matcher, receipt, dry_run=False)
            _erase_consent(scope, matcher, receipt, dry_run=False)
    receipt.duration_s = round(time.perf_counter() - clock, 3)
    receipt.ended = datetime.now(UTC).isoformat()
    _write_receipt(scope.state_dir, receipt, action="restore-tombstones")
    return receipt


def _write_receipt(state_dir: Path, receipt: Receipt, action: str = "erase") -> Path:
    folder = privacy_dir(state_dir) / "receipts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{receipt.erasure_id}.json"
    path.write_text(json.dumps(receipt.as_dict(), indent=2) + "\n", encoding="utf-8")
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = str(os.getuid())
    line = {
        "time": receipt.ended,
        "action": action,
        "erasure_id": receipt.erasure_id,
        "operator": operator,
        "subjects": receipt.subjects,
        "rows": receipt.rows,
        "model_versions": receipt.model_versions,
        "receipt": str(path),
    }
    with (privacy_dir(state_dir) / "audit.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
    return path


__all__ = ["PENDING_TAG", "ErasureScope", "Receipt", "StoreResult", "apply_tombstones", "erase", "trained_on"]
