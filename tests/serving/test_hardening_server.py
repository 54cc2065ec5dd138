"""Hostile clients against a real server: the app as ``mlops serve`` runs it (``run_server``),
in its own process on a free loopback port, with short read deadlines.

Chunked bodies over the limit, bodies that never finish, headers sent a byte at a time,
connections that never send anything, oversized headers, and ``/healthz`` while several
clients send oversized and large valid bodies at once.

Run as a script, this file is that server: ``python test_hardening_server.py PORT``.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from performance.servers import HOST, free_port, http_ok, running
from serving.limits import KIB, MIB
from training.sample_data import generate_credit_risk, sample_feature_rows, sample_feature_schema

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 2.0
BODY_GRACE_S = 1.0  # serving.protocol.BODY_GRACE_S
# How late past a deadline a verdict may come on a busy 2-core machine.
SLACK_S = 2.0
POST_PREDICT = b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"


def serve(port: int) -> None:
    """The server process: a small model behind the app, served as ``mlops serve`` serves it."""
    from serving.app import create_app
    from serving.limits import RequestLimits
    from serving.models import LoadedModel
    from serving.server import limit_native_threads, run_server
    from training.config import ModelConfig
    from training.modeling import build_pipeline

    limit_native_threads()
    schema = sample_feature_schema()
    data = generate_credit_risk(600)
    fitted = build_pipeline(ModelConfig(params={"max_iter": 20}), schema).fit(data[schema.columns], data["defaulted"])
    champion = LoadedModel("credit_risk", "1.0.0", fitted, schema.to_dict())
    limits = RequestLimits(header_timeout_s=HEADER_TIMEOUT_S, body_timeout_s=BODY_TIMEOUT_S)
    app = create_app(
        champion=champion, serving_schema=schema.to_dict(), model_name="credit_risk", shadow=None, limits=limits
    )
    run_server(app, host=HOST, port=port, limits=limits, log_level="warning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, __file__, str(port)]
    with running(cmd, http_ok(f"{url}/healthz"), log, name="the server", timeout_s=90, grace_s=10):
        yield url


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return sample_feature_rows(1000, seed=4)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (seconds)."""
    start = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"still open after {limit_s:g} s; received {received[:200]!r}")
    except ConnectionResetError:
        pass
    return received, time.monotonic() - start


def answered(sock: socket.socket, within_s: float) -> bool:
    """Whether the server sent something (or closed) within ``within_s``: then stop sending, so
    that what it sent is not lost to a reset."""
    return bool(select.select([sock], [], [], within_s)[0])


def read_response(sock: socket.socket) -> tuple[int, Any]:
    """One response with a Content-Length, read off a connection that stays open."""
    sock.settimeout(10)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(body)


