"""Backup targets: one class per store, found through the explicit :data:`TARGETS` dict.

A target writes its store's contents as files into a staging folder (``dump``), puts such
files back (``restore``) and says whether the store holds anything (``is_empty``: a restore
into a store that holds data needs ``--force``). A store the environment does not have is
skipped, with the reason (:meth:`Target.missing`), never an error.

The online store (Redis) is backed up key by key (``DUMP`` + ``PTTL``) and restored with
``RESTORE … REPLACE``, over the network: the RDB file is not reachable on a managed Redis, and
replacing it would mean stopping the server, which is the deployment's business. The keys are
a cache of the offline store, so a scan that is not one point in time is acceptable; the other
way back is a rebuild by materialisation (the online-store playbook).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from backup.environment import BackupEnvironment, PostgresEndpoint, Tree
from mlops.errors import BackupError

# Debian keeps the versioned PostgreSQL client programs here; /usr/bin has wrappers at best.
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
CHILD_TIMEOUT_S = 3600.0


@dataclass
class TargetDump:
    """What a target wrote: a one-line description and the versions of the tools that wrote it."""

    detail: str
    tools: dict[str, str] = field(default_factory=dict)


def pg_tool(name: str) -> str:
    for folder in PG_BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"`{name}` is not installed: install Debian's postgresql-client")
    return found


def run_tool(cmd: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    """Run a child program; its stdout, or a :class:`BackupError` naming ``what`` and its stderr."""
    try:
        done = subprocess.run(
            cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what}: {exc}") from None
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class Target(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def missing(self, env: BackupEnvironment) -> str | None:
        """Why the environment has no such store (the target is then skipped); None if it has."""

    def unrestorable(self, env: BackupEnvironment) -> str | None:
        """Why nothing can be restored into the environment (it has no place for this store); a
        store merely not created yet (a lost folder or SQLite file) is restored into."""
        return self.missing(env)

    @abstractmethod
    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        """Write the store's contents as files under ``into`` (an empty folder)."""

    @abstractmethod
    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        """Put the files of a dump back into the store (``force``: replace what it holds)."""

    @abstractmethod
    def is_empty(self, env: BackupEnvironment) -> bool:
        """Whether the store holds nothing a restore would overwrite."""


# --------------------------------------------------------------------------- databases
class _PostgresDatabase:
    """``pg_dump -Fc`` / ``pg_restore`` of one database, as the endpoint's role: its password by
    ``PGPASSWORD``, or, when the endpoint has none, from the file ``PGPASSFILE`` names (libpq)."""

    def __init__(self, pg: PostgresEndpoint, database: str) -> None:
        self.pg, self.database = pg, database

    def _env(self) -> dict[str, str]:
        env = {"PGCONNECT_TIMEOUT": "5"}
        if self.pg.password is not None:
            env["PGPASSWORD"] = self.pg.password
        return env

    def _conn(self) -> list[str]:
        return ["-h", self.pg.host, "-p", str(self.pg.port), "-U", self.pg.user, "-d", self.database]

    def dump(self, file: Path) -> TargetDump:
        tool = pg_tool("pg_dump")
        run_tool([tool, "-Fc", *self._conn(), "-f", str(file)], env=self._env(), what=f"pg_dump of {self.database}")
        version = run_tool([tool, "--version"], what="pg_dump --version").strip()
        return TargetDump(f"pg_dump -Fc of database {self.database}", {"pg_dump": version})

    def restore(self, file: Path, force: bool) -> None:
        flags = ["--clean", "--if-exists"] if force else []
        run_tool(
            [pg_tool("pg_restore"), *self._conn(), *flags, "--single-transaction", "--exit-on-error", str(file)],
            env=self._env(),
            what=f"pg_restore into database {self.database}",
        )

    def is_empty(self) -> bool:
        import psycopg

        pg = self.pg
        try:
            with psycopg.connect(
                host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=self.database, connect_timeout=5
            ) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') "
                    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                ).fetchone()
        except psycopg.Error as exc:
            raise BackupError(f"database {self.database} at {pg.host}:{pg.port}: {exc}".strip()) from None
        return row is None or row[0] == 0


