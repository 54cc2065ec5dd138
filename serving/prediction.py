"""``POST /predict`` and ``POST /predict/batch``: a validated body in, scores (or an error) out.

Both endpoints are plain functions run in the thread pool together with their body's parsing
and validation (:class:`~serving.body.OffLoopBodyRoute`); scoring itself is
:class:`~serving.scoring.Scorer`'s, and every answer's shape :mod:`serving.responses`'.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel

from serving.body import OffLoopBodyRoute
from serving.metrics import ServingMetrics
from serving.responses import answer, failure
from serving.schemas import BatchPredictResponse, PredictResponse, RequestModels, RowPrediction
from serving.scoring import Scorer

# Documented answers besides 200 and 422 (the limits are BodyLimitMiddleware's, serving.limits).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not parseable JSON"},
    408: {"description": "the body did not arrive in time"},
    413: {"description": "the body is larger than the endpoint's limit (named in the answer)"},
    503: {"description": "feature store unavailable"},
}


def add_prediction_routes(
    app: FastAPI,
    *,
    scorer: Scorer,
    models: RequestModels,
    metrics: ServingMetrics,
    model_name: str,
    champion_version: str,
    threshold: float,
) -> None:
    """Add the two scoring endpoints to ``app``; ``threshold`` turns a score into its label."""

    def predict(body: BaseModel) -> Response:
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            scored = scorer.score([body], request_id, batch=False)
        except RequestValidationError:
            raise
        except Exception as exc:
            return failure(metrics, "/predict", request_id, exc)
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
            return failure(metrics, "/predict/batch", request_id, exc)
        variants = scored.variants
        metrics.request_latency.labels("/predict/batch").observe(time.perf_counter() - start)
        result = BatchPredictResponse(
            model_name=model_name,
            model_version=champion_version,
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
    for path, endpoint, response_model in (
        ("/predict", predict, PredictResponse),
        ("/predict/batch", predict_batch, BatchPredictResponse),
    ):
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=response_model,
            responses=ERROR_RESPONSES,
            route_class_override=OffLoopBodyRoute,
        )


__all__ = ["ERROR_RESPONSES", "add_prediction_routes"]
