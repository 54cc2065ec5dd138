"""The open-loop load generator against a tiny local HTTP/1.1 server: rate, errors, stalls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from performance.loadgen import _read_response, http_post, run

HOST = "127.0.0.1"

# How the tiny server answers request number n (from 0, across connections): (status, delay s,
# or None to close the connection without answering).
Behaviour = Callable[[int], "tuple[int, float] | None"]


@contextmanager
def tiny_server(behaviour: Behaviour, *, chunked: bool = False) -> Iterator[int]:
    """An asyncio HTTP/1.1 keep-alive server in a thread; yields its port."""
    ready = threading.Event()
    holder: dict[str, object] = {}
    counter = {"n": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                n = counter["n"]
                counter["n"] += 1
                answer = behaviour(n)
                if answer is None:
                    writer.close()
                    return
                status, delay = answer
                if delay:
                    await asyncio.sleep(delay)
                body = b'{"ok":true}'
                if chunked:
                    writer.write(
                        f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                        + f"{len(body):x}\r\n".encode()
                        + body
                        + b"\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(handle, HOST, 0))
        holder["loop"], holder["port"] = loop, server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(5), "the tiny server did not start"
    try:
        yield int(holder["port"])  # type: ignore[call-overload]
    finally:
        loop = holder["loop"]
        loop.call_soon_threadsafe(loop.stop)  # type: ignore[attr-defined]
        thread.join(5)


def requests_for(port: int) -> list[bytes]:
    return [http_post(HOST, port, "/predict", b'{"x": %d}' % i) for i in range(10)]


def test_the_requested_rate_is_achieved_without_errors() -> None:
    with tiny_server(lambda n: (200, 0.0)) as port:
        result = run(HOST, port, requests_for(port), rate=800, seconds=1.5, warmup_s=0.3, connections=16)
    summary = result.summary()
    assert result.planned == 1200
    assert result.sent == 1200
    assert result.error_count == 0
    assert result.latencies_ms.size == 1200
    assert summary["achieved_rps"] == pytest.approx(800, rel=0.1)
    assert result.statuses == {200: 1200}


def test_non_2xx_answers_and_dropped_connections_are_errors() -> None:
    # Every 4th request answers 503; every 10th the server hangs up without an answer.
    def behaviour(n: int) -> tuple[int, float] | None:
        if n % 10 == 9:
            return None
        return (503, 0.0) if n % 4 == 0 else (200, 0.0)

    with tiny_server(behaviour) as port:
        result = run(HOST, port, requests_for(port), rate=200, seconds=1.0, connections=4)
    assert result.sent == 200
    assert result.errors["connection"] == 20
    # 503s: n % 4 == 0 among the 180 answered (n % 10 != 9), i.e. 50 of them.
    assert result.errors["status_503"] == 50
    assert result.error_rate == pytest.approx(70 / 200)
    assert result.latencies_ms.size == 180  # every answer has a latency, errors by status included


def test_a_request_not_answered_in_time_is_a_timeout_and_the_connection_is_replaced() -> None:
    with tiny_server(lambda n: (200, 1.0) if n == 5 else (200, 0.0)) as port:
        result = run(HOST, port, requests_for(port), rate=100, seconds=1.0, connections=2, timeout_s=0.2)
    assert result.errors == {"timeout": 1}
    assert result.ok == 99


def test_latency_is_measured_from_the_due_time_when_the_server_stalls() -> None:
    # One connection; request 20 (due at 0.1 s) takes 0.3 s. Requests due meanwhile wait for
    # the connection: measured from when they were sent they would look fast, from their due
    # time they are late by up to ~0.3 s — open loop reports the latter.
    with tiny_server(lambda n: (200, 0.3) if n == 20 else (200, 0.0)) as port:
        result = run(HOST, port, requests_for(port), rate=200, seconds=1.0, connections=1, timeout_s=2.0)
    lat = result.latencies_ms
    assert result.error_count == 0
    assert lat.size == 200
    assert lat.max() >= 280
    # Requests due during the stall (0.1-0.4 s: ~60 of them) all waited; most by over 100 ms.
    assert (lat > 100).sum() >= 35
    assert result.percentile(99) > 200


def test_an_overloaded_run_is_aborted_once_it_cannot_pass() -> None:
    with tiny_server(lambda n: (200, 0.05)) as port:  # one connection: at most 20 req/s
        result = run(
            HOST, port, requests_for(port), rate=400, seconds=5.0, connections=1, abort_slow_ms=100, abort_after=10
        )
    assert result.aborted
    # It stopped sending when the run could no longer pass (how soon in seconds depends on the
    # machine's load; that it stopped is the behaviour).
    assert result.sent < result.planned


def test_chunked_answers_are_read_to_their_end() -> None:
    with tiny_server(lambda n: (200, 0.0), chunked=True) as port:
        result = run(HOST, port, requests_for(port), rate=200, seconds=0.5, connections=2)
    assert result.error_count == 0
    assert result.latencies_ms.size == 100


def test_read_response_reports_connection_close() -> None:
    async def parse(raw: bytes) -> tuple[int, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await _read_response(reader)

    assert asyncio.run(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) == (200, True)
    assert asyncio.run(parse(b"HTTP/1.1 422 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")) == (422, False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate and seconds must be positive"),
        ({"connections": 0}, "connections >= 1"),
        ({"abort_after": 3}, "go together"),
    ],
)
def test_bad_arguments_are_refused_naming_what_was_expected(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"rate": 10, "seconds": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        run(HOST, 1, [b"x"], **args)  # type: ignore[arg-type]


def test_http_post_is_a_complete_request() -> None:
    raw = http_post(HOST, 8080, "/predict", b'{"a":1}')
    assert raw.startswith(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert raw.endswith(b'Content-Length: 7\r\n\r\n{"a":1}')
    with pytest.raises(ValueError, match="must start with '/'"):
        http_post(HOST, 8080, "predict", b"")
