"""The local reference deployment: the production data plane as local processes.

``python -m infrastructure.local_stack up|down|status [--state .mlops]`` (``make up`` /
``make down``; ``destroy``, ``openbao-reset``, ``openbao-adopt`` for DR drills and playbooks)
runs the servers the staging/prod profile uses, on 127.0.0.1, with their data
under ``<state>/stack/``: an S3 object store (SeaweedFS), PostgreSQL (databases ``mlflow`` and
``feast``), Redis (password, RDB snapshots), OpenBao (server mode, raft storage, unsealed by
``up``; the platform's secrets under ``secret/mlops/local-stack/``) and an MLflow tracking
server (PostgreSQL + the ``artifacts`` bucket). :func:`write_config_dir` writes a config folder
whose ``local-stack`` overlay names a stack's ports (one not on the default ports).

The servers are a plug point: one :class:`Server` subclass each, found through :data:`SERVERS`.
Ports, pids and credentials are kept in ``<state>/stack/stack.json`` (mode 600).
"""

from infrastructure.local_stack._config import stack_overlay, write_config_dir
from infrastructure.local_stack._servers import (
    BUCKETS,
    DATABASES,
    KV_MOUNT,
    SERVERS,
    Mlflow,
    ObjectStore,
    OpenBao,
    Postgres,
    Redis,
    Server,
)
from infrastructure.local_stack._stack import (
    ServerStatus,
    adopt_openbao,
    destroy,
    down,
    reset_openbao,
    secret_files,
    status,
    up,
)
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
    "Mlflow",
    "ObjectStore",
    "OpenBao",
    "Postgres",
    "Redis",
    "Server",
    "ServerStatus",
    "StackRecord",
    "adopt_openbao",
    "destroy",
    "down",
    "load_record",
    "reset_openbao",
    "secret_files",
    "stack_overlay",
    "status",
    "up",
    "write_config_dir",
]
