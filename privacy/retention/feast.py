"""The feature views' offline sources as :class:`~privacy.retention.stores.OfflineTable`: what
the Feast offline store of the environment reads (parquet files, or PostgreSQL tables)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from feature_store.offline import PostgresOfflineSource, offline_source_for
from mlops.errors import PrivacyError
from privacy.retention.stores import OfflineTable

if TYPE_CHECKING:
    from feast import FeatureStore


def offline_tables(store: FeatureStore, repo_dir: Path) -> list[OfflineTable]:
    """One table per feature view of ``store`` (its Feast repository folder: ``repo_dir``)."""
    source = offline_source_for(repo_dir, store.config)
    tables: list[OfflineTable] = []
    for view in store.list_feature_views():
        batch = view.batch_source
        if batch is None:
            continue
        column = str(batch.timestamp_field)
        if isinstance(source, PostgresOfflineSource):
            connect = partial(source.connect, f"retention of {view.name}")
            tables.append(OfflineTable(view.name, "postgres", source.location(batch), column, connect))
        elif hasattr(batch, "path"):
            tables.append(OfflineTable(view.name, "parquet", str(batch.path), column))
        else:
            raise PrivacyError(f"feature view {view.name}: offline source {type(batch).__name__} is not supported")
    return tables


__all__ = ["offline_tables"]
