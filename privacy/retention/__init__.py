"""Retention: how long each store keeps what it holds, and `mlops privacy retention apply`.

policies.py  config/retention.yaml: one typed policy per store (POLICIES)
stores.py    the stores (STORES): plan what is past its period, then delete it
runs.py      the state folder's run folders and kfp.local artifact folders
feast.py     the feature views' offline sources (parquet files or PostgreSQL tables)
service.py   apply_retention: plan all, refuse or delete, write the record
"""

from privacy.retention.policies import POLICIES, Policy, RetentionConfig
from privacy.retention.service import RetentionRecord, apply_retention, records_dir
from privacy.retention.stores import STORES, BackupAccess, OfflineTable, RetentionContext, RetentionStore, StorePlan

__all__ = [
    "POLICIES",
    "STORES",
    "BackupAccess",
    "OfflineTable",
    "Policy",
    "RetentionConfig",
    "RetentionContext",
    "RetentionRecord",
    "RetentionStore",
    "StorePlan",
    "apply_retention",
    "records_dir",
]
