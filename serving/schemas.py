"""Request and response models, generated from a model version's serving schema.

The serving schema (:class:`mlops.schema.ServingSchema`, a tag on every registered version)
is the one description of what a model reads; the request models are built from it at
start-up so the OpenAPI document, the validation and the model always agree. Unknown fields
are rejected. Numbers are strict (a JSON string or boolean is not a number). A feature the
version was trained with gaps in (``nullable``) may be null or left out; the others are
required (or filled from the feature store by entity id). Sensitive attributes keep their
type (``"Age": 46``). Declared PII columns are refused by name, their values never echoed.

Feature columns become fields under their own names (JSON aliases: a column called ``json``
or ``model_config`` must not collide with pydantic's own attributes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from mlops.schema import ServingSchema

FeatureKind = Literal["number", "string"]
MAX_BATCH_ROWS = 1000


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    request_id: str
    entity_id: str | None = None
    score: float = Field(description="probability of the positive class")
    label: int = Field(description="1 when score >= the serving threshold, else 0")
    variant: str | None = Field(default=None, description="A/B variant that answered (None: A/B testing off)")


class RowPrediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    entity_id: str | None = None
    score: float
    label: int
    variant: str | None = Field(default=None, description="A/B variant that scored this row (None: A/B off)")
    model_version: str | None = Field(default=None, description="the version that scored this row, with A/B on")


class BatchPredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    request_id: str
    predictions: list[RowPrediction]


@dataclass(frozen=True)
class RequestModels:
    """The generated models and how to read a validated row back as ``{column: value}``."""

    row: type[BaseModel]
    batch: type[BaseModel]
    # column -> attribute name on ``row`` (features first, then segment columns)
    features: dict[str, str]
    segments: dict[str, str]
    entity_field: str
    max_batch: int
    # Features that may be missing (the model was trained with gaps in them).
    nullable: frozenset[str] = frozenset()
    # Declared PII column names: a request carrying one is refused without echoing it.
    pii: frozenset[str] = frozenset()
    # Placeholders the version's dataset read as missing (its `na_values`): sent as a feature's
    # value, they are a gap, as in a batch file written like the training data.
    missing_markers: frozenset[str] = frozenset()

    def feature_values(self, row: BaseModel) -> dict[str, Any]:
        """``{column: value}`` of the row's features, a missing-value placeholder read as None."""
        values = {column: getattr(row, attr) for column, attr in self.features.items()}
        if markers := self.missing_markers:
            for column, value in values.items():
                if value.__class__ is str and value in markers:
                    values[column] = None
        return values

    def sent_marker(self, row: BaseModel, column: str) -> str | None:
        """The placeholder the row sent for ``column`` (read as missing), else None."""
        value = getattr(row, self.features[column])
        return value if value.__class__ is str and value in self.missing_markers else None

    def segment_values(self, row: BaseModel) -> dict[str, Any]:
        return {column: getattr(row, attr) for column, attr in self.segments.items()}

    def entity_id(self, row: BaseModel) -> Any:
        return row.__dict__["entity_id_"]  # a generated field, unknown to the type checker

    def rows(self, batch: BaseModel) -> list[BaseModel]:
        return list(batch.__dict__["rows"])


def _class_name(model_name: str, suffix: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", model_name)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + suffix


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("an entity id is a string or an integer, not a boolean")
    return value


def _number() -> Any:
    return Annotated[float, Field(strict=True, allow_inf_nan=False)]


def build_request_models(
    serving_schema: ServingSchema | dict[str, str],
    *,
    model_name: str,
    features_optional: bool = False,
    entity_field: str = "entity_id",
    entity_type: type[int] | type[str] | None = None,
    segment_columns: list[str] | None = None,
    max_batch: int = MAX_BATCH_ROWS,
    missing_markers: Sequence[str] = (),
) -> RequestModels:
    """Build the ``/predict`` row model and the ``/predict/batch`` model for ``serving_schema``.

    ``features_optional``: features may be left out (a feature store can fill them by entity
    id; the app rejects whatever required feature is still missing). Nullable features are
    always optional. ``entity_type``: the feature store's id type (None: any string or
    integer). Sensitive attributes of the schema, and ``segment_columns`` (typed as strings)
    that are not features, become optional fields, logged with shadow pairs for per-segment
    comparison and never given to the model. ``missing_markers``: the placeholders the
    version's dataset read as missing (``na_values``, e.g. ``?``); a feature may be sent as one
    (a number feature too) and it is then a gap: null where the feature is nullable, else
    filled from the feature store or refused as missing.
    """
    if not serving_schema:
        raise ValueError(f"model {model_name!r} has no serving schema")
    if isinstance(serving_schema, dict):
        bad = {c: k for c, k in serving_schema.items() if k not in ("number", "string")}
        if bad:
            raise ValueError(f"serving schema kinds must be 'number' or 'string', got {bad}")
    schema = ServingSchema.coerce(serving_schema)
    if entity_field in schema.features:
        raise ValueError(f"feature {entity_field!r} clashes with the request's entity id field")
    fields: dict[str, Any] = {}
    features: dict[str, str] = {}
    markers = tuple(dict.fromkeys(missing_markers))
    for i, (column, spec) in enumerate(schema.features.items()):
        attr = f"feature_{i}"
        base: Any = _number() if spec.type == "number" else str
        if markers and spec.type == "number":
            base = base | Literal[markers]  # the dataset's placeholders
        if features_optional or spec.nullable:
            description = "may be null or left out" if spec.nullable else "left out: read from the feature store"
            fields[attr] = (base | None, Field(default=None, alias=column, description=description))
        else:
            fields[attr] = (base, Field(alias=column))
        features[column] = attr
    segments: dict[str, str] = {}
    typed = {c: s.type for c, s in schema.sensitive.items()}
    extra = [c for c in segment_columns or [] if c not in typed]
    for i, column in enumerate(c for c in dict.fromkeys([*typed, *extra]) if c not in schema.features):
        if column == entity_field:
            raise ValueError(f"segment column {column!r} clashes with the request's entity id field")
        attr = f"segment_{i}"
        base = _number() if typed.get(column) == "number" else str
        fields[attr] = (base | None, Field(default=None, alias=column, description="segment, not a model input"))
        segments[column] = attr
    # Lax mode would read ``false`` as the id 0 (found by fuzzing); 1000.0 stays a valid
    # integer, as JSON Schema says it is.
    id_type: Any = Annotated[entity_type or (int | str), BeforeValidator(_not_a_boolean)]
    fields["entity_id_"] = (
        id_type | None,
        Field(
            default=None, alias=entity_field, description="entity id: features left out are read from the feature store"
        ),
    )
    config = ConfigDict(extra="forbid", populate_by_name=False)
    row = create_model(_class_name(model_name, "PredictRequest"), __config__=config, **fields)
    batch = create_model(
        _class_name(model_name, "BatchPredictRequest"),
        __config__=config,
        rows=(list[row], Field(min_length=1, max_length=max_batch)),
    )
    return RequestModels(
        row,
        batch,
        features,
        segments,
        entity_field,
        max_batch,
        nullable=frozenset(schema.nullable),
        pii=frozenset(schema.pii) - set(schema.features) - set(segments) - {entity_field},
        missing_markers=frozenset(markers),
    )


__all__ = [
    "MAX_BATCH_ROWS",
    "BatchPredictResponse",
    "PredictResponse",
    "RequestModels",
    "RowPrediction",
    "build_request_models",
]
