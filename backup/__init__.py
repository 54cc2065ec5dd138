"""Backup and restore of every store of the platform: targets, strategies, restic repository.

``mlops backup create|list|verify|restore|prune`` drive it. A backup is one encrypted,
deduplicated restic snapshot holding one folder per target and a ``manifest.json``; the
targets are found through :data:`TARGETS`, the strategies in ``backup/strategies/*.yaml``.
"""

from backup.environment import (
    BackupEnvironment,
    ObjectStoreEndpoint,
    OpenBaoEndpoint,
    PostgresEndpoint,
    RedisEndpoint,
    RepositoryAccess,
    Tree,
    cluster_environment,
    dev_environment,
    read_pgpass,
    stack_environment,
)
from backup.manifest import FORMAT, Manifest
from backup.repository import Repository, default_key_file
from backup.service import (
    BackupSummary,
    RestoreReport,
    VerifyReport,
    create_backup,
    find_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from backup.strategy import STRATEGIES_DIR, Retention, Strategy, load_strategies, load_strategy
from backup.targets import TARGETS, Target, TargetDump

__all__ = [
    "FORMAT",
    "STRATEGIES_DIR",
    "TARGETS",
    "BackupEnvironment",
    "BackupSummary",
    "Manifest",
    "ObjectStoreEndpoint",
    "OpenBaoEndpoint",
    "PostgresEndpoint",
    "RedisEndpoint",
    "Repository",
    "RepositoryAccess",
    "RestoreReport",
    "Retention",
    "Strategy",
    "Target",
    "TargetDump",
    "Tree",
    "VerifyReport",
    "cluster_environment",
    "create_backup",
    "default_key_file",
    "dev_environment",
    "find_backup",
    "list_backups",
    "load_strategies",
    "load_strategy",
    "prune_backups",
    "read_pgpass",
    "restore_backup",
    "stack_environment",
    "verify_backup",
]