def _sqlite_copy(src: Path, dst: Path) -> None:
    """SQLite's online backup API: a consistent copy even while MLflow writes."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def _sqlite_empty(path: Path) -> bool:
    if not path.exists():
        return True
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        count = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    conn.close()
    return bool(count == 0)


class _Database(Target):
    """A database the platform writes: ``pg_dump -Fc`` of it when the environment has it on
    PostgreSQL, else SQLite's online backup of its file (``sqlite_name`` in the dump)."""

    what: ClassVar[str]  # how messages name the store: "registry database"
    sqlite_name: ClassVar[str]

    @abstractmethod
    def database_name(self, env: BackupEnvironment) -> str:
        """The database's name on the environment's PostgreSQL (when it has one)."""

    @abstractmethod
    def _sqlite(self, env: BackupEnvironment) -> Path | None:
        """The SQLite file it is otherwise (None: the environment has none)."""

    def _pg(self, env: BackupEnvironment) -> _PostgresDatabase | None:
        database = self.database_name(env)
        pg = env.database(database)
        return None if pg is None else _PostgresDatabase(pg, database)

    def missing(self, env: BackupEnvironment) -> str | None:
        sqlite = self._sqlite(env)
        if self._pg(env) is not None or (sqlite is not None and sqlite.exists()):
            return None
        return f"no {self.what} (looked for {sqlite})" if sqlite else f"no {self.what}"

    def unrestorable(self, env: BackupEnvironment) -> str | None:
        return None if self._pg(env) is not None or self._sqlite(env) is not None else f"no {self.what}"

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        if (db := self._pg(env)) is not None:
            return db.dump(into / f"{db.database}.dump")
        sqlite = self._sqlite(env)
        assert sqlite is not None
        _sqlite_copy(sqlite, into / self.sqlite_name)
        return TargetDump(f"SQLite backup of {sqlite}", {"sqlite": sqlite3.sqlite_version})

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        dumps = sorted(from_.glob("*.dump"))
        if (db := self._pg(env)) is not None:
            if not dumps:
                raise BackupError(f"target {self.name}: the backup holds no pg_dump file (made on SQLite?)")
            db.restore(dumps[0], force)
            return
        sqlite = self._sqlite(env)
        if sqlite is None or not (from_ / self.sqlite_name).exists():
            raise BackupError(f"target {self.name}: the backup holds no {self.sqlite_name} for a SQLite {self.what}")
        _sqlite_copy(from_ / self.sqlite_name, sqlite)

    def is_empty(self, env: BackupEnvironment) -> bool:
        if (db := self._pg(env)) is not None:
            return db.is_empty()
        sqlite = self._sqlite(env)
        return sqlite is None or _sqlite_empty(sqlite)


class MlflowDb(_Database):
    name = "mlflow-db"
    description = "MLflow tracking and registry database (pg_dump -Fc, or SQLite's online backup)"
    what = "registry database"
    sqlite_name = "mlflow.db"

    def database_name(self, env: BackupEnvironment) -> str:
        return env.mlflow_database

    def _sqlite(self, env: BackupEnvironment) -> Path | None:
        return env.mlflow_sqlite


class ConsentDb(_Database):
    # Withdrawn consent that a restore forgot would put people back into training: the records
    # are backed up as the registry is (hourly too), and erasures since are applied on restore.
    name = "consent-db"
    description = "consent records of privacy.consent (pg_dump -Fc, or SQLite's online backup)"
    what = "consent database"
    sqlite_name = "consent.db"

    def database_name(self, env: BackupEnvironment) -> str:
        return env.consent_database

    def _sqlite(self, env: BackupEnvironment) -> Path | None:
        return env.consent_sqlite