def status_and_json(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


# --------------------------------------------------------------------------- body size
def test_a_chunked_body_over_the_limit_is_a_413(server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"income": 1.0, "note": "'
        for _ in range(48):  # 3 MiB, no Content-Length
            yield b"x" * (64 * KIB)
        yield b'"}'

    response = httpx.post(f"{server}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body larger than {MIB} bytes, the limit of /predict",
        "limit_bytes": MIB,
    }


def test_a_body_a_little_too_large_is_a_413_the_client_can_read_on_a_connection_it_keeps(
    server: str, rows: list[dict[str, Any]]
) -> None:
    limit = 1000 * 2 * KIB
    body = json.dumps({"rows": rows}).encode()
    body = body[:-1] + b" " * (limit + 512 * KIB - len(body)) + b"}"  # over by less than drain_bytes
    with connect(server) as sock:
        # The whole body written before reading, as most clients do.
        sock.sendall(b"POST /predict/batch HTTP/1.1\r\nHost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        status, answer = read_response(sock)
        assert status == 413
        assert answer["limit_bytes"] == limit
        # The rest of the body was read and dropped: the same connection serves the next request.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock) == (200, {"status": "ok"})


def test_a_much_larger_body_is_not_read_at_all(server: str) -> None:
    declared = 50 * 1000 * 1000
    sent = 0
    with connect(server) as sock:
        sock.sendall(POST_PREDICT + b"content-length: %d\r\n\r\n" % declared)
        chunk = b"x" * (256 * KIB)
        try:
            while sent < declared:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
    # Closed once answered: what got through is what the sockets' buffers held.
    assert sent < 16 * MIB, f"the server read {sent} bytes of a body it refused"


# --------------------------------------------------------------------------- slow clients
def test_a_connection_that_sends_nothing_is_closed(server: str) -> None:
    with connect(server) as sock:
        received, after = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert received == b""
    assert after >= HEADER_TIMEOUT_S - 0.2


def test_headers_sent_a_byte_at_a_time_are_cut_off_with_a_408(server: str) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        for byte in b"X-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            if answered(sock, within_s=0.1) or time.monotonic() - start > HEADER_TIMEOUT_S + SLACK_S:
                break
        received, _ = read_until_closed(sock, SLACK_S)
        closed_after = time.monotonic() - start
    assert closed_after < HEADER_TIMEOUT_S + SLACK_S
    status, body = status_and_json(received)
    assert status == 408
    assert body == {"detail": "request headers not received within 1 s"}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_that_never_finishes_is_a_408(server: str, framing: str) -> None:
    with connect(server) as sock:
        if framing == "content-length":
            sock.sendall(POST_PREDICT + b"content-length: 1000\r\n\r\n")
            sock.sendall(b'{"income": ')
        else:
            sock.sendall(POST_PREDICT + b"transfer-encoding: chunked\r\n\r\n")
            sock.sendall(b'b\r\n{"income": \r\n')
        received, after = read_until_closed(sock, BODY_TIMEOUT_S + SLACK_S)
    status, body = status_and_json(received)
    assert status == 408
    assert body == {"detail": "request body not received within 2 s", "timeout_s": 2.0}
    assert after >= BODY_TIMEOUT_S - 0.2


def test_a_body_still_arriving_after_a_413_is_cut_off(server: str) -> None:
    with connect(server) as sock:
        # Over the limit by less than drain_bytes: the rest would be read and dropped, but it
        # comes as a trickle, for ever.
        sock.sendall(POST_PREDICT + b"content-length: %d\r\n\r\n" % (2 * MIB))
        status, _ = read_response(sock)
        assert status == 413
        start = time.monotonic()
        while time.monotonic() - start < BODY_TIMEOUT_S + BODY_GRACE_S + SLACK_S:
            try:
                sock.sendall(b"x" * 100)
            except (BrokenPipeError, ConnectionResetError):
                break
            if answered(sock, within_s=0.05):
                break  # nothing more is owed to us: this is the close
        closed_after = time.monotonic() - start
        assert read_until_closed(sock, 1.0)[0] == b""
    assert BODY_TIMEOUT_S - 0.2 < closed_after < BODY_TIMEOUT_S + BODY_GRACE_S + SLACK_S


def test_oversized_headers_are_a_431(server: str) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (32 * KIB) + b"\r\n\r\n")
        received, _ = read_until_closed(sock, 5)
    status, body = status_and_json(received)
    assert status == 431
    assert body["limit_bytes"] == 16 * KIB


# --------------------------------------------------------------------------- health under load
def test_healthz_stays_fast_while_oversized_and_large_bodies_arrive(server: str, rows: list[dict[str, Any]]) -> None:
    """Three clients send a 200,000-row batch (~50 MB, the issue's case) again and again, one
    a chunked oversized /predict body, one valid 1000-row batches; a probe opens a new
    connection to /healthz every 20 ms, as a kubelet would."""
    oversized = json.dumps({"rows": rows * 200}).encode()
    valid = json.dumps({"rows": rows}).encode()
    stop = threading.Event()
    # Answers per sender kind: a status code, or "closed" when the server cut an oversized body
    # off past drain_bytes before the client read its 413.
    answers: dict[str, list[int | str]] = {"oversized": [], "chunked": [], "valid": []}
    failures: list[str] = []

    def chunked() -> Iterator[bytes]:
        yield b'{"income": 1.0, "note": "'
        for _ in range(64):
            yield b"x" * (64 * KIB)
        yield b'"}'

    def send(kind: str) -> None:
        path = "/predict" if kind == "chunked" else "/predict/batch"
        with httpx.Client(base_url=server, timeout=60) as client:
            while not stop.is_set():
                content = chunked() if kind == "chunked" else oversized if kind == "oversized" else valid
                try:
                    response = client.post(path, content=content, headers={"content-type": "application/json"})
                    answers[kind].append(response.status_code)
                except httpx.TransportError as exc:
                    if kind == "valid":
                        failures.append(f"{kind}: {type(exc).__name__}: {exc}")
                    answers[kind].append("closed")

    kinds = ("oversized", "oversized", "oversized", "chunked", "valid")
    senders = [threading.Thread(target=send, args=(kind,)) for kind in kinds]
    for sender in senders:
        sender.start()
    host, port = server.removeprefix("http://").split(":")
    latencies_ms: list[float] = []
    try:
        time.sleep(0.5)  # let the load build up
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            start = time.perf_counter()
            probe = http.client.HTTPConnection(host, int(port), timeout=30)
            probe.request("GET", "/healthz")
            assert probe.getresponse().status == 200
            probe.close()
            latencies_ms.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)
    finally:
        stop.set()
        for sender in senders:
            sender.join(120)
    p99 = float(np.percentile(latencies_ms, 99))
    print(f"/healthz under load: {len(latencies_ms)} probes, p50 {np.median(latencies_ms):.1f} ms, p99 {p99:.1f} ms")
    # The goal is 50 ms (the benchmark measures it with pinned cores); on a shared
    # 2-core test machine a generous bound still tells "stays responsive" from "waits for
    # parsing" (seconds before the fix).
    assert p99 < 1000, f"/healthz p99 {p99:.0f} ms under load"
    assert not failures, failures[:5]
    assert answers["oversized"]
    assert set(answers["oversized"]) <= {413, "closed"}
    assert answers["chunked"]
    assert set(answers["chunked"]) <= {413, "closed"}
    assert answers["valid"]
    assert set(answers["valid"]) == {200}


if __name__ == "__main__":
    serve(int(sys.argv[1]))
