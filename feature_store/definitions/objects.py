"""Feast objects built from a dataset's schema (no per-dataset definition files)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from feature_store.definitions.schema import FEAST_TYPE_NAMES, FeastTypeName
from mlops.errors import FeatureStoreError

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource
    from feast.feast_object import FeastObject

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def feast_name(name: str) -> str:
    """A dataset name as a Feast object name (the SQLite online table is named after it)."""
    safe = _UNSAFE.sub("_", name.strip())
    if not safe or not safe[0].isalpha():
        raise FeatureStoreError(f"dataset name {name!r} must start with a letter")
    return safe


def schema_key(entity_column: str, entity_type: str, features: dict[str, str]) -> str:
    """Eight hex digits naming a feature schema (entity key and features with their types)."""
    import hashlib
    import json

    blob = json.dumps({"entity": [entity_column, entity_type], "features": features}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def view_name(name: str, key: str) -> str:
    """``<dataset>_features_<schema key>``: one view per feature schema of a dataset.

    A build with the schema of an earlier one replaces that view (and its online rows); a
    build with a new schema adds a view and leaves the others alone, so a registered version
    trained on an older schema still reads the features it was trained with.
    """
    return f"{feast_name(name)}_features_{key}"


def service_name(name: str, key: str) -> str:
    return f"{feast_name(name)}_training_{key}"


def source_name(name: str, key: str) -> str:
    return f"{feast_name(name)}_source_{key}"


@dataclass(frozen=True)
class FeatureDefinitions:
    """Everything Feast needs for one dataset: apply these objects together."""

    entity: Entity
    source: DataSource
    view: FeatureView
    service: FeatureService
    entity_column: str
    timestamp_column: str
    features: dict[str, FeastTypeName]

    @property
    def objects(self) -> list[FeastObject]:
        return [self.entity, self.source, self.view, self.service]

    def feature_refs(self) -> list[str]:
        """``view:feature`` references in schema order, as Feast retrieval expects them."""
        return [f"{self.view.name}:{column}" for column in self.features]


def build_definitions(
    *,
    name: str,
    entity_column: str,
    timestamp_column: str,
    features: dict[str, str],
    ttl: timedelta,
    source_path: Path | None = None,
    source: DataSource | None = None,
    entity_type: Literal["int64", "string"] = "string",
    key: str | None = None,
) -> FeatureDefinitions:
    """Build the Entity, data source, FeatureView and FeatureService for one dataset.

    ``features`` maps column -> one of ``int64``/``float64``/``string``/``bool``; the offline
    source holding the entity, timestamp and feature columns is either ``source`` (any Feast
    data source, e.g. a PostgreSQL table: see :mod:`feature_store.offline`) or ``source_path``
    (a parquet file, read through a FileSource); ``key`` names the schema (default:
    :func:`schema_key` of it).
    """
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Bool, Float64, Int64, String

    feast_types = {"int64": Int64, "float64": Float64, "string": String, "bool": Bool}
    if not features:
        raise FeatureStoreError(f"dataset {name!r}: at least one feature column is required")
    unknown = {c: t for c, t in features.items() if t not in FEAST_TYPE_NAMES}
    if unknown:
        raise FeatureStoreError(
            f"dataset {name!r}: unsupported feature types {unknown} (expected one of {FEAST_TYPE_NAMES})"
        )
    reserved = {entity_column, timestamp_column} & set(features)
    if reserved:
        raise FeatureStoreError(f"dataset {name!r}: {sorted(reserved)} cannot be both a key column and a feature")
    if ttl <= timedelta(0):
        # Feast reads a zero TTL as "no limit", which would hide stale-feature problems.
        raise FeatureStoreError(f"dataset {name!r}: the feature TTL must be positive, got {ttl}")

    base = feast_name(name)
    key = key or schema_key(entity_column, entity_type, dict(features))
    entity = Entity(
        name=f"{base}_{feast_name(entity_column)}",
        join_keys=[entity_column],
        value_type=ValueType.INT64 if entity_type == "int64" else ValueType.STRING,
        description=f"Entity of dataset {name}",
    )
    if (source is None) == (source_path is None):
        raise FeatureStoreError(f"dataset {name!r}: give the offline source or its parquet path, exactly one")
    if source is None:
        source = FileSource(
            name=source_name(name, key),
            path=str(source_path),
            timestamp_field=timestamp_column,
            description=f"Offline source of dataset {name}",
        )
    elif source.timestamp_field != timestamp_column:
        raise FeatureStoreError(
            f"dataset {name!r}: the offline source's event time is {source.timestamp_field!r}, "
            f"the view's {timestamp_column!r}"
        )
    schema = [Field(name=entity_column, dtype=feast_types[entity_type])]
    schema += [Field(name=column, dtype=feast_types[kind]) for column, kind in features.items()]
    view = FeatureView(
        name=view_name(name, key),
        entities=[entity],
        ttl=ttl,
        source=source,
        schema=schema,
        online=True,
        tags={"dataset": name, "schema_key": key},
    )
    service = FeatureService(name=service_name(name, key), features=[view], tags={"dataset": name})
    return FeatureDefinitions(
        entity=entity,
        source=source,
        view=view,
        service=service,
        entity_column=entity_column,
        timestamp_column=timestamp_column,
        features=cast(dict[str, FeastTypeName], dict(features)),
    )