class FeastRegistry(Target):
    name = "feast-registry"
    description = "Feast registry and offline tables (pg_dump of the feast database, or registry.db)"

    def missing(self, env: BackupEnvironment) -> str | None:
        if env.database(env.feast_database) is not None:
            return None
        if env.feast_registry_file is not None and env.feast_registry_file.exists():
            return None
        return f"no Feast registry (looked for {env.feast_registry_file})"

    def unrestorable(self, env: BackupEnvironment) -> str | None:
        has = env.database(env.feast_database) is not None or env.feast_registry_file is not None
        return None if has else "no Feast registry"

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        if (pg := env.database(env.feast_database)) is not None:
            return _PostgresDatabase(pg, env.feast_database).dump(into / f"{env.feast_database}.dump")
        assert env.feast_registry_file is not None
        shutil.copy2(env.feast_registry_file, into / "registry.db")
        return TargetDump(f"copy of {env.feast_registry_file}")

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        if (pg := env.database(env.feast_database)) is not None:
            dumps = sorted(from_.glob("*.dump"))
            if not dumps:
                raise BackupError(f"target {self.name}: the backup holds no pg_dump file (made on a file registry?)")
            _PostgresDatabase(pg, env.feast_database).restore(dumps[0], force)
            return
        if env.feast_registry_file is None or not (from_ / "registry.db").exists():
            raise BackupError(f"target {self.name}: the backup holds no registry.db for a file registry")
        env.feast_registry_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(from_ / "registry.db", env.feast_registry_file)

    def is_empty(self, env: BackupEnvironment) -> bool:
        if (pg := env.database(env.feast_database)) is not None:
            return _PostgresDatabase(pg, env.feast_database).is_empty()
        return env.feast_registry_file is None or not env.feast_registry_file.exists()


# --------------------------------------------------------------------------- trees of files
def tree_fs(tree: Tree) -> Any:
    from pyarrow import fs

    return tree.store.filesystem() if tree.store is not None else fs.LocalFileSystem()


def tree_files(tree: Tree) -> Iterator[tuple[str, str]]:
    """(path in the file system, path relative to the root) of every file, excluded folders left out."""
    from pyarrow import fs

    filesystem = tree_fs(tree)
    root = tree.root.rstrip("/")
    try:
        infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise BackupError(f"{tree.describe()}: cannot list: {exc}") from None
    for info in infos:
        if info.type != fs.FileType.File:
            continue
        rel = info.path[len(root) :].lstrip("/")
        if any(rel == ex or rel.startswith(ex.rstrip("/") + "/") for ex in tree.exclude):
            continue
        yield info.path, rel


def _copy_stream(src: BinaryIO | Any, dst: BinaryIO | Any) -> None:
    while chunk := src.read(1 << 20):
        dst.write(chunk)


class _TreeTarget(Target):
    """Every file under a folder or an object-store prefix, with its relative path."""

    @abstractmethod
    def tree(self, env: BackupEnvironment) -> Tree | None: ...

    def missing(self, env: BackupEnvironment) -> str | None:
        tree = self.tree(env)
        if tree is None:
            return "not part of this environment"
        if tree.store is None and not Path(tree.root).is_dir():
            return f"no folder {tree.root}"
        return None

    def unrestorable(self, env: BackupEnvironment) -> str | None:
        tree = self.tree(env)
        return "not part of this environment" if tree is None else tree.read_only

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        tree = self.tree(env)
        assert tree is not None
        filesystem = tree_fs(tree)
        count = 0
        for path, rel in tree_files(tree):
            local = into / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            with filesystem.open_input_stream(path) as src, local.open("wb") as dst:
                _copy_stream(src, dst)
            count += 1
        return TargetDump(f"{count} file(s) from {tree.describe()}")

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        tree = self.tree(env)
        assert tree is not None
        filesystem = tree_fs(tree)
        root = tree.root.rstrip("/")
        for local in sorted(p for p in from_.rglob("*") if p.is_file()):
            dest = f"{root}/{local.relative_to(from_).as_posix()}"
            if tree.store is None:
                Path(dest).parent.mkdir(parents=True, exist_ok=True)
            with local.open("rb") as src, filesystem.open_output_stream(dest) as dst:
                _copy_stream(src, dst)

    def is_empty(self, env: BackupEnvironment) -> bool:
        tree = self.tree(env)
        return tree is None or next(tree_files(tree), None) is None


