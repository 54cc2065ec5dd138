"""Erasing entities from the feature store: the online store (SQLite or Redis, as Feast keys
them) and the PostgreSQL offline tables. Parquet offline sources are files under the state
folder: the privacy room's file erasure covers them.

``select`` gets the distinct entity values a store holds, as text, and returns those to erase
(the privacy room's subject matcher). Every value is read back through Feast's own key
encoding, so what is erased is exactly what Feast would serve.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feature_store.offline import PostgresOfflineSource
from mlops.errors import FeatureStoreError

if TYPE_CHECKING:
    from feast import FeatureStore

Select = Callable[[Iterable[str]], set[str]]


def _entity_text(key: Any) -> str | None:
    """The entity value of a one-column Feast entity key, as text (None for composite keys)."""
    if len(key.entity_values) != 1:
        return None
    value = key.entity_values[0]
    kind = value.WhichOneof("val")
    return None if kind is None else str(getattr(value, kind))


def _deserialize(blob: bytes, version: int) -> str | None:
    from feast.infra.key_encoding_utils import deserialize_entity_key

    return _entity_text(deserialize_entity_key(blob, entity_key_serialization_version=version))


def erase_online(store: FeatureStore, select: Select, *, dry_run: bool) -> dict[str, int]:
    """Remove the selected entities from the online store: rows (SQLite) or keys (Redis) per view."""
    kind = str(store.config.online_store.type)
    if kind == "sqlite":
        return _erase_sqlite(store, select, dry_run=dry_run)
    if kind == "redis":
        return _erase_redis(store, select, dry_run=dry_run)
    raise FeatureStoreError(f"feature_store.yaml: online_store.type {kind!r}: erasure supports sqlite and redis")


def _erase_sqlite(store: FeatureStore, select: Select, *, dry_run: bool) -> dict[str, int]:
    from feast.infra.online_stores.helpers import compute_table_id

    config = store.config
    path = Path(str(config.online_store.path))
    if not path.exists():
        return {}
    version = config.entity_key_serialization_version
    removed: dict[str, int] = {}
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as conn, conn:
            # Deleted keys are zeroed, not left in free pages (see also the checkpoint below).
            conn.execute("PRAGMA secure_delete = ON")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for view in store.list_feature_views():
                table = compute_table_id(config.project, view)
                if table not in tables:
                    continue
                quoted = '"' + table.replace('"', '""') + '"'
                rows = conn.execute(f"SELECT DISTINCT entity_key FROM {quoted}")
                keys = {_deserialize(bytes(b), version): bytes(b) for (b,) in rows}
                chosen = [keys[v] for v in select(v for v in keys if v is not None)]
                if not chosen:
                    continue
                marks = ", ".join("?" * len(chosen))
                if not dry_run:
                    conn.execute(f"DELETE FROM {quoted} WHERE entity_key IN ({marks})", chosen)
                count = len(chosen)
                removed[view.name] = int(count)
        if removed and not dry_run:
            with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise FeatureStoreError(f"online store {path}: cannot erase: {exc}") from None
    return removed


def _erase_redis(store: FeatureStore, select: Select, *, dry_run: bool) -> dict[str, int]:
    from feast.infra.online_stores.helpers import _redis_key_prefix
    from feast.infra.online_stores.redis import RedisOnlineStore

    config = store.config
    project = config.project.encode("utf-8")
    version = config.entity_key_serialization_version
    client = RedisOnlineStore()._get_client(config.online_store)
    removed: dict[str, int] = {}
    # One Redis hash per entity value holds every view of that entity: keyed by the entity.
    entities = {tuple(sorted(v.join_keys)): v.name for v in store.list_feature_views()}
    try:
        for join_keys, view in entities.items():
            pattern = b"".join([_redis_key_prefix(list(join_keys)), b"*", project])
            keys = {_deserialize(k[: -len(project)], version): k for k in client.scan_iter(match=pattern, count=1000)}
            chosen = [keys[v] for v in select(v for v in keys if v is not None)]
            if chosen and not dry_run:
                client.delete(*chosen)
            if chosen:
                removed[f"{','.join(join_keys)} (view {view} and others of that entity)"] = len(chosen)
    except Exception as exc:  # redis-py raises its own error tree (connection, auth, timeout)
        where = str(config.online_store.connection_string).split(",")[0]
        raise FeatureStoreError(f"online store redis {where}: cannot erase: {exc}") from None
    return removed


def erase_offline_tables(store: FeatureStore, select: Select, *, dry_run: bool) -> dict[str, int]:
    """Remove the selected entities' rows from each view's PostgreSQL offline table (none for a
    file offline store: its parquet sources are files under the state folder)."""
    from feature_store.offline import offline_source_for

    source = offline_source_for(Path(str(store.config.repo_path)), store.config)
    if not isinstance(source, PostgresOfflineSource):
        return {}
    return source.erase({v.name: list(v.join_keys) for v in store.list_feature_views()}, select, dry_run=dry_run)


__all__ = ["erase_offline_tables", "erase_online"]
