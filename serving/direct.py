"""``POST /predict`` straight from the ASGI server to its handler, past the framework's stack.

A FastAPI request passes six middleware layers (server errors, telemetry, FastAPI's body limit,
ours, exception handling, an exit stack), then route matching and a ``Request`` object, before
its endpoint runs. For a single-row request scored by the compiled model that is several times
the cost of parsing and scoring it (``make profile``), and it is the per-request cost that
micro-batching cannot share. :class:`ServingApi` answers ``POST /predict`` by a direct route:

    uvicorn ─▶ ServingApi.__call__ ─ POST, a direct path ─▶ BodyLimitMiddleware ─▶ handler
                                   └ anything else ─▶ FastAPI as usual (middleware, routing)

What a client sees is unchanged: the body is read within the same limits (the same
:class:`~serving.limits.BodyLimitMiddleware`, so a 413 or 408 and its metric are the same), the
handler is the one the declared route calls, and its exceptions go to the app's own exception
handlers (the 422 naming fields, FastAPI's 400); one no handler takes propagates to the server
(a 500), as through FastAPI. The declared route stays: it documents the endpoint (OpenAPI) and
answers it where the direct route does not apply (the app mounted under a root path).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.body import RawHandler

# Wraps a direct route in what every request of the app passes first (the body limits).
Guard = Callable[[ASGIApp], ASGIApp]


class ServingApi(FastAPI):
    """FastAPI with direct routes for ``POST`` on given paths (:meth:`add_direct_post`).

    A middleware added after a direct route ends every direct route: a middleware given to
    the app (CORS, authentication, tracing) must see every request.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.direct_posts: dict[str, ASGIApp] = {}
        super().__init__(**kwargs)

    def add_direct_post(self, path: str, handle: RawHandler, guard: Guard) -> None:
        """Answer ``POST path`` with ``handle(body bytes, content type)``, the body read by ``guard``.

        The same path must also be declared as a route (its documentation, and its way under
        a root path).
        """
        self.direct_posts[path] = guard(_DirectRoute(self, handle))

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        self.direct_posts.clear()
        super().add_middleware(middleware_class, *args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path") and not self.root_path:
            route = self.direct_posts.get(scope["path"])
            if route is not None:
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class _DirectRoute:
    """An ASGI app calling one raw-body handler, its exceptions answered by ``app``'s handlers."""

    def __init__(self, app: FastAPI, handle: RawHandler) -> None:
        self.app = app
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:  # one message after BodyLimitMiddleware, which has read the body in full
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        content_type = None
        for name, value in scope["headers"]:  # ASGI header names are lower case
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        try:
            response = await self.handle(b"".join(chunks), content_type)
        except Exception as exc:
            response = await self._handled(scope, receive, exc)
        await response(scope, receive, send)

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        """``exc`` answered as the app's exception handlers answer it (looked up as Starlette
        does: an HTTP exception's status code first, then the exception's classes); re-raised
        when none takes it, for the server's 500."""
        handlers = self.app.exception_handlers
        handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
        if handler is None:
            handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers and c is not Exception), None)
        if handler is None:
            raise exc
        response = handler(Request(scope, receive), exc)
        if inspect.isawaitable(response):
            response = await response
        assert isinstance(response, Response)
        return response


__all__ = ["Guard", "ServingApi"]
