"""Request bodies: parsed fast, with FastAPI's rules and error shapes, where they cost least.

FastAPI reads a declared body model on the event loop: ``json.loads`` of the whole body, then
the model's validation, before the endpoint's thread even starts. A large body therefore
stalls every other request on the server, health checks included, for as long as that takes.
:class:`OffLoopBodyRoute` keeps the declaration, so the OpenAPI document and the shape of the
422 answers stay FastAPI's own, but its handler only collects the bytes on the loop: parsing,
validation and the endpoint itself run in the thread pool. (The body has already been read in
full and within its limits by :class:`serving.limits.BodyLimitMiddleware`.)

:func:`raw_body_route` keeps the same declaration but hands the endpoint's own coroutine the
raw bytes: ``POST /predict`` parses a small body (at most :data:`INLINE_BODY_BYTES`, a row is
a few hundred bytes: microseconds) on the loop, and decides itself what goes to the thread
pool (:mod:`serving.prediction`).

Parsing: orjson (~1 µs for a row) whenever its reading is the standard library's; every body
orjson refuses, or one with a run of 19+ digits (orjson reads integers past 64 bits as floats,
``json`` as exact integers), is read again by ``json.loads``, so what is accepted, refused
(400, or 422 naming the field for ``NaN``, ``Infinity``, ``1e309``) and echoed is exactly what
it was with ``json`` alone.
"""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from functools import lru_cache
from typing import Any

import orjson
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

# A body up to this size is parsed and validated on the event loop (tens of microseconds); a
# larger one in the thread pool, so a big body never stalls health checks.
INLINE_BODY_BYTES = 8 * 1024
# A number orjson might read differently from json: an integer beyond 64 bits (19+ digits).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


@lru_cache(maxsize=64)
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
            value = _loads(raw)
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


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)``, by orjson whenever it reads ``raw`` the same (see the module's docstring)."""
    if _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, 1e309, a BOM, a lone surrogate, bad UTF-8...: json decides, and words the error
    return json.loads(raw)


def _body_model(route: APIRoute) -> type[BaseModel]:
    if route.body_field is None:
        raise TypeError(f"{route.path}: {type(route).__name__} needs an endpoint with a body parameter")
    model = route.body_field.field_info.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{route.path}: the body parameter must be a pydantic model, got {model!r}")
    return model


# A route's own coroutine: (body bytes, content type) -> the answer.
RawHandler = Callable[[bytes, str | None], Awaitable[Response]]


def raw_body_route(handle: RawHandler) -> type[APIRoute]:
    """A route class whose requests go to ``handle`` with the raw body bytes.

    The endpoint it is given still declares the body model (the OpenAPI document and the
    validation models are FastAPI's); ``handle`` parses with :func:`parse_body` itself.
    """

    class RawBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            _body_model(self)

            async def handler(request: Request) -> Response:
                return await handle(await request.body(), request.headers.get("content-type"))

            return handler

    return RawBodyRoute


class OffLoopBodyRoute(APIRoute):
    """A route whose endpoint takes its validated JSON body (its one parameter) and returns a Response.

    The endpoint must be a plain ``def``: it runs, with the body's parsing and validation, in
    the thread pool.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        model = _body_model(self)
        endpoint: Callable[[BaseModel], Response] = self.endpoint

        def work(raw: bytes, content_type: str | None) -> Response:
            return endpoint(parse_body(model, raw, content_type))

        async def handler(request: Request) -> Response:
            raw = await request.body()
            return await run_in_threadpool(work, raw, request.headers.get("content-type"))

        return handler


__all__ = ["INLINE_BODY_BYTES", "OffLoopBodyRoute", "RawHandler", "parse_body", "raw_body_route"]
