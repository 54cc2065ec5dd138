"""The online app: ``POST /predict``, ``POST /predict/batch``, probes, metrics, OpenAPI.

    request ─▶ schema check (generated models) ─▶ features left out read from Feast by entity id
            ─▶ champion scores ─▶ response (model, version, request id, score, label)
                                 └▶ ShadowMirror.submit(): put_nowait, nothing awaited

Each body is read within its limits first (:mod:`serving.limits`). A small ``/predict`` body
is then parsed, validated and (with compiled models) scored on the event loop, concurrent ones
together in one model call (:mod:`serving.batching`); online-feature reads, scikit-learn
scoring and large bodies go to the thread pool (the rule: :mod:`serving.prediction`), so a
large body or a slow client never delays a health check. Errors never echo large inputs or
non-finite numbers back.

:func:`create_app` assembles the pieces, each in its own module:

    serving.scoring     Scorer: features (request, then online store), model input, champion or
                        A/B variant scores, champion-scored rows offered to the shadow
    serving.prediction  the two scoring endpoints around it, and where each part runs
    serving.batching    adaptive micro-batching of concurrent /predict requests
    serving.responses   the request id header and every error answer (422, 503, 500)
    serving.probes      /healthz, /readyz, /ab, /metrics
    serving.limits      the body size and read-time limits (middleware)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from mlops.schema import ServingSchema
from serving.batching import BatchCollector, MicroBatcher
from serving.config import MicroBatchingConfig
from serving.direct import ServingApi
from serving.limits import BodyLimitMiddleware, RequestLimits
from serving.metrics import ServingMetrics
from serving.models import LoadedModel
from serving.prediction import add_prediction_routes
from serving.probes import add_probe_routes
from serving.responses import REQUEST_ID_HEADER, validation_handler
from serving.schemas import MAX_BATCH_ROWS, build_request_models
from serving.scoring import Scorer

if TYPE_CHECKING:
    from feature_store.store import OnlineFeatureReader
    from observability.prediction_log import PredictionLogger
    from serving.ab import AbRouter
    from serving.shadow.mirror import ShadowMirror
    from serving.shadow.store import ShadowPair

# The scoring endpoints, counted under their own path when a body limit refuses them.
_SCORING_PATHS = ("/predict", "/predict/batch")


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
    prediction_log: PredictionLogger | None = None,
    batching: MicroBatchingConfig | None = None,
    missing_markers: Sequence[str] = (),
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
    ``prediction_log`` records what was scored (sampled, written off the hot path); the caller
    owns it (and closes it at shutdown). ``batching``: micro-batching of ``/predict`` (default
    :class:`~serving.config.MicroBatchingConfig`; ``enabled=False`` scores each request alone).
    ``missing_markers``: the placeholders the champion's dataset read as missing (its
    ``na_values``): a feature sent as one is a gap, as batch scoring reads it.
    """
    limits = limits or RequestLimits()
    batching = batching or MicroBatchingConfig()
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
        missing_markers=missing_markers,
    )
    _register_versions(metrics, model_name, champion, challenger, shadow)
    scorer = Scorer(
        champion=champion,
        serving_schema=schema,
        models=models,
        feature_reader=feature_reader,
        shadow=shadow,
        metrics=metrics,
        segment_columns=segment_columns,
        ab=ab,
        model_name=model_name,
        prediction_log=prediction_log,
    )
    if prediction_log is not None:
        metrics.watch_prediction_log(prediction_log.stats)
    batcher = None
    if batching.enabled:
        # On the loop when every answering model is compiled; scikit-learn's calls in the pool.
        batcher = MicroBatcher.from_config(scorer.score_jobs, batching, offload=not scorer.inline)
        metrics.registry.register(BatchCollector(batcher.stats))
    reads = None
    if batching.enabled and feature_reader is not None:
        # Entity-id requests arriving together share one online-store read (blocking I/O: the pool).
        reads = MicroBatcher.from_config(scorer.complete_many, batching, offload=True)
        metrics.registry.register(
            BatchCollector(reads.stats, "serving_feature_read_batch", "Online-store reads made for /predict requests")
        )

    app = ServingApi(
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
    app.state.batcher = batcher

    def on_refused(path: str, kind: str) -> None:
        # Any path can carry a body: only the scoring endpoints get a label of their own.
        metrics.errors.labels(path if path in _SCORING_PATHS else "other", kind).inc()

    body_limits = {
        "max_bytes": limits.max_body_bytes,
        "max_bytes_by_path": {"/predict/batch": limits.batch_body_bytes(max_batch)},
        "timeout_s": limits.body_timeout_s,
        "on_refused": on_refused,
    }
    app.add_middleware(BodyLimitMiddleware, **body_limits)
    app.add_exception_handler(RequestValidationError, validation_handler(metrics, models.pii))
    add_prediction_routes(
        app,
        scorer=scorer,
        models=models,
        metrics=metrics,
        model_name=model_name,
        champion_version=champion.version,
        threshold=threshold,
        batcher=batcher,
        reads=reads,
        # POST /predict past FastAPI's middleware (serving.direct), within the same body limits.
        guard=lambda route: BodyLimitMiddleware(route, **body_limits),  # type: ignore[arg-type]
    )
    add_probe_routes(
        app,
        champion=champion,
        model_name=model_name,
        metrics=metrics,
        feature_reader=feature_reader,
        shadow=shadow,
        ab=ab,
    )
    return app


def _register_versions(
    metrics: ServingMetrics,
    model_name: str,
    champion: LoadedModel,
    challenger: LoadedModel | None,
    shadow: ShadowMirror | None,
) -> None:
    """The versions served as ``serving_model_info``; with a shadow, its pairs counted in the metrics.

    A mirror built without a champion version logs the app's; one built for another champion
    is refused (its pairs would compare the challenger with a model nobody serves).
    """
    metrics.model_info.labels("champion", model_name, champion.version).set(1)
    if shadow is None:
        if challenger is not None:
            metrics.model_info.labels("challenger", model_name, challenger.version).set(1)
        return
    if not shadow.champion_version:
        shadow.champion_version = champion.version
    elif shadow.champion_version != champion.version:
        raise ValueError(f"shadow mirror logs champion {shadow.champion_version}, the app serves {champion.version}")
    metrics.model_info.labels("challenger", model_name, shadow.challenger_version).set(1)
    if shadow.kinds is None:
        # The mirror builds the challenger's frames typed as the champion's requests are.
        shadow.kinds = dict(champion.schema.kinds)

    def on_pairs(pairs: list[ShadowPair]) -> None:
        metrics.observe_shadow_call(pairs, sum(shadow.agrees(p) for p in pairs))

    shadow.add_listener(on_pairs)
    shadow.add_shed_listener(metrics.shadow_shed.inc)


__all__ = ["REQUEST_ID_HEADER", "create_app"]