class Artifacts(_TreeTarget):
    name = "artifacts"
    description = "model artifacts (the artifacts bucket, or the local registry's artifact folder)"

    def tree(self, env: BackupEnvironment) -> Tree | None:
        return env.artifacts


class FeastOffline(_TreeTarget):
    name = "feast-offline"
    description = (
        "Feast's offline sources: the parquet files the feature views read, or the offline "
        "store's own database (pg_dump -Fc); tables kept in the registry's database are in the "
        "feast-registry target's pg_dump"
    )

    def tree(self, env: BackupEnvironment) -> Tree | None:
        return env.feast_offline

    def _database(self, env: BackupEnvironment) -> _PostgresDatabase | None:
        if env.feast_offline_database is None:
            return None
        pg = env.database(env.feast_offline_database)
        return None if pg is None else _PostgresDatabase(pg, env.feast_offline_database)

    def _in_database(self, env: BackupEnvironment) -> str | None:
        if env.feast_offline_database is not None:
            return None if self._database(env) else f"no endpoint for database {env.feast_offline_database}"
        if not env.feast_offline_in_database:
            return None
        return (
            f"Feast's offline tables are in database {env.feast_database}: "
            "the feast-registry target's pg_dump backs them up and restores them"
        )

    def missing(self, env: BackupEnvironment) -> str | None:
        if env.feast_offline_database is not None:
            return self._in_database(env)
        return self._in_database(env) or super().missing(env)

    def unrestorable(self, env: BackupEnvironment) -> str | None:
        if env.feast_offline_database is not None:
            return self._in_database(env)
        return self._in_database(env) or super().unrestorable(env)

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        if (db := self._database(env)) is not None:
            return db.dump(into / f"{db.database}.dump")
        return super().dump(into, env)

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        if (db := self._database(env)) is not None:
            dumps = sorted(from_.glob("*.dump"))
            if not dumps:
                raise BackupError(f"target {self.name}: the backup holds no pg_dump file (made from parquet files?)")
            db.restore(dumps[0], force)
            return
        super().restore(from_, env, force)

    def is_empty(self, env: BackupEnvironment) -> bool:
        if (db := self._database(env)) is not None:
            return db.is_empty()
        return super().is_empty(env)


class PredictionLogs(_TreeTarget):
    name = "prediction-logs"
    description = "the prediction log (a folder or an object-store prefix)"

    def tree(self, env: BackupEnvironment) -> Tree | None:
        return env.prediction_logs


class ShadowLogs(_TreeTarget):
    name = "shadow-logs"
    description = "the shadow comparison logs (one SQLite file per model)"

    def tree(self, env: BackupEnvironment) -> Tree | None:
        return env.shadow_logs


class Config(_TreeTarget):
    name = "config"
    description = "the platform's config/ folder"

    def tree(self, env: BackupEnvironment) -> Tree | None:
        return None if env.config_dir is None else Tree(str(env.config_dir.resolve()), read_only=env.config_read_only)


# --------------------------------------------------------------------------- online store
# One record per key: key length, key, PTTL in ms (-1: none), payload length, DUMP payload.
_HEAD = struct.Struct(">I")
_TTL = struct.Struct(">q")


