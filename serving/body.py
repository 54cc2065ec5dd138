"""Request bodies parsed and validated in a worker thread, never on the event loop.

FastAPI reads a declared body model on the event loop: ``json.loads`` of the whole body, then
the model's validation, before the endpoint's thread even starts. A large body therefore
stalls every other request on the server, health checks included, for as long as that takes.
:class:`OffLoopBodyRoute` keeps the declaration, so the OpenAPI document and the shape of the
422 answers stay FastAPI's own, but its handler only collects the bytes on the loop: parsing,
validation and the endpoint itself run in the thread pool. (The body has already been read in
full and within its limits by :class:`serving.limits.BodyLimitMiddleware`.)
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides: ``application/json`` or ``application/*+json``; no content type is not JSON."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def parse_body(model: type[BaseModel], raw: bytes, content_type: str | None) -> BaseModel:
    """``raw`` validated as ``model``, with FastAPI's rules and error shapes (locations under ``body``).

    ``json.loads`` reads ``NaN``, ``Infinity`` and ``1e309`` as floats; the models' numbers
    refuse them as ``finite_number`` errors naming the field.
    """
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    value: Any = raw  # not JSON: validated as bytes, which no request model accepts
    if _is_json(content_type):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from None
        except (ValueError, RecursionError):  # bytes that are not UTF-8, an over-long integer, deep nesting
            raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


class OffLoopBodyRoute(APIRoute):
    """A route whose endpoint takes its validated JSON body (its one parameter) and returns a Response.

    The endpoint must be a plain ``def``: it runs, with the body's parsing and validation, in
    the thread pool.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.body_field is None:
            raise TypeError(f"{self.path}: {type(self).__name__} needs an endpoint with a body parameter")
        model = self.body_field.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{self.path}: the body parameter must be a pydantic model, got {model!r}")
        endpoint: Callable[[BaseModel], Response] = self.endpoint

        def work(raw: bytes, content_type: str | None) -> Response:
            return endpoint(parse_body(model, raw, content_type))

        async def handler(request: Request) -> Response:
            raw = await request.body()
            return await run_in_threadpool(work, raw, request.headers.get("content-type"))

        return handler


__all__ = ["OffLoopBodyRoute", "parse_body"]
