"""The prediction path: request rows in, scores out, the champion's rows offered to the shadow.

    rows ─▶ feature values (gaps filled from the online store by entity id; 422 naming what is
            still missing) ─▶ the model's input frame (typed as in training)
         ─▶ champion scores, or each row's A/B variant scores its rows
         ─▶ rows the champion answered: ShadowMirror.submit_many(), put_nowait, nothing awaited

:class:`Scorer` is built once per app and runs in the thread pool (scoring is CPU-bound). It
raises :class:`~mlops.errors.FeatureStoreUnavailableError` when the online store fails and
FastAPI's ``RequestValidationError`` for rows that still miss a required feature; the
endpoints (:mod:`serving.prediction`) turn those into answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from mlops.errors import FeatureStoreUnavailableError
from mlops.roles import group_labels_of, group_of
from mlops.schema import ServingSchema
from serving.metrics import ServingMetrics
from serving.models import LoadedModel
from serving.schemas import RequestModels

if TYPE_CHECKING:
    from feature_store.store import OnlineFeatureReader
    from observability.prediction_log import PredictionLogger
    from serving.ab import AbRouter
    from serving.shadow.mirror import ShadowMirror


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class Scored(NamedTuple):
    scores: np.ndarray
    entity_ids: list[str | None]
    # Per row, with A/B on: the variant that answered and its model's version.
    variants: list[str] | None
    versions: list[str]


class Scorer:
    """Everything scoring a request needs, built once per app."""

    def __init__(
        self,
        *,
        champion: LoadedModel,
        serving_schema: ServingSchema,
        models: RequestModels,
        feature_reader: OnlineFeatureReader | None,
        shadow: ShadowMirror | None,
        metrics: ServingMetrics,
        segment_columns: Sequence[str],
        ab: AbRouter | None = None,
        model_name: str = "",
        prediction_log: PredictionLogger | None = None,
    ) -> None:
        self.champion = champion
        self.model_name = model_name
        self.prediction_log = prediction_log
        self.ab = ab
        self.schema = serving_schema.kinds
        # Numeric sensitive attributes: (edges, group names), resolved once, not per request.
        self.bins = {
            c: (spec.bins, group_labels_of(spec.bins)) for c, spec in serving_schema.sensitive.items() if spec.bins
        }
        self.models = models
        self.reader = feature_reader
        self.shadow = shadow
        self.metrics = metrics
        # The segment of a shadow pair: request-only segment fields, or features of that name.
        self.segment_features = [c for c in segment_columns if c in serving_schema.features]

    # ------------------------------------------------------------------ features
    def features(self, rows: Sequence[BaseModel], *, batch: bool) -> list[dict[str, Any]]:
        """Each row's feature values, gaps filled from the online store; 422 naming what is still missing.

        A nullable feature (the version was trained with gaps in it) may stay missing: the
        model scores it as such, exactly as batch scoring does.
        """
        values = [self.models.feature_values(r) for r in rows]
        needs = [i for i, v in enumerate(values) if any(_is_missing(x) for x in v.values())]
        lookup = [i for i in needs if self.models.entity_id(rows[i]) is not None]
        if self.reader is not None and lookup:
            try:
                stored = self.reader.frame([self.models.entity_id(rows[i]) for i in lookup])
            except Exception as exc:  # Feast raises many types; any of them means "not now".
                raise FeatureStoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
            for i, record in zip(lookup, stored.to_dict("records"), strict=True):
                for column, value in values[i].items():
                    stored_value = record.get(column)
                    if _is_missing(value) and not _is_missing(stored_value):
                        values[i][column] = stored_value  # request values win; only gaps are filled
        errors = []
        for i, v in enumerate(values):
            has_id = self.models.entity_id(rows[i]) is not None
            for column, value in v.items():
                if _is_missing(value) and column not in self.models.nullable:
                    if self.reader is None:
                        why = "Field required"
                    elif has_id:
                        why = "Field required (the feature store has no value for this entity)"
                    else:
                        why = f"Field required (or send {self.models.entity_field!r} to read it from the feature store)"
                    where = ("body", "rows", i, column) if batch else ("body", column)
                    errors.append({"type": "missing", "loc": where, "msg": why, "input": None})
        if errors:
            raise RequestValidationError(errors)
        return values

    def frame(self, values: list[dict[str, Any]]) -> pd.DataFrame:
        """The model's input, typed as in training: float64 numbers, object strings."""
        return pd.DataFrame(
            {
                column: np.asarray([v[column] for v in values], dtype="float64" if kind == "number" else object)
                for column, kind in self.schema.items()
            }
        )

    # ------------------------------------------------------------------ scoring
    def _predict(self, model: LoadedModel, variant: str, frame: pd.DataFrame) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        scores = model.predict(frame)
        elapsed = time.perf_counter() - start
        self.metrics.prediction_latency.labels(variant).observe(elapsed)
        self.metrics.predictions.labels(variant).inc(len(frame))
        return scores, elapsed

    def score(self, rows: Sequence[BaseModel], request_id: str, *, batch: bool) -> Scored:
        """Scores of ``rows`` (champion, or each row's A/B variant); champion-scored rows are
        then offered to the shadow."""
        values = self.features(rows, batch=batch)
        frame = self.frame(values)
        entity_ids = [None if (e := self.models.entity_id(r)) is None else str(e) for r in rows]
        if self.ab is None:
            scores, elapsed = self._predict(self.champion, "champion", frame)
            variants, versions = None, [self.champion.version] * len(rows)
            mirrored = list(range(len(rows)))
        else:
            variants = [self.ab.route(self.models.entity_id(r)) for r in rows]
            scores, versions, elapsed = self._score_variants(self.ab, frame, variants)
            # A row the challenger already answered has nothing to compare against in shadow.
            mirrored = [i for i, v in enumerate(variants) if self.ab.alias(v) == "champion"]
        if self.prediction_log is not None:
            # Sampled by request id: a batch call's rows are all in the log or all out.
            self.prediction_log.record(
                frame,
                scores,
                model=self.model_name,
                version=versions if variants is not None else versions[0],
                variant=variants,
                request_ids=request_id,
                entity_ids=entity_ids,
            )
        if self.shadow is not None and mirrored:
            segments = [self._segment(rows[i], values[i]) for i in mirrored]
            # A batch row's pair is named after the call's request id and the row's position.
            ids = [f"{request_id}:{i}" for i in mirrored] if batch else [request_id]
            part = frame if len(mirrored) == len(rows) else frame.iloc[mirrored].reset_index(drop=True)
            accepted = self.shadow.submit_many(
                ids,
                part,
                [float(scores[i]) for i in mirrored],
                elapsed * 1000.0,
                [entity_ids[i] for i in mirrored],
                segments,
            )
            if not accepted:
                self.metrics.shadow_dropped.inc(len(mirrored))
        return Scored(scores, entity_ids, variants, versions)

    def _score_variants(
        self, ab: AbRouter, frame: pd.DataFrame, variants: list[str]
    ) -> tuple[np.ndarray, list[str], float]:
        """Each variant scores its own rows in one call; per-variant metrics and tally."""
        scores = np.empty(len(variants), dtype="float64")
        versions = [""] * len(variants)
        champion_elapsed = 0.0
        for name in sorted(set(variants)):
            rows = [i for i, v in enumerate(variants) if v == name]
            model, alias = ab.models[name], ab.alias(name)
            self.metrics.ab_requests.labels(name, alias).inc(len(rows))
            try:
                part, elapsed = self._predict(model, alias, frame.iloc[rows])
            except Exception:
                self.metrics.ab_errors.labels(name).inc(len(rows))
                for _ in rows:
                    ab.tally.record(name, 0.0, error=True)
                raise
            self.metrics.ab_latency.labels(name).observe(elapsed)
            scores[rows] = part
            for i, score in zip(rows, part, strict=True):
                versions[i] = model.version
                ab.tally.record(name, elapsed * 1000.0, score=float(score))
            if alias == "champion":
                champion_elapsed = elapsed
        return scores, versions, champion_elapsed

    def _segment(self, row: BaseModel, values: dict[str, Any]) -> dict[str, str]:
        """The row's segments; a numeric sensitive attribute by the group the fairness gate used."""
        raw = {c: v for c, v in self.models.segment_values(row).items() if v is not None}
        raw.update({c: values[c] for c in self.segment_features if not _is_missing(values[c])})
        return {c: self._group(c, v) for c, v in raw.items()}

    def _group(self, column: str, value: Any) -> str:
        bins = self.bins.get(column)
        return str(value) if bins is None else group_of(float(value), *bins)


__all__ = ["Scored", "Scorer"]
