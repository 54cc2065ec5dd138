"""``create``, ``list``, ``verify``, ``restore`` and ``prune``: the operations behind ``mlops backup``.

One backup run is one restic snapshot: every target dumps into its own folder of a staging
folder, ``manifest.json`` is written last, and restic stores the whole folder with the tags
``mlops-backup``, ``id:<backup id>``, ``strategy:<name>`` and ``env:<name>``. A run that fails
or is killed before restic finishes stores no snapshot, so it is never listed; its leftovers
(staging folder, restic's lock) are cleared by the next run.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backup.environment import BackupEnvironment
from backup.manifest import MANIFEST, Manifest, TargetEntry, files_of, parse_manifest
from backup.repository import Repository
from backup.strategy import Strategy
from backup.targets import TARGETS, Target, TargetDump
from backup.tombstones import read_tombstones, tombstone_key
from mlops.errors import BackupError, BackupNotFoundError, BackupVerifyError, RestoreRefusedError
from mlops.hashing import file_sha256
from mlops.state import process_running

REPO_ROOT = Path(__file__).resolve().parents[1]
MANUAL = "manual"  # the strategy tag of a run given --targets only: no retention rule prunes it


def new_backup_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def code_version() -> str:
    """``git describe`` of the checkout, else the installed package's version."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode == 0 and done.stdout.strip():
            return f"git {done.stdout.strip()}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"mlops-platform {version('mlops-platform')}"
    except PackageNotFoundError:
        return "unknown"


def select_targets(
    names: Sequence[str] | None, strategy: Strategy | None, registry: Mapping[str, type[Target]] = TARGETS
) -> list[str]:
    chosen = list(names) if names else (strategy.targets if strategy else list(registry))
    unknown = [n for n in chosen if n not in registry]
    if unknown:
        raise BackupError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    return [n for n in registry if n in chosen]  # the registry's order