class OnlineStore(Target):
    name = "online-store"
    description = "Feast online store on Redis (DUMP/RESTORE per key; or rebuild by materialisation)"

    def missing(self, env: BackupEnvironment) -> str | None:
        return None if env.redis is not None else "no Redis online store (rebuilt by materialisation)"

    def _client(self, env: BackupEnvironment) -> Any:
        import redis

        assert env.redis is not None
        return redis.Redis(
            host=env.redis.host,
            port=env.redis.port,
            password=env.redis.password,
            socket_timeout=30,
            socket_connect_timeout=3,
        )

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        count = 0
        with self._client(env) as client, (into / "keys.bin").open("wb") as out:
            version = str(client.info("server")["redis_version"])
            for key in client.scan_iter(count=1000):
                payload, ttl = client.dump(key), client.pttl(key)
                if payload is None or ttl == -2:  # expired or deleted while scanning
                    continue
                out.write(_HEAD.pack(len(key)) + key + _TTL.pack(ttl) + _HEAD.pack(len(payload)) + payload)
                count += 1
        return TargetDump(f"{count} key(s) (DUMP per key)", {"redis": version})

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        data = (from_ / "keys.bin").read_bytes()
        with self._client(env) as client:
            pipe = client.pipeline(transaction=False)
            at = 0
            while at < len(data):
                (klen,) = _HEAD.unpack_from(data, at)
                key = data[at + 4 : at + 4 + klen]
                at += 4 + klen
                (ttl,) = _TTL.unpack_from(data, at)
                (plen,) = _HEAD.unpack_from(data, at + 8)
                payload = data[at + 12 : at + 12 + plen]
                at += 12 + plen
                pipe.restore(key, max(ttl, 0), payload, replace=force)
            pipe.execute()

    def is_empty(self, env: BackupEnvironment) -> bool:
        with self._client(env) as client:
            return int(client.dbsize()) == 0


# --------------------------------------------------------------------------- OpenBao
class OpenBao(Target):
    name = "openbao"
    description = "OpenBao raft snapshot (unseal keys are not in it: keep them apart)"

    def missing(self, env: BackupEnvironment) -> str | None:
        return None if env.openbao is not None else "no OpenBao in this environment"

    def _client(self, env: BackupEnvironment) -> Any:
        import hvac

        assert env.openbao is not None
        return hvac.Client(url=env.openbao.url, token=env.openbao.token, timeout=60)

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        client = self._client(env)
        try:
            response = client.sys.take_raft_snapshot()
            response.raise_for_status()
            version = str(client.sys.read_health_status(method="GET").get("version", "?"))
        except Exception as exc:  # hvac and requests raise many types; the message names the store
            raise BackupError(
                f"OpenBao at {env.openbao.url if env.openbao else '?'}: raft snapshot failed: {exc}"
            ) from None
        (into / "raft.snap").write_bytes(response.content)
        return TargetDump("raft snapshot", {"openbao": version})

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        client = self._client(env)
        snapshot = (from_ / "raft.snap").read_bytes()
        response = client.sys.force_restore_raft_snapshot(snapshot)
        if getattr(response, "status_code", 204) >= 400:
            raise BackupError(f"OpenBao raft restore failed: {getattr(response, 'text', response)}")

    def is_empty(self, env: BackupEnvironment) -> bool:
        import hvac.exceptions

        client = self._client(env)
        mounts = client.sys.list_mounted_secrets_engines()["data"]
        kv = [path.rstrip("/") for path, mount in mounts.items() if mount.get("type") == "kv"]
        for mount in kv:
            try:
                if client.secrets.kv.v2.list_secrets(path="", mount_point=mount)["data"]["keys"]:
                    return False
            except hvac.exceptions.InvalidPath:
                continue
        return True


# The explicit registry of backup targets, in backup and restore order.
TARGETS: dict[str, type[Target]] = {
    cls.name: cls
    for cls in (
        MlflowDb,
        ConsentDb,
        FeastRegistry,
        FeastOffline,
        Artifacts,
        OnlineStore,
        PredictionLogs,
        ShadowLogs,
        OpenBao,
        Config,
    )
}

__all__ = ["TARGETS", "Target", "TargetDump"]
