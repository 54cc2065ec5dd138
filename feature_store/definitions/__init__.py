"""Feast definitions built from a dataset's schema.

Datasets are brought by their users, so nothing here is written per dataset: the entity,
offline source, feature view (``<name>_features_<key>``) and feature service
(``<name>_training_<key>``, one pair per feature schema)
come from :func:`build_definitions`, and pandas dtypes map to Feast types only in
:func:`feature_schema`. Feast itself is imported inside the builder, not at package import.
"""

from feature_store.definitions.objects import (
    FeatureDefinitions,
    build_definitions,
    feast_name,
    schema_key,
    service_name,
    source_name,
    view_name,
)
from feature_store.definitions.schema import (
    FEAST_TYPE_NAMES,
    FeastTypeName,
    entity_type_name,
    feast_type_name,
    feature_schema,
)

__all__ = [
    "FEAST_TYPE_NAMES",
    "FeastTypeName",
    "FeatureDefinitions",
    "build_definitions",
    "entity_type_name",
    "feast_name",
    "feast_type_name",
    "feature_schema",
    "schema_key",
    "service_name",
    "source_name",
    "view_name",
]
