"""The online app: ``POST /predict``, ``POST /predict/batch``, probes, metrics, OpenAPI.

    request ─▶ schema check (generated models) ─▶ features left out read from Feast by entity id
            ─▶ champion scores ─▶ response (model, version, request id, score, label)
                                 └▶ ShadowMirror.submit(): put_nowait, nothing awaited

The event loop only moves bytes: each body is read within its limits first
(:mod:`serving.limits`), then parsed, validated and scored in the thread pool
(:mod:`serving.body`; scoring is CPU-bound scikit-learn), so a large body or a slow client never
delays a health check. Errors never echo large inputs or non-finite numbers back.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from mlops.roles import group_labels_of, group_of
from mlops.schema import ServingSchema
from serving.body import OffLoopBodyRoute
from serving.limits import BodyLimitMiddleware, RequestLimits
from serving.metrics import ServingMetrics
from serving.models import LoadedModel
from serving.schemas import (
    MAX_BATCH_ROWS,
    BatchPredictResponse,
    PredictResponse,
    RequestModels,
    RowPrediction,
    build_request_models,
)

if TYPE_CHECKING:
    from feature_store.store import OnlineFeatureReader
    from serving.ab import AbRouter
    from serving.shadow.mirror import ShadowMirror
    from serving.shadow.store import ShadowPair

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
# A 422 lists at most this many errors (a batch of wrong rows has thousands) and echoes no
# input longer than this many characters.
MAX_ERRORS_SHOWN = 50
MAX_ECHO_CHARS = 64


class FeatureStoreUnavailableError(Exception):
    """The online store failed while a request needed features from it (answered with 503)."""


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _Scored(NamedTuple):
    scores: np.ndarray
    entity_ids: list[str | None]
    # Per row, with A/B on: the variant that answered and its model's version.
    variants: list[str] | None
    versions: list[str]


class _Scorer:
    """Everything a request needs, built once per app."""

    def __init__(
        self,
        *,
        champion: LoadedModel,
        serving_schema: ServingSchema,
        model_name: str,
        models: RequestModels,
        feature_reader: OnlineFeatureReader | None,
        shadow: ShadowMirror | None,
        metrics: ServingMetrics,
        threshold: float,
        segment_columns: Sequence[str],
        ab: AbRouter | None = None,
    ) -> None:
        self.champion = champion
        self.ab = ab
        self.schema = serving_schema.kinds
        # Numeric sensitive attributes: (edges, group names), resolved once, not per request.
        self.bins = {
            c: (spec.bins, group_labels_of(spec.bins)) for c, spec in serving_schema.sensitive.items() if spec.bins
        }
        self.model_name = model_name
        self.models = models
        self.reader = feature_reader
        self.shadow = shadow
        self.metrics = metrics
        self.threshold = threshold
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

    def score(self, rows: Sequence[BaseModel], request_id: str, *, batch: bool) -> _Scored:
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
        return _Scored(scores, entity_ids, variants, versions)

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


def create_app(
    *,
    champion: LoadedModel,
    challenger: LoadedModel | None = None,
    serving_schema: ServingSchema | dict[str, str],
    model_name: str,
    feature_reader: OnlineFeatureReader | None = None,
    entity_column: str | None = None,
    shadow: ShadowMirror | None,
    segment_columns: Sequence[str] = (),
    threshold: float = 0.5,
    max_batch: int = MAX_BATCH_ROWS,
    ab: AbRouter | None = None,
    limits: RequestLimits | None = None,
) -> FastAPI:
    """Build the serving app around loaded models.

    ``serving_schema`` defines the request (normally the champion's). ``entity_column`` names
    the request's entity id field (default ``entity_id``). With a ``feature_reader``, features
    may be left out of a request and are read from the online store by entity id; features
    given in the request win. ``shadow`` mirrors every scored row to the challenger; the caller
    owns it (and closes it at shutdown). ``segment_columns`` (e.g. sensitive attributes) are
    logged with shadow pairs; those that are not features are optional request fields that
    never reach the model. ``ab`` routes each request to an A/B variant by its entity id
    (sticky); rows the challenger variant answers are not mirrored to the shadow. ``limits``:
    body size and read time (default :class:`~serving.limits.RequestLimits`).
    """
    limits = limits or RequestLimits()
    metrics = ServingMetrics()
    schema = ServingSchema.coerce(serving_schema)
    entity_type: type[int] | type[str] | None = None
    if feature_reader is not None:
        entity_type = int if feature_reader.int_ids else str
    models = build_request_models(
        schema,
        model_name=model_name,
        features_optional=feature_reader is not None,
        entity_field=entity_column or "entity_id",
        entity_type=entity_type,
        segment_columns=list(segment_columns),
        max_batch=max_batch,
    )
    metrics.model_info.labels("champion", model_name, champion.version).set(1)
    if shadow is not None:
        if not shadow.champion_version:
            shadow.champion_version = champion.version
        elif shadow.champion_version != champion.version:
            raise ValueError(
                f"shadow mirror logs champion {shadow.champion_version}, the app serves {champion.version}"
            )
        metrics.model_info.labels("challenger", model_name, shadow.challenger_version).set(1)

        def on_pairs(pairs: list[ShadowPair]) -> None:
            metrics.observe_shadow_call(pairs, sum(shadow.agrees(p) for p in pairs))

        shadow.add_listener(on_pairs)
    elif challenger is not None:
        metrics.model_info.labels("challenger", model_name, challenger.version).set(1)
    scorer = _Scorer(
        champion=champion,
        serving_schema=schema,
        model_name=model_name,
        models=models,
        feature_reader=feature_reader,
        shadow=shadow,
        metrics=metrics,
        threshold=threshold,
        segment_columns=segment_columns,
        ab=ab,
    )

    app = FastAPI(
        title=f"{model_name} model",
        version=champion.version,
        description=(
            f"Scores {model_name} (champion {champion.version}). Request fields follow the model's serving schema; "
            "unknown fields are rejected."
        ),
    )
    app.state.metrics = metrics
    app.state.shadow = shadow
    app.state.request_models = models
    app.state.limits = limits

    def on_refused(path: str, kind: str) -> None:
        # Any path can carry a body: only the scoring endpoints get a label of their own.
        metrics.errors.labels(path if path in ("/predict", "/predict/batch") else "other", kind).inc()

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=limits.max_body_bytes,
        max_bytes_by_path={"/predict/batch": limits.batch_body_bytes(max_batch)},
        timeout_s=limits.body_timeout_s,
        on_refused=on_refused,
    )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        metrics.errors.labels(request.url.path, "validation").inc()
        found = exc.errors()
        content: dict[str, Any] = {
            "detail": jsonable_encoder([_safe_error(e, models.pii) for e in found[:MAX_ERRORS_SHOWN]])
        }
        if len(found) > MAX_ERRORS_SHOWN:
            content["errors_not_shown"] = len(found) - MAX_ERRORS_SHOWN
        return JSONResponse(content, status_code=422, headers={REQUEST_ID_HEADER: str(uuid.uuid4())})

    app.add_exception_handler(RequestValidationError, on_invalid)

    def failure(endpoint: str, request_id: str, exc: Exception) -> JSONResponse:
        if isinstance(exc, FeatureStoreUnavailableError):
            metrics.errors.labels(endpoint, "unavailable").inc()
            log.warning("request %s: feature store unavailable: %s", request_id, exc)
            status, detail = 503, "feature store unavailable"
        else:
            metrics.errors.labels(endpoint, "internal").inc()
            log.exception("request %s failed", request_id)
            status, detail = 500, "internal error"
        return JSONResponse(
            {"detail": detail, "request_id": request_id}, status_code=status, headers={REQUEST_ID_HEADER: request_id}
        )

    def answer(result: BaseModel, request_id: str) -> Response:
        return Response(
            result.model_dump_json(), media_type="application/json", headers={REQUEST_ID_HEADER: request_id}
        )

    # Both run in the thread pool with their body's parsing and validation (OffLoopBodyRoute).
    def predict(body: BaseModel) -> Response:
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            scored = scorer.score([body], request_id, batch=False)
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure("/predict", request_id, exc)
        score = float(scored.scores[0])
        metrics.request_latency.labels("/predict").observe(time.perf_counter() - start)
        result = PredictResponse(
            model_name=model_name,
            model_version=scored.versions[0],
            request_id=request_id,
            entity_id=scored.entity_ids[0],
            score=score,
            label=int(score >= threshold),
            variant=None if scored.variants is None else scored.variants[0],
        )
        return answer(result, request_id)

    def predict_batch(body: BaseModel) -> Response:
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            scored = scorer.score(models.rows(body), request_id, batch=True)
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure("/predict/batch", request_id, exc)
        variants = scored.variants
        metrics.request_latency.labels("/predict/batch").observe(time.perf_counter() - start)
        result = BatchPredictResponse(
            model_name=model_name,
            model_version=champion.version,
            request_id=request_id,
            predictions=[
                RowPrediction(
                    entity_id=e,
                    score=float(s),
                    label=int(s >= threshold),
                    variant=None if variants is None else variants[i],
                    model_version=None if variants is None else scored.versions[i],
                )
                for i, (e, s) in enumerate(zip(scored.entity_ids, scored.scores, strict=True))
            ],
        )
        return answer(result, request_id)

    # The body types exist only now, so they are set on the handlers before FastAPI reads them
    # (a string annotation naming a local variable could not be resolved).
    predict.__annotations__["body"] = models.row
    predict_batch.__annotations__["body"] = models.batch
    unavailable: dict[int | str, dict[str, Any]] = {
        400: {"description": "the body is not parseable JSON"},
        408: {"description": "the body did not arrive in time"},
        413: {"description": "the body is larger than the endpoint's limit (named in the answer)"},
        503: {"description": "feature store unavailable"},
    }
    for path, endpoint, response_model in (
        ("/predict", predict, PredictResponse),
        ("/predict/batch", predict_batch, BatchPredictResponse),
    ):
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=response_model,
            responses=unavailable,
            route_class_override=OffLoopBodyRoute,
        )

    # On the event loop itself: a probe must not queue behind scoring work for a worker thread.
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing about the model or the feature store)."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        """Ready when the champion is loaded and, if configured, the online store answers."""
        checks: dict[str, str] = {"model": f"{model_name} {champion.version}"}
        ready = champion.model is not None
        if feature_reader is not None:
            try:
                # An id that never exists: the answer is all nulls, but getting one proves the store reads.
                feature_reader.row(0 if feature_reader.int_ids else "__readyz__")
                checks["feature_store"] = "ok"
            except Exception as exc:
                ready = False
                checks["feature_store"] = f"unavailable: {type(exc).__name__}"
        if shadow is not None:
            checks["shadow"] = "closed" if shadow.closed else f"challenger {shadow.challenger_version}"
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    @app.get("/ab")
    def ab_status() -> dict[str, Any]:
        """A/B routing: each variant's alias, weight, version and what it has served so far."""
        if ab is None:
            return {"enabled": False, "variants": {}}
        stats = ab.tally.snapshot()
        variants: dict[str, Any] = {}
        for name, variant in sorted(ab.config.variants.items()):
            model = ab.models.get(name)
            served = stats.get(name)
            variants[name] = {
                "alias": variant.alias,
                "weight": variant.weight,
                "model_version": None if model is None else model.version,
                "requests": 0 if served is None else served.requests,
                "errors": 0 if served is None else served.errors,
                "error_rate": 0.0 if served is None else served.error_rate,
                "mean_latency_ms": None if served is None else served.mean_latency_ms,
                "mean_score": None if served is None else served.mean_score,
            }
        return {"enabled": True, "sticky_key": ab.config.sticky_key, "variants": variants}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
    )
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app


