"""uvicorn's httptools protocol with deadlines and size limits on reading a request.

uvicorn times out only an idle keep-alive connection *after* a response, and has no option
for the rest. A client that connects and sends nothing, sends its headers a byte at a time,
or keeps a body trickling in after the app has answered holds its connection (and a file
descriptor) for as long as it likes. :class:`GuardedHttpToolsProtocol` adds, per request and
driven by the parser's callbacks:

- headers: from the connection's start (or the request's first byte) the request line and
  headers must be complete within ``header_timeout_s`` (else 408 and closed, or just closed
  when not a byte of a request came) and fit in ``max_header_bytes`` (else 431 and closed;
  httptools has no limit of its own);
- body: it must be complete within ``body_timeout_s`` plus a grace second, answered or not.
  The app's :class:`~serving.limits.BodyLimitMiddleware` answers a slow body with 408 at
  ``body_timeout_s``; this bounds what the app does not see: a body still arriving after it
  refused the request. uvicorn reads and drops such a rest to keep the connection usable;
  when more than ``drain_bytes`` of it is left (by Content-Length, or once that much was
  dropped) the connection is closed instead.

Use it with ``uvicorn.Config(http=GuardedHttpToolsProtocol.configured(limits))``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.limits import RequestLimits

# The middleware answers a slow body first; this protocol's deadline is the backstop after it.
BODY_GRACE_S = 1.0


def _raw_response(status: int, reason: str, detail: str, **extra: Any) -> bytes:
    body = json.dumps({"detail": detail, **extra}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes connections whose requests do not arrive in time or in size."""

    limits: ClassVar[RequestLimits] = RequestLimits()

    @classmethod
    def configured(cls, limits: RequestLimits) -> type[GuardedHttpToolsProtocol]:
        """This protocol with ``limits`` (uvicorn takes a class and builds one per connection)."""
        return cast("type[GuardedHttpToolsProtocol]", type(cls.__name__, (cls,), {"limits": limits}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading: str | None = None  # "headers" or "body" while a deadline runs
        self._due = 0.0  # when the current reading must be complete (loop time)
        self._timer: asyncio.TimerHandle | None = None  # fires at _timer_at (<= _due) to check
        self._timer_at = 0.0
        self._header_bytes = 0  # received since the last request's headers were complete
        self._parsed_header_bytes = 0  # this request's line and headers, as parsed
        self._refused_headers = False
        self._body_expected: int | None = None  # this request's Content-Length
        self._body_received = 0
        self._drained = 0  # body bytes dropped after an early answer

    # ------------------------------------------------------------------ deadlines
    # One loop timer per connection, moved lazily: arming a reading records its deadline, and
    # a timer is started only when none is pending early enough. When it fires before the
    # deadline (a later reading moved it) it starts again for the rest. A timer created and
    # cancelled for each reading of each request cost ~a fifth of a small request's time.
    def _arm(self, reading: str, seconds: float) -> None:
        self._reading = reading
        self._due = self.loop.time() + seconds
        if self._timer is None or self._timer_at > self._due:
            self._stop_timer()
            self._timer_at = self._due
            self._timer = self.loop.call_at(self._due, self._expired)

    def _disarm(self) -> None:
        self._reading = None  # a pending timer finds nothing to enforce and ends

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._reading is None:
            return
        if self.loop.time() < self._due:
            self._timer_at = self._due
            self._timer = self.loop.call_at(self._due, self._expired)
            return
        reading, self._reading = self._reading, None
        if self.transport.is_closing():
            return
        if reading == "headers" and self._header_bytes:
            detail = f"request headers not received within {self.limits.header_timeout_s:g} s"
            self.transport.write(_raw_response(408, "Request Timeout", detail))
        elif reading == "body" and (self.cycle is None or not self.cycle.response_started):
            detail = f"request body not received within {self.limits.body_timeout_s:g} s"
            self.transport.write(_raw_response(408, "Request Timeout", detail))
        # Otherwise nobody is owed an answer: a silent connection, or a body still arriving
        # after the app answered.
        self.transport.close()

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.limits.header_timeout_s)  # a connection that stays silent

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Counted as they arrive too: the parser hands a header over only once it is complete.
        if self._reading != "body":
            self._header_bytes += len(data)
        super().data_received(data)
        too_large = self._reading == "headers" and self._header_bytes > self.limits.max_header_bytes
        if (self._refused_headers or too_large) and not self.transport.is_closing():
            self._disarm()
            limit = self.limits.max_header_bytes
            detail = f"request line and headers larger than {limit} bytes"
            self.transport.write(_raw_response(431, "Request Header Fields Too Large", detail, limit_bytes=limit))
            self.transport.close()

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_header_bytes = self._body_received = self._drained = 0
        if self._reading != "headers":  # the connection's first request runs on connection_made's deadline
            self._arm("headers", self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._parsed_header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._header_bytes = 0
        if self._parsed_header_bytes > self.limits.max_header_bytes:
            self._refused_headers = True  # answered by data_received; the app never sees the request
            return
        self._arm("body", self.limits.body_timeout_s + BODY_GRACE_S)
        length = next((value for name, value in self.headers if name == b"content-length"), b"")
        self._body_expected = int(length) if length.isdigit() else None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused_headers:
            return
        self._body_received += len(body)
        if self.cycle.response_complete:  # answered early: uvicorn drops the rest, up to a point
            self._drained += len(body)
            if self._drained > self.limits.drain_bytes:
                self.transport.close()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused_headers:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Answered before the body was all in, and what is left is not worth reading to drop it.
        rest = None if self._body_expected is None else self._body_expected - self._body_received
        if self._reading == "body" and rest is not None and rest > self.limits.drain_bytes:
            self.transport.close()


__all__ = ["BODY_GRACE_S", "GuardedHttpToolsProtocol"]
