"""The prediction path: request rows in, scores out, the champion's rows offered to the shadow.

    rows ─▶ feature values, plain ``{column: value}`` dicts (gaps filled from the online store
            by entity id; 422 naming what is still missing)
         ─▶ one job per request ─▶ one model call for the jobs scored together
            (``LoadedModel.score_rows``: the compiled scorer reads the dicts straight into its
            input arrays; no pandas frame on the hot path)
         ─▶ champion scores, or each row's A/B variant scores its rows
         ─▶ one prediction-log record and one ``ShadowMirror.submit_many`` for the whole call

The work is split so the endpoints (:mod:`serving.prediction`) can run each part where it
belongs: :meth:`Scorer.request_values` and :meth:`Scorer.check` are microseconds of pure
Python (fine on the event loop); :meth:`Scorer.complete` may read the online store (blocking
I/O: the thread pool); :meth:`Scorer.score_jobs` is the model call, for one request or for a
micro-batch of them (:mod:`serving.batching`). :attr:`Scorer.inline` says whether that call
is cheap enough for the event loop (every model that can answer has a compiled scorer).

Errors: :class:`~mlops.errors.FeatureStoreUnavailableError` when the online store fails,
FastAPI's ``RequestValidationError`` for rows that still miss a required feature; a model that
raises propagates its exception (the micro-batcher then retries each request alone).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
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


# One /predict request's rows and their feature values, waiting for an online-store read.
FeatureRead = tuple[Sequence[BaseModel], list[dict[str, Any]]]


@dataclass(slots=True)
class Job:
    """One request's rows, validated and complete, waiting for their model call."""

    request_id: str
    values: list[dict[str, Any]]
    # As sent (A/B routing hashes them), and as logged.
    raw_ids: list[Any]
    entity_ids: list[str | None]
    # Each row's shadow segment (None: no shadow).
    segments: list[dict[str, str]] | None
    # A /predict/batch call: its shadow pairs are named "<request id>:<row>".
    batch: bool


