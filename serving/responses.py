"""What the app answers, other than a score: the request id, and every error shape it sends.

    200  the response model as JSON                      X-Request-ID: the id in the body
    422  {"detail": [...], "errors_not_shown": n}        at most MAX_ERRORS_SHOWN errors; an
                                                         input echoed only when short and
                                                         finite, an unknown field's never, a
                                                         declared PII field named as such
    503  {"detail": "feature store unavailable", "request_id": ...}
    500  {"detail": "internal error", "request_id": ...}

Every failed request is counted in ``serving_errors_total{endpoint, kind}``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from mlops.errors import FeatureStoreUnavailableError
from serving.metrics import ServingMetrics

# One logger for every line the online app writes, whichever module writes it.
log = logging.getLogger("serving.app")
REQUEST_ID_HEADER = "X-Request-ID"
# A 422 lists at most this many errors (a batch of wrong rows has thousands) and echoes no
# input longer than this many characters.
MAX_ERRORS_SHOWN = 50
MAX_ECHO_CHARS = 64


def answer(result: BaseModel | dict[str, Any], request_id: str) -> Response:
    """A scoring endpoint's 200: ``result`` as JSON, the request id in the header too.

    The endpoints give plain dicts shaped as their documented response models
    (:mod:`serving.schemas`): orjson writes one in ~1 µs, a model's validation and dump cost
    ten times that. Non-finite floats become ``null``, as pydantic writes them.
    """
    body = result.model_dump_json().encode() if isinstance(result, BaseModel) else orjson.dumps(result)
    return Response(body, media_type="application/json", headers={REQUEST_ID_HEADER: request_id})


def failure(metrics: ServingMetrics, endpoint: str, request_id: str, exc: Exception) -> JSONResponse:
    """A scoring endpoint's answer to ``exc``: 503 when the online store failed, else 500 (logged)."""
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


ExceptionHandler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def validation_handler(metrics: ServingMetrics, pii: frozenset[str]) -> ExceptionHandler:
    """The app's handler of ``RequestValidationError``: the 422, safe to send back (:func:`_safe_error`)."""

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        metrics.errors.labels(request.url.path, "validation").inc()
        found = exc.errors()
        content: dict[str, Any] = {"detail": jsonable_encoder([_safe_error(e, pii) for e in found[:MAX_ERRORS_SHOWN]])}
        if len(found) > MAX_ERRORS_SHOWN:
            content["errors_not_shown"] = len(found) - MAX_ERRORS_SHOWN
        return JSONResponse(content, status_code=422, headers={REQUEST_ID_HEADER: str(uuid.uuid4())})

    return on_invalid


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


__all__ = [
    "MAX_ECHO_CHARS",
    "MAX_ERRORS_SHOWN",
    "REQUEST_ID_HEADER",
    "ExceptionHandler",
    "answer",
    "failure",
    "validation_handler",
]
