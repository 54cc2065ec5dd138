"""Where an environment's stores are: plain endpoints and credentials, filled by the caller.

The targets read nothing themselves: the CLI (or a test) builds a :class:`BackupEnvironment`
for the environment it backs up or restores into. :func:`dev_environment` describes the local
``dev`` files under the state folder; :func:`stack_environment` reads the local reference
deployment's record (``<state>/stack/stack.json`` and OpenBao's ``init.json``) as data, so this
room does not import the stack's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import BackupError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ObjectStoreEndpoint:
    """An S3-compatible endpoint and its key pair (handed to child tools as ``AWS_*``)."""

    endpoint: str  # http(s)://host:port
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def child_env(self) -> dict[str, str]:
        from mlops.object_store import Credentials, environment_for

        return environment_for(
            Credentials(self.access_key, self.secret_key), endpoint_url=self.endpoint, region=self.region
        )

    def filesystem(self) -> Any:
        from mlops.object_store import ObjectStoreConfig, s3_filesystem

        # The keys are plain values here (read from the stack's record): handed over as references
        # to themselves, so the one S3 set-up of the platform (timeouts, retries) applies.
        keys = {"env://ACCESS_KEY": self.access_key, "env://SECRET_KEY": self.secret_key}
        config = ObjectStoreConfig(
            endpoint_url=self.endpoint,
            region=self.region,
            access_key_id="env://ACCESS_KEY",
            secret_access_key="env://SECRET_KEY",  # pragma: allowlist secret
        )
        return s3_filesystem(config, keys.__getitem__)


@dataclass(frozen=True)
class PostgresEndpoint:
    host: str
    port: int
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OpenBaoEndpoint:
    url: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Tree:
    """A folder of files: local (``root`` a path) or objects under an S3 ``bucket/prefix``."""

    root: str  # a local folder, or "bucket/prefix" when ``store`` is set
    store: ObjectStoreEndpoint | None = None
    exclude: tuple[str, ...] = ()  # sub-folders (relative to root) that another target owns

    def describe(self) -> str:
        return f"s3://{self.root}" if self.store is not None else self.root


@dataclass(frozen=True)
class BackupEnvironment:
    """One environment's stores; a store left ``None`` is not part of it (its target is skipped)."""

    name: str
    config_dir: Path | None = None
    postgres: PostgresEndpoint | None = None
    mlflow_database: str = "mlflow"
    feast_database: str = "feast"
    mlflow_sqlite: Path | None = None
    feast_registry_file: Path | None = None
    artifacts: Tree | None = None
    feast_offline: Tree | None = None
    # Feast's offline tables live in ``feast_database`` instead of files (the PostgreSQL offline
    # store): its pg_dump (the feast-registry target) holds them.
    feast_offline_in_database: bool = False
    prediction_logs: Tree | None = None
    shadow_logs: Tree | None = None
    redis: RedisEndpoint | None = None
    openbao: OpenBaoEndpoint | None = None
    object_store: ObjectStoreEndpoint | None = None


def dev_environment(state: Path, config_dir: Path | None) -> BackupEnvironment:
    """``dev``: MLflow on SQLite, Feast's file registry, local artifacts and prediction log."""
    state = state.expanduser().resolve()
    offline, predictions, shadow = _state_trees(state)
    return BackupEnvironment(
        name="dev",
        config_dir=config_dir,
        mlflow_sqlite=state / "registry" / "mlflow.db",
        feast_registry_file=state / "feast" / "registry.db",
        artifacts=Tree(str(state / "registry" / "artifacts")),
        feast_offline=offline,
        prediction_logs=predictions,
        shadow_logs=shadow,
    )


def _state_trees(state: Path) -> tuple[Tree, Tree, Tree]:
    """What every environment keeps in its state folder: Feast's offline sources, the prediction
    log and the shadow logs."""
    return Tree(str(state / "feast" / "offline")), Tree(str(state / "predictions")), Tree(str(state / "shadow"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist: start the local stack first (make up)") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise BackupError(f"{path}: expected a JSON object")
    return data


def stack_environment(state: Path, config_dir: Path | None, *, name: str = "local-stack") -> BackupEnvironment:
    """The local reference deployment under ``<state>/stack``: every store, with its credentials."""
    root = state.expanduser().resolve() / "stack"
    record_file = root / "stack.json"
    record = _read_json(record_file)
    try:
        servers, creds = record["servers"], record["credentials"]
        s3 = ObjectStoreEndpoint(servers["s3"]["endpoint"], creds["s3_access_key"], creds["s3_secret_key"])
        postgres = PostgresEndpoint(
            HOST, int(servers["postgres"]["ports"]["postgres"]), "postgres", creds["postgres_superuser_password"]
        )
        redis = RedisEndpoint(HOST, int(servers["redis"]["ports"]["redis"]), creds["redis_password"])
        bao_url = servers["openbao"]["endpoint"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{record_file}: missing or malformed key {exc}") from None
    _, predictions, shadow = _state_trees(state.expanduser().resolve())
    init_file = root / "openbao" / "init.json"
    token = _read_json(init_file).get("root_token")
    if not isinstance(token, str):
        raise BackupError(f"{init_file}: root_token: expected a string")
    return BackupEnvironment(
        name=name,
        config_dir=config_dir,
        postgres=postgres,
        artifacts=Tree("artifacts", s3),
        # Feast's offline tables are in the feast database (its offline store is PostgreSQL:
        # feature_store/registry/local-stack.yaml); the logs stay in the state folder.
        feast_offline_in_database=True,
        prediction_logs=predictions,
        shadow_logs=shadow,
        redis=redis,
        openbao=OpenBaoEndpoint(bao_url, token),
        object_store=s3,
    )


__all__ = [
    "BackupEnvironment",
    "ObjectStoreEndpoint",
    "OpenBaoEndpoint",
    "PostgresEndpoint",
    "RedisEndpoint",
    "Tree",
    "dev_environment",
    "stack_environment",
]
