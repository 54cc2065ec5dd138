"""Offline-source preparation: the dtype coercions Feast needs, then the parquet file.

Categoricals and objects become strings, booleans 0/1 integers, timestamps UTC. Pure pandas,
so it is cheap to import and to unit-test.
"""

from feature_store.transformations.offline_source import (
    UTC_NS,
    coerce_column,
    coerce_entity,
    duplicate_keys,
    prepare_offline_source,
    to_int,
    to_string,
    to_utc,
    write_offline_source,
)

__all__ = [
    "UTC_NS",
    "coerce_column",
    "coerce_entity",
    "duplicate_keys",
    "prepare_offline_source",
    "to_int",
    "to_string",
    "to_utc",
    "write_offline_source",
]
