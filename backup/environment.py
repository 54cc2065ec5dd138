"""Where an environment's stores are: plain endpoints and credentials, filled by the caller.

The targets read nothing themselves: the CLI (or a test) builds a :class:`BackupEnvironment`
for the environment it backs up or restores into. :func:`dev_environment` describes the local
``dev`` files under the state folder; :func:`stack_environment` reads the local reference
deployment's record (``<state>/stack/stack.json`` and OpenBao's ``init.json``) as data, so this
room does not import the stack's code; :func:`cluster_environment` reads what a pod of the
backups chart has (its environment variables and the libpq password file they name), with the
platform config's values handed in by the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import BackupError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ObjectStoreEndpoint:
    """An S3 endpoint and its key pair (handed to child tools as ``AWS_*``).

    ``endpoint`` None is AWS itself (the region's endpoint); no key pair is the default AWS
    credential chain: on a cluster, the pod's workload identity (``AWS_ROLE_ARN`` and
    ``AWS_WEB_IDENTITY_TOKEN_FILE``), which restic and pyarrow read themselves."""

    endpoint: str | None  # http(s)://host:port
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = "us-east-1"

    @property
    def has_keys(self) -> bool:
        return self.access_key is not None and self.secret_key is not None

    def probe_url(self) -> str:
        """What answers HTTP when the store is up."""
        return self.endpoint or f"https://s3.{self.region}.amazonaws.com"

    def child_env(self) -> dict[str, str]:
        from mlops.object_store import Credentials, environment_for

        creds = Credentials(self.access_key, self.secret_key) if self.access_key and self.secret_key else None
        return environment_for(creds, endpoint_url=self.endpoint, region=self.region)

    def filesystem(self) -> Any:
        from mlops.object_store import ObjectStoreConfig, s3_filesystem

        if not self.has_keys:
            return s3_filesystem(ObjectStoreConfig(endpoint_url=self.endpoint, region=self.region))
        # The keys are plain values here (read from the stack's record): handed over as references
        # to themselves, so the one S3 set-up of the platform (timeouts, retries) applies.
        keys = {"env://ACCESS_KEY": self.access_key, "env://SECRET_KEY": self.secret_key}
        config = ObjectStoreConfig(
            endpoint_url=self.endpoint,
            region=self.region,
            access_key_id="env://ACCESS_KEY",
            secret_access_key="env://SECRET_KEY",  # pragma: allowlist secret
        )
        return s3_filesystem(config, lambda ref: str(keys[ref]))


@dataclass(frozen=True)
class PostgresEndpoint:
    """One database server and role; ``password`` None: libpq reads it from ``PGPASSFILE``."""

    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)


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
    # Why nothing can be written back here from this environment (None: it can).
    read_only: str | None = None

    def describe(self) -> str:
        return f"s3://{self.root}" if self.store is not None else self.root


@dataclass(frozen=True)
class RepositoryAccess:
    """Where an environment's restic repository is and how to open it, when the environment
    says so itself (on a cluster: restic's own variables, set by the backups chart)."""

    location: str
    key_file: Path
    store: ObjectStoreEndpoint | None = None
    cache_dir: Path | None = None
    # False: the key is provided (Vault renders it); a missing key file is an error.
    generate_key: bool = False


@dataclass(frozen=True)
class BackupEnvironment:
    """One environment's stores; a store left ``None`` is not part of it (its target is skipped)."""

    name: str
    config_dir: Path | None = None
    # Why the config folder cannot be restored into (None: it can).
    config_read_only: str | None = None
    # One server for every database (dev's local stack: the superuser) ...
    postgres: PostgresEndpoint | None = None
    # ... or, per database name, its own endpoint and role (a cluster: one role per database).
    databases: Mapping[str, PostgresEndpoint] = field(default_factory=dict)
    mlflow_database: str = "mlflow"
    feast_database: str = "feast"
    # Feast's offline tables in a database of their own (the cluster's feast_offline), dumped by
    # the feast-offline target; None: in files, or in ``feast_database`` (see below).
    feast_offline_database: str | None = None
    mlflow_sqlite: Path | None = None
    # privacy.consent's records: database ``consent_database`` where the environment has
    # PostgreSQL, else this SQLite file (the consent store's default place).
    consent_database: str = "consent"
    consent_sqlite: Path | None = None
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
    # Targets this environment cannot run, with why (printed and written to the manifest).
    unavailable: Mapping[str, str] = field(default_factory=dict)
    repository: RepositoryAccess | None = None
    # Scratch folder for the dumps of a run (None: <state>/backup/work).
    workdir: Path | None = None

    def database(self, name: str) -> PostgresEndpoint | None:
        """The endpoint that holds database ``name``: its own, else the shared server."""
        return self.databases.get(name) or self.postgres


def dev_environment(state: Path, config_dir: Path | None, *, consent_url: str | None = None) -> BackupEnvironment:
    """``dev``: MLflow on SQLite, Feast's file registry, local artifacts and prediction log.

    ``consent_url``: the platform config's ``privacy.consent.url`` (None: the SQLite file under
    the state folder). A SQLite URL is backed up where it points; a server's database is not
    dev's to dump, and the target says so instead of finding "no consent database".
    """
    state = state.expanduser().resolve()
    offline, predictions, shadow = _state_trees(state)
    consent_sqlite: Path | None = state / "privacy" / "consent.db"
    unavailable: dict[str, str] = {}
    if consent_url is not None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(consent_url)
        except ArgumentError as exc:
            raise BackupError(f"privacy.consent.url: expected a database URL ({exc})") from None
        if url.get_backend_name() == "sqlite" and url.database:
            consent_sqlite = Path(url.database).expanduser().resolve()
        else:
            consent_sqlite = None
            unavailable["consent-db"] = CONSENT_ON_A_SERVER_IN_DEV.format(backend=url.get_backend_name())
    return BackupEnvironment(
        name="dev",
        config_dir=config_dir,
        mlflow_sqlite=state / "registry" / "mlflow.db",
        consent_sqlite=consent_sqlite,
        unavailable=unavailable,
        feast_registry_file=state / "feast" / "registry.db",
        artifacts=Tree(str(state / "registry" / "artifacts")),
        feast_offline=offline,
        prediction_logs=predictions,
        shadow_logs=shadow,
    )


CONSENT_ON_A_SERVER_IN_DEV = (
    "privacy.consent.url names a {backend} database: dev backs up SQLite files only; back it up "
    "with the environment that runs that server (local-stack, or a cluster's backups chart)"
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


# --------------------------------------------------------------------------- a cluster pod
# What the backups chart (infrastructure/helm/backups) gives its pods, by variable.
ARTIFACTS_URI_VAR = "MLOPS_ARTIFACTS_URI"  # s3://<artifacts bucket>/<MLflow's prefix>
CLUSTER_DATABASES = {"mlflow": "mlflow", "feast": "feast_registry", "feast_offline": "feast_offline"}
OPENBAO_ON_CLUSTER = (
    "Vault on the cluster is operated separately and its raft snapshots are Vault's own job "
    "(runbook: backup/playbooks/openbao.md)"
)
CONSENT_ON_CLUSTER = (
    "PGPASSFILE has no line for database consent (the backups chart's databases.consent), so "
    "privacy.consent's records are not backed up here"
)
PREDICTIONS_ON_PODS = (
    "the platform config's prediction_log.root is not an s3:// URI: the serving pods keep the "
    "prediction log on their own emptyDir volumes, nothing durable to back up on the cluster"
)
SHADOW_ON_PODS = (
    "the serving pods keep the shadow comparison logs on their own emptyDir volumes, "
    "nothing durable to back up on the cluster"
)
ARTIFACTS_READ_ONLY = (
    "the backup role only reads the artifacts bucket (Terraform's IRSA policy): bring the "
    "objects back as backup/playbooks/model-artifact.md says"
)
CONFIG_IN_IMAGE = "the config folder is part of the platform image: a config change goes back through Git"
_PGPASS_FIELDS = ("host", "port", "database", "user", "password")


def _split_pgpass_line(line: str) -> list[str]:
    """libpq's fields: ``:`` separates, a backslash escapes the next character (``\\:``, ``\\\\``)."""
    fields: list[str] = []
    current: list[str] = []
    escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def read_pgpass(path: Path) -> dict[str, PostgresEndpoint]:
    """Database name -> its endpoint, from a libpq password file (``host:port:database:user:password``
    a line). The passwords are not kept: pg_dump, pg_restore and psycopg read the file themselves.
    A malformed line is named by its number only (the line holds a password)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BackupError(f"PGPASSFILE {path} cannot be read: {exc.strerror or exc}") from None
    found: dict[str, PostgresEndpoint] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _split_pgpass_line(line)
        where = f"PGPASSFILE {path}, line {number}"
        if len(fields) != len(_PGPASS_FIELDS):
            raise BackupError(
                f"{where}: {len(fields)} field(s), expected 5: host:port:database:user:password (libpq's format)"
            )
        host, port, database, user, _ = fields
        for name, value in zip(_PGPASS_FIELDS[:4], fields[:4], strict=True):
            if not value or value == "*":
                raise BackupError(f"{where}: the {name} field must name one {name}, not {value or 'nothing'!r}")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise BackupError(f"{where}: port {port!r} is not a port number")
        found.setdefault(database, PostgresEndpoint(host, int(port), user))  # libpq: the first match wins
    return found


def _s3_store(location: str, region: str) -> ObjectStoreEndpoint:
    """The keyless store behind restic's ``s3:https://host[:port]/bucket/prefix``: AWS (endpoint
    None, the region from an ``s3.<region>.amazonaws.com`` host) or an S3-compatible server."""
    url = location.removeprefix("s3:")
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if not scheme or not host:
        raise BackupError(f"RESTIC_REPOSITORY {location!r}: expected s3:https://HOST/BUCKET/PREFIX")
    aws = re.fullmatch(r"s3(?:[.-]([a-z0-9-]+))?\.amazonaws\.com", host)
    if aws is not None:
        return ObjectStoreEndpoint(None, region=aws[1] or region)
    return ObjectStoreEndpoint(f"{scheme}://{host}", region=region)


def _host_port(connection: str) -> tuple[str, int]:
    host, _, port = connection.split(",", 1)[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise BackupError(f"features.redis_connection {connection!r}: expected host:port")
    return host, int(port)


def cluster_environment(
    name: str,
    *,
    config_dir: Path | None,
    redis_connection: str | None,
    environ: Mapping[str, str],
    prediction_log_root: str | None = None,
) -> BackupEnvironment:
    """``staging``/``prod``: what a pod of the backups chart has.

    ``environ`` is the pod's environment: ``RESTIC_REPOSITORY``, ``RESTIC_PASSWORD_FILE`` and
    ``RESTIC_CACHE_DIR`` (restic's own), ``PGPASSFILE`` (one line per database), ``REDIS_PASSWORD``
    (from the Vault-rendered feature-store.env), ``MLOPS_ARTIFACTS_URI`` and the region
    (``AWS_REGION``/``AWS_DEFAULT_REGION``). No access key: S3 is reached through the default
    AWS chain (the pod's IRSA role). ``redis_connection`` is the platform config's
    ``features.redis_connection`` (None: no online store), ``prediction_log_root`` its
    ``prediction_log.root`` (backed up when it is an ``s3://`` URI)."""
    required = ["RESTIC_REPOSITORY", "RESTIC_PASSWORD_FILE", "PGPASSFILE", ARTIFACTS_URI_VAR]
    if redis_connection:
        required.append("REDIS_PASSWORD")
    absent = [var for var in required if not environ.get(var)]
    if absent:
        raise BackupError(
            f"environment {name}: variable(s) {', '.join(absent)} not set "
            "(the backups chart's CronJobs set them: infrastructure/helm/backups)"
        )
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    location = environ["RESTIC_REPOSITORY"]
    if not location.startswith("s3:"):
        raise BackupError(f"RESTIC_REPOSITORY {location!r}: expected s3:https://HOST/BUCKET/PREFIX")
    store = _s3_store(location, region)
    cache = environ.get("RESTIC_CACHE_DIR")
    pgpass = Path(environ["PGPASSFILE"])
    databases = read_pgpass(pgpass)
    lacking = [db for db in CLUSTER_DATABASES.values() if db not in databases]
    if lacking:
        raise BackupError(f"PGPASSFILE {pgpass}: no line for database(s) {', '.join(lacking)}")
    uri = environ[ARTIFACTS_URI_VAR]
    bucket_path = uri.removeprefix("s3://").strip("/")
    if not uri.startswith("s3://") or "/" not in bucket_path:
        raise BackupError(f"{ARTIFACTS_URI_VAR} {uri!r}: expected s3://BUCKET/PREFIX")
    redis = None
    if redis_connection:
        host, port = _host_port(redis_connection)
        redis = RedisEndpoint(host, port, environ["REDIS_PASSWORD"])
    unavailable = {"openbao": OPENBAO_ON_CLUSTER, "shadow-logs": SHADOW_ON_PODS}
    if "consent" not in databases:  # a cluster that has one names it in the password file
        unavailable["consent-db"] = CONSENT_ON_CLUSTER
    predictions = None
    if prediction_log_root and prediction_log_root.startswith("s3://"):
        predictions = Tree(prediction_log_root.removeprefix("s3://").rstrip("/"), store)
    else:
        unavailable["prediction-logs"] = PREDICTIONS_ON_PODS
    if redis is None:
        unavailable["online-store"] = "features.redis_connection is not set in the platform config"
    return BackupEnvironment(
        name=name,
        config_dir=config_dir,
        config_read_only=CONFIG_IN_IMAGE,
        databases=databases,
        mlflow_database=CLUSTER_DATABASES["mlflow"],
        feast_database=CLUSTER_DATABASES["feast"],
        feast_offline_database=CLUSTER_DATABASES["feast_offline"],
        artifacts=Tree(bucket_path, store, read_only=ARTIFACTS_READ_ONLY),
        prediction_logs=predictions,
        redis=redis,
        object_store=store,
        unavailable=unavailable,
        repository=RepositoryAccess(
            location, Path(environ["RESTIC_PASSWORD_FILE"]), store, Path(cache) if cache else None
        ),
        workdir=Path(environ.get("TMPDIR") or "/tmp") / "mlops-backup",  # the scratch volume, not the state one
    )


__all__ = [
    "BackupEnvironment",
    "ObjectStoreEndpoint",
    "OpenBaoEndpoint",
    "PostgresEndpoint",
    "RedisEndpoint",
    "RepositoryAccess",
    "Tree",
    "cluster_environment",
    "dev_environment",
    "read_pgpass",
    "stack_environment",
]