# --------------------------------------------------------------------------- staging
def _clear_stale_staging(workdir: Path) -> None:
    """Remove the staging folders of runs whose process is gone (killed half-way)."""
    for folder in workdir.glob("staging-*"):
        try:
            pid = int((folder / ".pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid == 0 or not process_running(pid):
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _staging(workdir: Path, backup_id: str) -> Iterator[Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)  # dumps hold every store's data
    _clear_stale_staging(workdir)
    folder = workdir / f"staging-{backup_id}"
    folder.mkdir(mode=0o700)
    (folder / ".pid").write_text(str(os.getpid()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- create
def create_backup(
    env: BackupEnvironment,
    repo: Repository,
    workdir: Path,
    *,
    targets: Sequence[str] | None = None,
    strategy: Strategy | None = None,
    registry: Mapping[str, type[Target]] = TARGETS,
) -> Manifest:
    """Dump every selected target, then store it all as one snapshot; the manifest stored."""
    names = select_targets(targets, strategy, registry)
    backup_id = new_backup_id()
    started = _now()
    repo.ensure(create=True)
    repo.unlock_stale()
    tools = {"restic": repo.version()}
    entries: list[TargetEntry] = []
    with _staging(workdir, backup_id) as staging:
        for name in names:
            target = registry[name]()
            why = env.unavailable.get(name) or target.missing(env)
            if why is not None:
                entries.append(TargetEntry(name=name, status="skipped", detail=why))
                continue
            folder = staging / name
            folder.mkdir()
            try:
                dump: TargetDump = target.dump(folder, env)
            except BackupError as exc:
                raise BackupError(f"backup {backup_id}: target {name}: {exc}") from None
            except Exception as exc:  # any failure of a store's client: named, nothing stored
                raise BackupError(f"backup {backup_id}: target {name}: {type(exc).__name__}: {exc}") from exc
            tools |= dump.tools
            entries.append(
                TargetEntry(name=name, status="complete", detail=dump.detail, files=files_of(staging, folder))
            )
        manifest = Manifest(
            backup_id=backup_id,
            environment=env.name,
            strategy=strategy.name if strategy else None,
            started_at=started,
            ended_at=_now(),
            code_version=code_version(),
            tool_versions=tools,
            targets=entries,
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
        tags = ["mlops-backup", f"id:{backup_id}", f"strategy:{manifest.strategy or MANUAL}", f"env:{env.name}"]
        repo.run(
            ["backup", "--host", repo.host, "--tag", ",".join(tags), "--exclude", ".pid", "."],
            cwd=staging,
        )
    return manifest


# --------------------------------------------------------------------------- list
@dataclass
class BackupSummary:
    backup_id: str
    snapshot: str
    time: str
    environment: str
    strategy: str | None
    format: int
    size: int
    targets: dict[str, str]  # name -> complete | skipped
    started_at: str = ""
    ended_at: str = ""
    code_version: str = ""
    tool_versions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tag(snapshot: Mapping[str, Any], key: str) -> str | None:
    return next((t.split(":", 1)[1] for t in snapshot.get("tags") or [] if t.startswith(f"{key}:")), None)


def _read_raw_manifest(repo: Repository, snapshot: str) -> dict[str, Any] | None:
    import json

    text = repo.manifest(snapshot, f"/{MANIFEST}")
    if text is None:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    return raw if isinstance(raw, dict) else None


def list_backups(repo: Repository) -> list[BackupSummary]:
    """Every complete backup, oldest first: a snapshot whose stored manifest says ``complete``."""
    repo.ensure(create=False)
    found = []
    for snap in repo.snapshots():
        raw = _read_raw_manifest(repo, snap["id"])
        if raw is None or raw.get("status") != "complete" or raw.get("backup_id") != _tag(snap, "id"):
            continue
        targets = raw.get("targets") or []
        found.append(
            BackupSummary(
                backup_id=str(raw["backup_id"]),
                snapshot=snap["short_id"],
                time=snap["time"],
                environment=str(raw.get("environment", "")),
                strategy=raw.get("strategy"),
                format=int(raw.get("format", 0)),
                size=sum(int(f.get("size", 0)) for t in targets for f in t.get("files", [])),
                targets={str(t.get("name")): str(t.get("status")) for t in targets},
                started_at=str(raw.get("started_at", "")),
                ended_at=str(raw.get("ended_at", "")),
                code_version=str(raw.get("code_version", "")),
                tool_versions=dict(raw.get("tool_versions") or {}),
            )
        )
    return found


def find_backup(repo: Repository, backup_id: str | None) -> tuple[str, Manifest]:
    """The snapshot id and manifest of ``backup_id`` (None: the newest complete backup)."""
    repo.ensure(create=False)
    snaps = repo.snapshots(f"id:{backup_id}") if backup_id else repo.snapshots()
    for snap in reversed(snaps):
        text = repo.manifest(snap["id"], f"/{MANIFEST}")
        if text is None:
            continue
        manifest = parse_manifest(text, f"backup {_tag(snap, 'id')}")
        if manifest.status == "complete":
            return snap["id"], manifest
    raise BackupNotFoundError(
        f"no complete backup {backup_id} in {repo.location}" if backup_id else f"no complete backup in {repo.location}"
    )


# --------------------------------------------------------------------------- verify
# "Pack ID does not match, want <id>, got …" and "pack <id>: …" name the damaged pack file.
_PACK = re.compile(r"(?:\bpack |Pack ID does not match, want )([0-9a-f]{64})")
_FILE_ERROR = re.compile(r"ignoring error for (\S+?):")


def _pack_files(repo: Repository, pack: str, snapshot: str) -> list[str]:
    """Files of ``snapshot`` holding a blob of ``pack`` (restic find --pack)."""
    found = repo.run(["find", "--pack", pack, "--json"], check=False)
    if found.returncode != 0:
        return []
    import json

    paths: list[str] = []
    try:
        data = json.loads(found.stdout or "[]")
    except ValueError:
        return []
    for item in data if isinstance(data, list) else [data]:
        if str(item.get("snapshot", "")).startswith(snapshot[:8]) or not snapshot:
            paths.append(str(item.get("path", "")))
    return sorted(set(paths))


def _restore_snapshot(repo: Repository, snapshot: str, into: Path, includes: Sequence[str] = ()) -> list[str]:
    """Restore into ``into``; the snapshot paths restic could not restore (empty when all went well)."""
    flags = [arg for inc in includes for arg in ("--include", f"/{inc}")]
    done = repo.run(["restore", snapshot, "--target", str(into), *flags], check=False)
    failed = sorted(set(_FILE_ERROR.findall(done.stderr)))
    if done.returncode != 0 and not failed:
        raise repo._error(["restore"], done)
    return failed


def _check_files(manifest: Manifest, root: Path, names: Sequence[str], unreadable: Sequence[str] = ()) -> list[str]:
    """Every manifest file of ``names`` re-hashed: one line per missing or different file."""
    problems = []
    for name in names:
        entry = manifest.target(name)
        for f in entry.files if entry else []:
            path = root / f.path
            if f"/{f.path}" in unreadable:
                continue  # already named as unreadable
            if not path.is_file():
                problems.append(f"target {name}: file {f.path} is missing from the restored snapshot")
            elif path.stat().st_size != f.size or file_sha256(path) != f.sha256:
                problems.append(f"target {name}: file {f.path} differs from its manifest sha256 {f.sha256[:12]}…")
    return problems


@dataclass
class VerifyReport:
    backup_id: str
    snapshot: str
    check_s: float
    restore_s: float
    files: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_backup(
    repo: Repository, workdir: Path, backup_id: str | None = None, *, read_data_subset: str | None = None
) -> VerifyReport:
    """``restic check --read-data`` (every stored object re-read and its hash checked), then the
    backup restored and every file re-hashed against the manifest. A failure names the stored
    object and the target whose files it holds."""
    snapshot, manifest = find_backup(repo, backup_id)
    repo.unlock_stale()
    start = time.monotonic()
    flag = f"--read-data-subset={read_data_subset}" if read_data_subset else "--read-data"
    check = repo.run(["check", flag], check=False)
    check_s = time.monotonic() - start
    if check.returncode != 0:
        output = check.stdout + check.stderr
        packs = sorted(set(_PACK.findall(output)))
        if not packs:
            raise repo._error(["check"], check)
        # The files whose blobs cannot be decrypted name the target precisely; a pack holds
        # blobs of several files, so its file list is only the fallback.
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir, prefix="verify-") as tmp:
            unreadable = _restore_snapshot(repo, snapshot, Path(tmp))
        lines = []
        for pack in packs:
            files = unreadable or _pack_files(repo, pack, snapshot)
            where = ", ".join(f"target {manifest.owner_of(p)} file {p.lstrip('/')}" for p in files) or (
                "no file of this backup"
            )
            lines.append(f"stored object data/{pack[:2]}/{pack} is corrupt ({where})")
        raise BackupVerifyError(f"backup {manifest.backup_id}: " + "; ".join(lines))
    names = [t.name for t in manifest.targets if t.status == "complete"]
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="verify-") as tmp:
        start = time.monotonic()
        failed = _restore_snapshot(repo, snapshot, Path(tmp))
        restore_s = time.monotonic() - start
        problems = [f"target {manifest.owner_of(p)}: file {p.lstrip('/')} cannot be read back" for p in failed]
        problems += _check_files(manifest, Path(tmp), names, failed)
    if problems:
        raise BackupVerifyError(f"backup {manifest.backup_id}: " + "; ".join(problems))
    stored = [f for t in manifest.targets for f in t.files]
    return VerifyReport(
        manifest.backup_id,
        snapshot[:8],
        round(check_s, 3),
        round(restore_s, 3),
        len(stored),
        sum(f.size for f in stored),
    )


# --------------------------------------------------------------------------- restore
@dataclass
class RestoreReport:
    backup_id: str
    environment: str
    restored: list[str]
    seconds: float
    # Erasure tombstones applied to the restored stores, and what that erased (rows per store).
    tombstones: int = 0
    erased: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Applies erasure tombstones (digests, their key) to the environment just restored; rows per store.
TombstoneApplier = Callable[[BackupEnvironment, frozenset[str], bytes], Mapping[str, int]]


def restore_backup(
    repo: Repository,
    env: BackupEnvironment,
    workdir: Path,
    backup_id: str,
    *,
    targets: Sequence[str] | None = None,
    force: bool = False,
    registry: Mapping[str, type[Target]] = TARGETS,
    apply_tombstones: TombstoneApplier | None = None,
    in_service: Callable[[Sequence[str]], None] | None = None,
) -> RestoreReport:
    """Restore ``targets`` (default: every target the backup holds) into ``env``.

    Subjects erased since (the repository's tombstones, :mod:`backup.tombstones`) are erased
    again from what was restored, by ``apply_tombstones``; without one, a repository holding
    tombstones refuses the restore (it would bring erased people back). ``in_service`` is
    called with the restored targets' names between the two: it brings the restored stores
    into service (a restored OpenBao is sealed with the backup's keys, and the erasure reads
    the stores' passwords from it).

    Everything is checked before any store is touched: the manifest's format, that each target
    is in the backup and in the environment, that each store is empty (unless ``force``), and
    that every restored file matches its manifest sha256."""
    start = time.monotonic()
    snapshot, manifest = find_backup(repo, backup_id)
    tombstones = read_tombstones(repo)
    if tombstones and apply_tombstones is None:
        raise RestoreRefusedError(
            f"the repository holds {len(tombstones)} erasure tombstone(s) and this restore has no way to apply "
            "them: restore with `mlops backup restore`, which erases those subjects again"
        )
    held = [t.name for t in manifest.targets if t.status == "complete"]
    names = select_targets(targets, None, registry) if targets else [n for n in registry if n in held]
    absent = [n for n in names if n not in held]
    if absent:
        raise RestoreRefusedError(
            f"backup {backup_id} holds no {', '.join(absent)} (it holds {', '.join(held) or 'nothing'})"
        )
    chosen = {n: registry[n]() for n in names}
    lacking = [
        f"{n} ({why})" for n, t in chosen.items() if (why := env.unavailable.get(n) or t.unrestorable(env)) is not None
    ]
    if lacking:
        raise RestoreRefusedError(f"environment {env.name} has no store for target(s) {', '.join(lacking)}")
    if not force:
        full = [n for n, t in chosen.items() if not t.is_empty(env)]
        if full:
            raise RestoreRefusedError(
                f"target(s) {', '.join(full)} in environment {env.name} are not empty: "
                "restoring would overwrite them; pass --force to replace their contents"
            )
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="restore-") as tmp:
        root = Path(tmp)
        failed = _restore_snapshot(repo, snapshot, root, names)
        problems = [f"target {manifest.owner_of(p)}: file {p.lstrip('/')} cannot be read back" for p in failed]
        problems += _check_files(manifest, root, names, failed)
        if problems:
            raise BackupVerifyError(f"backup {backup_id}, nothing restored: " + "; ".join(problems))
        for name, target in chosen.items():
            folder = root / name
            folder.mkdir(exist_ok=True)  # a target that dumped no file (an empty bucket) restores nothing
            try:
                target.restore(folder, env, force)
            except BackupError as exc:
                raise BackupError(f"restore of backup {backup_id}: target {name}: {exc}") from None
    if in_service is not None:
        in_service(names)
    erased: dict[str, int] = {}
    if tombstones and apply_tombstones is not None:
        erased = dict(apply_tombstones(env, tombstones, tombstone_key(repo)))
    return RestoreReport(backup_id, env.name, names, round(time.monotonic() - start, 3), len(tombstones), erased)


# --------------------------------------------------------------------------- prune
def prune_backups(
    repo: Repository, strategies: Sequence[Strategy], *, dry_run: bool = False
) -> dict[str, dict[str, list[str]]]:
    """restic forget + prune with each strategy's retention, over that strategy's backups only
    (``dry_run``: what forget would keep and remove; nothing changes)."""
    repo.ensure(create=False)
    if not dry_run:
        repo.unlock_stale()
    result: dict[str, dict[str, list[str]]] = {}
    for strategy in strategies:
        groups = repo.json(
            [
                "forget",
                "--tag",
                f"mlops-backup,strategy:{strategy.name}",
                "--group-by",
                "host",
                *strategy.retention.forget_flags(),
                *(["--dry-run"] if dry_run else []),
            ]
        )
        kept: list[str] = []
        removed: list[str] = []
        for group in groups or []:
            kept += [_tag(s, "id") or s["short_id"] for s in group.get("keep") or []]
            removed += [_tag(s, "id") or s["short_id"] for s in group.get("remove") or []]
        result[strategy.name] = {"kept": kept, "removed": removed}
    if not dry_run and any(r["removed"] for r in result.values()):
        repo.run(["prune"])  # frees the space of what forget dropped (an exclusive lock, once)
    return result


__all__ = [
    "BackupSummary",
    "RestoreReport",
    "TombstoneApplier",
    "VerifyReport",
    "create_backup",
    "find_backup",
    "list_backups",
    "new_backup_id",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]
