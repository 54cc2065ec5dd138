"""Benchmark ``/healthz`` while oversized request bodies arrive (the serving request limits).

    python -m performance.benchmarks.serving_limits --seconds 5 --out bench-results/serving_limits.json

The server is the app served as ``mlops serve`` serves it (``serving.server.run_server``) in
its own process, pinned to one core; the load generator and the probe run in this process,
pinned to the other (``os.sched_setaffinity``; on a one-core machine they share it). Run from
a checkout that predates the request limits, the same script measures uvicorn's defaults.
A probe opens a new connection to ``/healthz`` every ``--probe-ms`` milliseconds, as a kubelet
does, while client threads send, back to back:

- ``idle``: nothing (the probe alone, the baseline);
- ``oversized``: ``--clients`` clients each sending a ``--oversized-rows``-row batch with a
  Content-Length (200,000 rows, ~50 MB: the issue's case);
- ``oversized_chunked``: the same clients sending a 4 MiB ``/predict`` body without one;
- ``large_valid``: the same clients sending valid 1000-row batches (scored);
- ``mixed``: one client of each kind, plus another oversized one.

Reported per scenario: the probe's p50/p95/p99/max, how many probes ran, and each sender
kind's answers (status codes; ``reset`` when the server closed the connection mid-body).
Goal from the issue: ``/healthz`` p99 < 50 ms while oversized bodies arrive.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from performance.benchmarks.report import write_report
from performance.benchmarks.workload import request_rows, sample_model
from performance.servers import HOST, free_port, pin, spawned

GOAL_P99_MS = 50.0
SCENARIOS = ("idle", "oversized", "oversized_chunked", "large_valid", "mixed")


# --------------------------------------------------------------------------- the server process
def serve(port: int, cpu: int | None, train_rows: int) -> None:
    """Child process: a champion trained on the sample, behind the app as ``mlops serve`` runs it."""
    pin(cpu)
    import uvicorn

    from serving.app import create_app

    champion = sample_model(train_rows)
    app = create_app(champion=champion, serving_schema=champion.serving_schema, model_name="bench", shadow=None)
    try:
        from serving.server import run_server
    except ImportError:  # a checkout from before the request limits: uvicorn's defaults, to compare
        uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)).run()
    else:
        run_server(app, host=HOST, port=port, log_level="warning")


def healthy(port: int) -> bool:
    """The readiness check: one probe answered 200."""
    try:
        return probe_once(port, timeout_s=1.0) is not None
    except OSError:
        return False


# --------------------------------------------------------------------------- clients
def probe_once(port: int, timeout_s: float) -> float | None:
    """One ``GET /healthz`` on a new connection: its latency in ms (None if not a 200)."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request("GET", "/healthz")
        ok = connection.getresponse().status == 200
    finally:
        connection.close()
    return (time.perf_counter() - start) * 1000.0 if ok else None


class Bodies:
    """The request bodies, built once (building them is not what is measured)."""

    def __init__(self, oversized_rows: int) -> None:
        rows = request_rows(1000)
        self.valid = json.dumps({"rows": rows}).encode()
        self.oversized = json.dumps({"rows": (rows * (oversized_rows // len(rows) + 1))[:oversized_rows]}).encode()
        self.chunk = b"x" * (64 * 1024)

    def chunked(self) -> Iterator[bytes]:
        yield b'{"income": 1.0, "note": "'
        for _ in range(64):  # 4 MiB
            yield self.chunk
        yield b'"}'


def sender(kind: str, port: int, bodies: Bodies, stop: threading.Event, answers: Counter[str]) -> None:
    """Send ``kind`` bodies back to back on one keep-alive connection (a new one after a reset)."""
    path = "/predict" if kind == "oversized_chunked" else "/predict/batch"
    headers = {"content-type": "application/json"}
    while not stop.is_set():
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            while not stop.is_set():
                if kind == "oversized_chunked":
                    connection.request("POST", path, body=bodies.chunked(), headers=headers, encode_chunked=True)
                else:
                    body = bodies.oversized if kind == "oversized" else bodies.valid
                    connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                answers[str(response.status)] += 1
                if response.will_close:
                    break
        except (OSError, http.client.HTTPException):
            answers["reset"] += 1
        finally:
            connection.close()


def run_scenario(name: str, port: int, bodies: Bodies, args: argparse.Namespace) -> dict[str, Any]:
    kinds = {
        "idle": [],
        "oversized": ["oversized"] * args.clients,
        "oversized_chunked": ["oversized_chunked"] * args.clients,
        "large_valid": ["large_valid"] * args.clients,
        "mixed": ["oversized", "oversized", "oversized_chunked", "large_valid"],
    }[name]
    stop = threading.Event()
    answers: dict[str, Counter[str]] = {kind: Counter() for kind in kinds}
    threads = [threading.Thread(target=sender, args=(k, port, bodies, stop, answers[k])) for k in kinds]
    for thread in threads:
        thread.start()
    latencies: list[float] = []
    failed = 0
    try:
        time.sleep(args.warmup_seconds)  # let the load build up
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            try:
                latency = probe_once(port, timeout_s=60.0)
            except OSError:
                latency = None
            if latency is None:
                failed += 1
            else:
                latencies.append(latency)
            time.sleep(args.probe_ms / 1000.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    values = np.asarray(latencies or [float("nan")])
    return {
        "probes": len(latencies),
        "probes_failed": failed,
        "healthz_p50_ms": round(float(np.percentile(values, 50)), 2),
        "healthz_p95_ms": round(float(np.percentile(values, 95)), 2),
        "healthz_p99_ms": round(float(np.percentile(values, 99)), 2),
        "healthz_max_ms": round(float(values.max()), 2),
        "answers": {kind: dict(counter) for kind, counter in answers.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="probing time per scenario")
    parser.add_argument("--warmup-seconds", type=float, default=0.5)
    parser.add_argument("--clients", type=int, default=3, help="concurrent senders per scenario")
    parser.add_argument("--oversized-rows", type=int, default=200_000)
    parser.add_argument("--probe-ms", type=float, default=20.0, help="pause between /healthz probes")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path("bench-results/serving_limits.json"))
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")

    # One OpenMP thread per scoring call, as `mlops serve` runs (serving.server.limit_native_threads,
    # not imported here: this script also measures checkouts from before serving.server existed).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    load_cpus = pin(args.load_cpu)
    bodies = Bodies(args.oversized_rows)
    port = free_port()
    results: dict[str, Any] = {}
    server_args = (port, args.server_cpu, args.train_rows)
    with spawned(serve, server_args, lambda: healthy(port), name=f"the server on port {port}", timeout_s=120):
        for name in scenarios:
            results[name] = run_scenario(name, port, bodies, args)
            print(name, json.dumps(results[name]), flush=True)

    loaded = [s for s in scenarios if s != "idle"]
    worst = max((results[s]["healthz_p99_ms"] for s in loaded), default=float("nan"))
    report: dict[str, Any] = {
        "benchmark": "serving_limits",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "server_cpu": args.server_cpu,
        "load_cpus": load_cpus,
        "seconds_per_scenario": args.seconds,
        "clients": args.clients,
        "oversized_body_mb": round(len(bodies.oversized) / 1e6, 1),
        "valid_body_kb": round(len(bodies.valid) / 1e3, 1),
        "scenarios": results,
        "worst_loaded_healthz_p99_ms": worst,
        "goals": {"healthz_p99_under_load_lt_50ms": bool(worst < GOAL_P99_MS)},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_report(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "scenarios"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
