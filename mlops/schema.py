"""The serving schema: what a registered model version reads, and what serving must accept.

Decided once, at training, from the training frame and the column roles; stored with the
version (registry tag ``serving_schema``) and read by online serving, batch scoring and the
shadow mirror::

    {"features":  {"income": {"type": "number", "nullable": true}, "region": {"type": "string"}},
     "sensitive": {"Age": {"type": "number", "bins": [27, 33, 42]}},
     "pii": ["email", "full_name"]}

- ``features``: the model's inputs. ``nullable`` says the version was trained with missing
  values in that column, so a request or a batch row may leave it empty (the model pipeline
  handles them: natively, or through the imputer :mod:`training.modeling` adds).
- ``sensitive``: attributes the fairness gate assessed; optional request fields that segment
  shadow comparisons and never reach the model. ``bins`` groups a numeric attribute.
- ``pii``: declared personal data. Never a model input, never echoed by serving, never
  copied into batch score files.

The schema hash (semantic versioning: MAJOR when it changes) covers the features only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from mlops.config import StrictModel
from mlops.hashing import fingerprint

if TYPE_CHECKING:
    import pandas as pd

FeatureKind = Literal["number", "string"]


class ColumnSpec(StrictModel):
    type: FeatureKind
    nullable: bool = False
    # Sensitive numeric attributes: the inner edges of the groups the fairness gate used.
    bins: list[float] | None = None


class ServingSchema(StrictModel):
    features: dict[str, ColumnSpec] = Field(min_length=1)
    sensitive: dict[str, ColumnSpec] = Field(default_factory=dict)
    pii: list[str] = Field(default_factory=list)

    # ------------------------------------------------------------------ views
    @property
    def kinds(self) -> dict[str, str]:
        """``{feature: "number" | "string"}`` in schema order."""
        return {c: s.type for c, s in self.features.items()}

    @property
    def columns(self) -> list[str]:
        return list(self.features)

    @property
    def numeric(self) -> list[str]:
        return [c for c, s in self.features.items() if s.type == "number"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, s in self.features.items() if s.type == "string"]

    @property
    def nullable(self) -> list[str]:
        return [c for c, s in self.features.items() if s.nullable]

    def schema_hash(self) -> str:
        """Changes exactly when what a client must send changes (names, types, nullability)."""
        return fingerprint({c: s.model_dump(exclude_none=True) for c, s in sorted(self.features.items())})

    # ------------------------------------------------------------------ (de)serialising
    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> ServingSchema:
        """Read a stored schema; the older ``{column: kind}`` form reads as non-nullable features."""
        return cls.coerce(json.loads(text))

    @classmethod
    def coerce(cls, value: ServingSchema | Mapping[str, Any]) -> ServingSchema:
        """A schema from itself, its JSON-ready dict, or a plain ``{column: kind}`` mapping."""
        if isinstance(value, ServingSchema):
            return value
        if value and all(isinstance(v, str) for v in value.values()):
            return cls.model_validate({"features": {c: {"type": k} for c, k in value.items()}})
        return cls.model_validate(value)

    # ------------------------------------------------------------------ deciding
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        features: list[str],
        categorical: list[str],
        sensitive_bins: dict[str, list[float] | None] | None = None,
        pii: list[str] | None = None,
    ) -> ServingSchema:
        """The schema of a training frame: kinds from the roles, nullability from the data."""
        from pandas.api import types as ptypes

        cats = set(categorical)
        spec = {
            c: ColumnSpec(type="string" if c in cats else "number", nullable=bool(frame[c].isna().any()))
            for c in features
        }
        sensitive: dict[str, ColumnSpec] = {}
        for column, bins in (sensitive_bins or {}).items():
            if column not in frame.columns:
                continue
            series = frame[column]
            numeric = ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)
            sensitive[column] = ColumnSpec(
                type="number" if numeric else "string", nullable=bool(series.isna().any()), bins=bins
            )
        return cls(features=spec, sensitive=sensitive, pii=list(pii or []))


__all__ = ["ColumnSpec", "FeatureKind", "ServingSchema"]
