"""What one request may cost before the app refuses it: body size, body read time, header read time.

    connection ─▶ request line + headers   (uvicorn protocol, serving.protocol)
                  within header_timeout_s and max_header_bytes, else 408 / 431 and closed
              ─▶ body                      (BodyLimitMiddleware, before anything parses it)
                  Content-Length over the limit: 413 at once; streamed (chunked) past it: 413;
                  not all there body_timeout_s after the headers: 408
              ─▶ the route: parsed and validated in a worker thread (serving.body)

Every refusal is JSON and names the limit. The body limit is per endpoint: ``/predict/batch``
gets room for its maximum number of rows, everything else ``max_body_bytes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class RequestLimits:
    """The limits, with defaults sized for the platform's tabular models.

    ``max_body_bytes`` (1 MiB): any body, ``/predict``'s included. A row is a few hundred
    bytes; parsing holds the interpreter lock, and a body at this limit parses in ~20 ms.
    ``batch_row_bytes`` (2 KiB): ``/predict/batch`` may send this much per row it may hold
    (2 MiB for 1000 rows: ~8x a row of the sample schema, parsed in ~40 ms). A body over it
    cannot be a valid batch of typical rows, so it is refused before its rows are counted.
    ``body_timeout_s`` (30 s): the whole body must arrive within this after the headers.
    ``header_timeout_s`` (10 s): the request line and headers must arrive within this; also
    how long a new connection may stay silent. ``max_header_bytes`` (16 KiB): h11's default,
    applied to the httptools parser too (it has no limit of its own).
    ``drain_bytes`` (4 MiB): after an early answer (a 413), how much of the rest of the body
    the server still reads and drops, so that a client that writes its whole body before
    reading gets the answer and keeps its connection. A longer rest (by Content-Length, or
    once this much is dropped) closes the connection at once: a refused 50 MB body costs
    nothing, one a little over the limit costs about what a valid one would.
    ``keep_alive_s`` (5 s): an idle connection between requests is closed after this.
    ``max_concurrency`` (None): uvicorn's ``limit_concurrency``. Off by default: uvicorn counts
    open connections, idle and slow ones included, and answers 503 to every request past the
    limit, liveness probes too; the timeouts above bound slow connections instead.
    """

    max_body_bytes: int = 1 * MIB
    batch_row_bytes: int = 2 * KIB
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    max_header_bytes: int = 16 * KIB
    drain_bytes: int = 4 * MIB
    keep_alive_s: int = 5
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.drain_bytes < 0:
            raise ValueError(f"drain_bytes must be 0 or more, got {self.drain_bytes}")
        for name in ("max_body_bytes", "batch_row_bytes", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 byte, got {getattr(self, name)}")
        for name in ("body_timeout_s", "header_timeout_s", "keep_alive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1 or None, got {self.max_concurrency}")

    def batch_body_bytes(self, max_rows: int) -> int:
        """The body limit of ``/predict/batch`` for batches of up to ``max_rows`` (never below ``/predict``'s)."""
        return max(self.max_body_bytes, max_rows * self.batch_row_bytes)


# Called with (path, kind) for each refusal: kind "too_large" (413) or "timeout" (408).
OnRefused = Callable[[str, str], None]


class BodyLimitMiddleware:
    """Read each request body in full, within its size limit and deadline, before the app sees it.

    The app then gets the body as one message, so nothing downstream can be made to buffer
    more than the limit or to wait on a slow client. A request with neither Content-Length
    nor Transfer-Encoding has no body (HTTP/1.1) and passes straight through, so probes cost
    nothing extra. A refused body is not read further: uvicorn drops what the client still
    sends, so a client that writes its whole body before reading still gets the 413, unless
    that rest is longer than ``RequestLimits.drain_bytes`` (the connection guard then closes
    the connection instead).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_bytes_by_path: Mapping[str, int] | None = None,
        timeout_s: float,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = dict(max_bytes_by_path or {})
        self.timeout_s = timeout_s
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.by_path.get(path, self.max_bytes)
        # The parser has already refused a Content-Length that is not a number.
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, 413, path, limit)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # nobody left to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        break
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._refuse(scope, receive, send, 408, path, limit)
            return
        if size > limit:
            await self._refuse(scope, receive, send, 413, path, limit)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect is left to wait for

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, path: str, limit: int) -> None:
        if status == 413:
            content = {
                "detail": f"request body larger than {limit} bytes, the limit of {path}",
                "limit_bytes": limit,
            }
            # A client waiting for "100 Continue" sends no body now: what it sends next would be
            # read as the rest of this one, so the connection cannot be reused.
            expects = Headers(scope=scope).get("expect", "").lower() == "100-continue"
            headers = {"Connection": "close"} if expects else None
        else:
            content = {
                "detail": f"request body not received within {self.timeout_s:g} s",
                "timeout_s": self.timeout_s,
            }
            headers = {"Connection": "close"}  # a client this slow does not get to keep the connection
        if self.on_refused is not None:
            self.on_refused(path, "too_large" if status == 413 else "timeout")
        await JSONResponse(content, status_code=status, headers=headers)(scope, receive, send)


__all__ = ["KIB", "MIB", "BodyLimitMiddleware", "OnRefused", "RequestLimits"]