_DROP = object()


def _echo(value: Any) -> Any:
    """``value`` as safe to send back: short scalars as they are, long text cut, anything else dropped.

    Non-finite floats cannot be written as JSON at all; a list or an object is a whole row or
    batch (megabytes), and bytes are a body that was not JSON; a long string or integer may be
    megabytes too.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else _DROP
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "…"
    return _DROP


def _safe_error(error: Any, pii: frozenset[str]) -> dict[str, Any]:
    """A validation error safe to send back: its input echoed only if short (:func:`_echo`), an
    unknown field's value never (it may be personal data), and a declared PII field named as such."""
    error = dict(error)
    if error.get("type") == "extra_forbidden":
        error.pop("input", None)
        field = error.get("loc", ())[-1] if error.get("loc") else None
        if field in pii:
            error["msg"] = "declared personal data (PII): not a model input, never send it to the model"
    elif "input" in error and (echoed := _echo(error["input"])) is not _DROP:
        error["input"] = echoed
    else:
        error.pop("input", None)
    if isinstance(error.get("ctx"), dict):
        # An exception (a validator's ValueError) as its message; values as cut as inputs.
        ctx = {k: _echo(str(v) if isinstance(v, Exception) else v) for k, v in error["ctx"].items()}
        error["ctx"] = {k: v for k, v in ctx.items() if v is not _DROP}
    return error


__all__ = ["REQUEST_ID_HEADER", "FeatureStoreUnavailableError", "create_app"]