def _is_compiled(model: LoadedModel) -> bool:
    return getattr(model, "compiled", None) is not None


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
        # The metric children, labelled once: a labels() lookup per request costs a lock and a dict.
        self._champion_latency = metrics.prediction_latency.labels("champion")
        self._champion_rows = metrics.predictions.labels("champion")
        # The model call is cheap enough for the event loop only when every model that can
        # answer is compiled (~30 µs a row); scikit-learn's ~3 ms per call is not.
        answering = [champion] if ab is None else list(ab.models.values())
        self.inline = all(_is_compiled(m) for m in answering)

    # ------------------------------------------------------------------ features
    def request_values(self, rows: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """Each row's feature values as sent (None: left out)."""
        return [self.models.feature_values(r) for r in rows]

    def needs_store(self, rows: Sequence[BaseModel], values: list[dict[str, Any]]) -> bool:
        """Whether :meth:`complete` would read the online store (blocking I/O) for these rows."""
        if self.reader is None:
            return False
        return any(
            self.models.entity_id(r) is not None and any(_is_missing(x) for x in v.values())
            for r, v in zip(rows, values, strict=True)
        )

    def fill(self, requests: Sequence[FeatureRead]) -> None:
        """Fill the gaps of every request's ``values`` (in place) from the online store, in one
        read for all of them: concurrent entity-id requests share Feast's ~2 ms per call."""
        if self.reader is None:
            return
        gaps: list[dict[str, Any]] = []
        ids: list[Any] = []
        for rows, values in requests:
            for row, v in zip(rows, values, strict=True):
                entity = self.models.entity_id(row)
                if entity is not None and any(_is_missing(x) for x in v.values()):
                    gaps.append(v)
                    ids.append(entity)
        if not ids:
            return
        try:
            stored = self.reader.records(ids)
        except Exception as exc:  # Feast raises many types; any of them means "not now".
            raise FeatureStoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        for v, record in zip(gaps, stored, strict=True):
            for column, value in v.items():
                stored_value = record.get(column)
                if _is_missing(value) and not _is_missing(stored_value):
                    v[column] = stored_value  # request values win; only gaps are filled

    def complete(self, rows: Sequence[BaseModel], values: list[dict[str, Any]], *, batch: bool) -> None:
        """Fill ``values``' gaps from the online store (in place), then :meth:`check` them."""
        self.fill([(rows, values)])
        self.check(rows, values, batch=batch)

    def complete_many(self, requests: Sequence[FeatureRead]) -> list[Exception | None]:
        """:meth:`complete` for concurrent ``/predict`` requests (one store read for all); each
        request's error is returned, not raised, so one request's 422 is its own, and a store
        failure (one read failed) is every request's, without reading again for each."""
        try:
            self.fill(requests)
        except FeatureStoreUnavailableError as exc:
            return [exc] * len(requests)
        errors: list[Exception | None] = []
        for rows, values in requests:
            try:
                self.check(rows, values, batch=False)
            except RequestValidationError as exc:
                errors.append(exc)
            else:
                errors.append(None)
        return errors

    def check(self, rows: Sequence[BaseModel], values: list[dict[str, Any]], *, batch: bool) -> None:
        """422 naming each required feature still missing.

        A nullable feature (the version was trained with gaps in it) may stay missing: the
        model scores it as such, exactly as batch scoring does.
        """
        errors = []
        nullable = self.models.nullable
        for i, v in enumerate(values):
            for column, value in v.items():
                if _is_missing(value) and column not in nullable:
                    if self.reader is None:
                        why = "Field required"
                    elif self.models.entity_id(rows[i]) is not None:
                        why = "Field required (the feature store has no value for this entity)"
                    else:
                        why = f"Field required (or send {self.models.entity_field!r} to read it from the feature store)"
                    sent = self.models.sent_marker(rows[i], column) if self.models.missing_markers else None
                    if sent is not None:
                        why += f"; {sent!r} reads as missing (the dataset's na_values)"
                    where = ("body", "rows", i, column) if batch else ("body", column)
                    errors.append({"type": "missing", "loc": where, "msg": why, "input": sent})
        if errors:
            raise RequestValidationError(errors)

    def features(self, rows: Sequence[BaseModel], *, batch: bool) -> list[dict[str, Any]]:
        """Each row's feature values, gaps filled from the online store; 422 naming what is still missing."""
        values = self.request_values(rows)
        self.complete(rows, values, batch=batch)
        return values

    def job(self, rows: Sequence[BaseModel], values: list[dict[str, Any]], request_id: str, *, batch: bool) -> Job:
        """``rows`` (complete ``values``) ready for :meth:`score_jobs`."""
        raw_ids = [self.models.entity_id(r) for r in rows]
        segments = None
        if self.shadow is not None:
            segments = [self._segment(r, v) for r, v in zip(rows, values, strict=True)]
        entity_ids = [None if e is None else str(e) for e in raw_ids]
        return Job(request_id, values, raw_ids, entity_ids, segments, batch)

    # ------------------------------------------------------------------ scoring
    def score(self, rows: Sequence[BaseModel], request_id: str, *, batch: bool) -> Scored:
        """Scores of ``rows`` (champion, or each row's A/B variant); champion-scored rows are
        then offered to the shadow. Blocking (it may read the online store)."""
        values = self.features(rows, batch=batch)
        return self.score_jobs([self.job(rows, values, request_id, batch=batch)])[0]

    def _score(self, model: LoadedModel, values: list[dict[str, Any]]) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        scores = np.asarray(model.score_rows(values), dtype="float64")
        elapsed = time.perf_counter() - start
        if scores.shape != (len(values),):
            raise ValueError(f"{model.name} {model.version} returned shape {scores.shape} for {len(values)} rows")
        return scores, elapsed

    def score_jobs(self, jobs: Sequence[Job]) -> list[Scored]:
        """Score every job's rows in one model call (one per A/B variant), then log and mirror them
        in one call each; one :class:`Scored` per job, in order."""
        if len(jobs) == 1:
            values, raw_ids, entity_ids = jobs[0].values, jobs[0].raw_ids, jobs[0].entity_ids
        else:
            values = [v for j in jobs for v in j.values]
            raw_ids = [e for j in jobs for e in j.raw_ids]
            entity_ids = [e for j in jobs for e in j.entity_ids]
        n = len(values)
        if self.ab is None:
            scores, elapsed = self._score(self.champion, values)
            self._champion_latency.observe(elapsed)
            self._champion_rows.inc(n)
            variants = None
            versions = [self.champion.version] * n
            mirrored: Sequence[int] = range(n)
        else:
            variants = [self.ab.route(e) for e in raw_ids]
            scores, versions, elapsed = self._score_variants(self.ab, values, variants)
            # A row the challenger already answered has nothing to compare against in shadow.
            mirrored = [i for i, v in enumerate(variants) if self.ab.alias(v) == "champion"]
        if self.prediction_log is not None:
            # Sampled by request id: a request's rows are all in the log or all out.
            self.prediction_log.record(
                values,
                scores,
                model=self.model_name,
                version=versions if variants is not None else versions[0],
                variant=variants,
                request_ids=jobs[0].request_id if len(jobs) == 1 else [j.request_id for j in jobs for _ in j.values],
                entity_ids=entity_ids,
            )
        if self.shadow is not None and mirrored:
            self._mirror(self.shadow, jobs, values, scores, mirrored, elapsed)
        out: list[Scored] = []
        start = 0
        for job in jobs:
            end = start + len(job.values)
            out.append(
                Scored(
                    scores[start:end],
                    job.entity_ids,
                    None if variants is None else variants[start:end],
                    versions[start:end],
                )
            )
            start = end
        return out

    def _mirror(
        self,
        shadow: ShadowMirror,
        jobs: Sequence[Job],
        values: list[dict[str, Any]],
        scores: np.ndarray,
        mirrored: Sequence[int],
        elapsed: float,
    ) -> None:
        if shadow.shed(len(mirrored)):  # the process is busy: nothing more spent on the shadow
            return
        ids: list[str] = []
        segments: list[dict[str, str]] = []
        entity_ids: list[str | None] = []
        for job in jobs:
            # A batch row's pair is named after the call's request id and the row's position.
            if job.batch:
                ids.extend(f"{job.request_id}:{i}" for i in range(len(job.values)))
            else:
                ids.append(job.request_id)
            segments.extend(job.segments or [{} for _ in job.values])
            entity_ids.extend(job.entity_ids)
        if len(mirrored) != len(values):
            ids = [ids[i] for i in mirrored]
            segments = [segments[i] for i in mirrored]
            entity_ids = [entity_ids[i] for i in mirrored]
            values = [values[i] for i in mirrored]
        accepted = shadow.submit_many(
            ids, values, [float(scores[i]) for i in mirrored], elapsed * 1000.0, entity_ids, segments
        )
        if not accepted:
            self.metrics.shadow_dropped.inc(len(ids))

    def _score_variants(
        self, ab: AbRouter, values: list[dict[str, Any]], variants: list[str]
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
                part, elapsed = self._score(model, [values[i] for i in rows])
            except Exception:
                self.metrics.ab_errors.labels(name).inc(len(rows))
                for _ in rows:
                    ab.tally.record(name, 0.0, error=True)
                raise
            self.metrics.prediction_latency.labels(alias).observe(elapsed)
            self.metrics.predictions.labels(alias).inc(len(rows))
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


__all__ = ["FeatureRead", "Job", "Scored", "Scorer"]
