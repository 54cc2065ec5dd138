"""``POST /predict`` and ``POST /predict/batch``: a validated body in, scores (or an error) out.

Where each part of a request runs (the event loop must stay free for other requests and the
probes; the thread pool costs a hop of ~50-100 µs each way):

    /predict, body ≤ INLINE_BODY_BYTES (serving.body; a row is a few hundred bytes)
        parse + validate + values                    event loop (tens of µs)
        features left out, entity id given           thread pool (Feast: blocking I/O); with
                                                     micro-batching on, concurrent requests'
                                                     reads are one store call (serving.batching)
        scoring   micro-batching on                  MicroBatcher (serving.batching): on the
                                                     loop when the models are compiled, else
                                                     one thread-pool call per batch
                  off, compiled models               event loop (~30 µs)
                  off, scikit-learn                  thread pool (~3 ms per call)
    /predict, larger body; /predict/batch           thread pool, all of it
                                                     (:class:`~serving.body.OffLoopBodyRoute`)

Scoring is :class:`~serving.scoring.Scorer`'s; answers are plain dicts shaped as the
documented response models, written by orjson (:func:`serving.responses.answer`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from serving.batching import MicroBatcher
from serving.body import INLINE_BODY_BYTES, OffLoopBodyRoute, parse_body, raw_body_route
from serving.direct import Guard, ServingApi
from serving.metrics import ServingMetrics
from serving.responses import answer, failure
from serving.schemas import BatchPredictResponse, PredictResponse, RequestModels
from serving.scoring import FeatureRead, Job, Scored, Scorer

# Documented answers besides 200 and 422 (the limits are BodyLimitMiddleware's, serving.limits).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not parseable JSON"},
    408: {"description": "the body did not arrive in time"},
    413: {"description": "the body is larger than the endpoint's limit (named in the answer)"},
    503: {"description": "feature store unavailable"},
}


def add_prediction_routes(
    app: ServingApi,
    *,
    scorer: Scorer,
    models: RequestModels,
    metrics: ServingMetrics,
    model_name: str,
    champion_version: str,
    threshold: float,
    batcher: MicroBatcher[Job, Scored] | None = None,
    reads: MicroBatcher[FeatureRead, Exception | None] | None = None,
    guard: Guard | None = None,
) -> None:
    """Add the two scoring endpoints to ``app``; ``threshold`` turns a score into its label.

    ``batcher``: scores concurrent ``/predict`` requests together (None: each on its own).
    ``reads``: reads the online features of concurrent ``/predict`` requests together
    (:meth:`~serving.scoring.Scorer.complete_many`; None: one store read each).
    ``guard``: with it, ``POST /predict`` is also a direct route of ``app`` (:mod:`serving.direct`),
    its body read by ``guard`` (the app's body limits), past FastAPI's per-request stack.
    """
    predict_latency = metrics.request_latency.labels("/predict")
    batch_latency = metrics.request_latency.labels("/predict/batch")

    def one_row(scored: Scored, request_id: str, start: float) -> Response:
        score = float(scored.scores[0])
        predict_latency.observe(time.perf_counter() - start)
        # PredictResponse's fields, in its order.
        return answer(
            {
                "model_name": model_name,
                "model_version": scored.versions[0],
                "request_id": request_id,
                "entity_id": scored.entity_ids[0],
                "score": score,
                "label": int(score >= threshold),
                "variant": None if scored.variants is None else scored.variants[0],
            },
            request_id,
        )

    def predict(body: BaseModel) -> Response:
        """The whole of a /predict request in the thread pool (a body too large for the loop)."""
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            scored = scorer.score([body], request_id, batch=False)
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure(metrics, "/predict", request_id, exc)
        return one_row(scored, request_id, start)

    def predict_large(raw: bytes, content_type: str | None) -> Response:
        return predict(parse_body(models.row, raw, content_type))

    async def predict_raw(raw: bytes, content_type: str | None) -> Response:
        if len(raw) > INLINE_BODY_BYTES:
            return await run_in_threadpool(predict_large, raw, content_type)
        rows = [parse_body(models.row, raw, content_type)]
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        values = scorer.request_values(rows)
        try:
            if scorer.needs_store(rows, values):
                if reads is not None:
                    error = await reads.submit((rows, values))
                    if error is not None:
                        raise error
                else:
                    await run_in_threadpool(scorer.complete, rows, values, batch=False)
            else:
                scorer.check(rows, values, batch=False)
            job = scorer.job(rows, values, request_id, batch=False)
            if batcher is not None:
                scored = await batcher.submit(job)
            elif scorer.inline:
                scored = scorer.score_jobs([job])[0]
            else:
                scored = (await run_in_threadpool(scorer.score_jobs, [job]))[0]
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure(metrics, "/predict", request_id, exc)
        return one_row(scored, request_id, start)

    def predict_batch(body: BaseModel) -> Response:
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            scored = scorer.score(models.rows(body), request_id, batch=True)
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure(metrics, "/predict/batch", request_id, exc)
        variants, versions = scored.variants, scored.versions
        batch_latency.observe(time.perf_counter() - start)
        # BatchPredictResponse's and RowPrediction's fields, in their order.
        predictions = [
            {
                "entity_id": e,
                "score": s,
                "label": int(s >= threshold),
                "variant": None if variants is None else variants[i],
                "model_version": None if variants is None else versions[i],
            }
            for i, (e, s) in enumerate(zip(scored.entity_ids, scored.scores.tolist(), strict=True))
        ]
        result = {
            "model_name": model_name,
            "model_version": champion_version,
            "request_id": request_id,
            "predictions": predictions,
        }
        return answer(result, request_id)

    # The body types exist only now, so they are set on the handlers before FastAPI reads them
    # (a string annotation naming a local variable could not be resolved).
    predict.__annotations__["body"] = models.row
    predict_batch.__annotations__["body"] = models.batch
    for path, endpoint, response_model, route_class in (
        ("/predict", predict, PredictResponse, raw_body_route(predict_raw)),
        ("/predict/batch", predict_batch, BatchPredictResponse, OffLoopBodyRoute),
    ):
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=response_model,
            responses=ERROR_RESPONSES,
            route_class_override=route_class,
        )
    if guard is not None:
        app.add_direct_post("/predict", predict_raw, guard)


__all__ = ["ERROR_RESPONSES", "add_prediction_routes"]
