"""The local reference deployment: the production data plane as local processes.

``python -m infrastructure.local_stack up|down|status [--state .mlops]`` (``make up`` /
``make down``) runs the servers the staging/prod profile uses, on 127.0.0.1, with their data
under ``<state>/stack/``: an S3 object store (SeaweedFS), PostgreSQL (databases ``mlflow`` and
``feast``), Redis (password, RDB snapshots) and OpenBao (server mode, raft storage, unsealed by
``up``; the platform's secrets under ``secret/mlops/local-stack/``).

The servers are a plug point: one :class:`Server` subclass each, found through :data:`SERVERS`.
Ports, pids and credentials are kept in ``<state>/stack/stack.json`` (mode 600).
"""

from infrastructure.local_stack._servers import (
    BUCKETS,
    DATABASES,
    KV_MOUNT,
    SERVERS,
    ObjectStore,
    OpenBao,
    Postgres,
    Redis,
    Server,
)
from infrastructure.local_stack._stack import ServerStatus, down, secret_files, status, up
from infrastructure.local_stack._state import ENVIRONMENT, Credentials, Layout, StackRecord, load_record
from mlops.errors import LocalStackError

__all__ = [
    "BUCKETS",
    "DATABASES",
    "ENVIRONMENT",
    "KV_MOUNT",
    "SERVERS",
    "Credentials",
    "Layout",
    "LocalStackError",
    "ObjectStore",
    "OpenBao",
    "Postgres",
    "Redis",
    "Server",
    "ServerStatus",
    "StackRecord",
    "down",
    "load_record",
    "secret_files",
    "status",
    "up",
]
