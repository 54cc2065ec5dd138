"""Benchmark online serving at a fixed request rate (open loop): in-process vs HTTP, shadow on/off, faults.

    python -m performance.benchmarks.online --rate 20 --seconds 30 --out bench-results/online.json

Open loop: request ``i`` is due at ``t0 + i / rate`` whether or not earlier ones have
answered, and its latency is measured from that due time. A stalled server therefore shows
up in the percentiles instead of silently lowering the request rate (coordinated omission).

Scenarios, each against a fresh ``uvicorn`` process serving the real app (``create_app``):
- ``in_process``: the app's own work without HTTP: a one-row frame from the request dict,
  then the champion's ``predict_proba`` (same open-loop schedule, in this process);
- ``http``: ``POST /predict``, no shadow;
- ``shadow_healthy``: the challenger (another model family) mirrored off the hot path;
- ``shadow_slow``: the challenger sleeps 1 s before answering (the mirror's timeout is 0.5 s);
- ``shadow_failing``: the challenger raises on every call;
- ``shadow_down``: the challenger's process was killed (every call fails at once);
- ``prediction_log_off_<i>`` / ``prediction_log_on_<i>``: no shadow, without and with every
  request recorded in the prediction log (sample rate 1, flushed every second), alternated
  ``--log-rounds`` times so the machine's drift falls on both sides;
- ``http_again``: no shadow, run last, to show how much the machine itself drifted.

The server is pinned to the first core and the load generator to the second (on a one-core
machine they share it).

Reported per scenario: p50/p95/p99/max latency, errors, the achieved rate, and for shadow
runs the mirror's counts read from ``/metrics`` (compared, dropped, challenger errors).
Goals checked: HTTP p95 - in-process p95 <= 3 ms; primary p99 shadow-on / shadow-off <= 1.05
for every fault; >= 99 % of mirrored requests compared (healthy challenger, not overloaded);
median p99 with the prediction log / median p99 without <= 1.02.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from performance.benchmarks.report import write_report
from performance.benchmarks.workload import request_rows, sample_model
from performance.servers import HOST, free_port, http_ok, pin, spawned
from serving.server import limit_native_threads
from training.config import ModelConfig

SHADOW_FAULTS = ("healthy", "slow", "failing", "down")

# The server on the first core, the load generator on the second.
SERVER_CPU, LOAD_CPU = 0, 1


def summarise(latencies_ms: list[float]) -> dict[str, float]:
    values = np.asarray(latencies_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "max_ms": round(float(values.max()), 3),
    }


# --------------------------------------------------------------------------- the challenger faults
# Healthy, slow and failing challengers score in a child process, as `mlops serve` runs them
# (serving.shadow.ProcessChallenger); "down" is that child gone (killed, as the kernel's OOM
# killer would), the way `mlops serve`'s challenger goes down.
class _SlowModel:
    def __init__(self, model: Any, delay_s: float) -> None:
        self.model, self.delay_s = model, delay_s

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.asarray(self.model.predict(frame))

    def score_rows(self, rows: Any) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.asarray(self.model.score_rows(rows))


class _FailingModel:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("injected challenger failure")

    def score_rows(self, rows: Any) -> np.ndarray:
        raise RuntimeError("injected challenger failure")


def challenger_for(fault: str, challenger: Any) -> Any:
    from serving.shadow import ProcessChallenger

    if fault == "healthy":
        return ProcessChallenger(challenger)
    if fault == "slow":
        return ProcessChallenger(_SlowModel(challenger, 1.0))
    if fault == "failing":
        return ProcessChallenger(_FailingModel())
    if fault == "down":
        down = ProcessChallenger(challenger)
        os.kill(down.pid or 0, signal.SIGKILL)
        return down
    raise ValueError(f"unknown fault {fault!r}")


# --------------------------------------------------------------------------- the server process
def serve_app(
    champion: Any, challenger: Any, fault: str | None, port: int, store: str, log_root: str | None = None
) -> None:
    """Child process: the app exactly as ``mlops serve`` builds it around loaded models."""
    import uvicorn

    from observability.prediction_log import PredictionLogConfig, PredictionLogger
    from serving.app import create_app
    from serving.shadow import ComparisonStore, ShadowMirror

    pin(SERVER_CPU)
    log = None
    if log_root is not None:
        log = PredictionLogger(log_root, PredictionLogConfig(flush_interval_s=1.0))
    mirror = None
    if fault is not None:
        mirror = ShadowMirror(
            challenger_for(fault, challenger),
            ComparisonStore(Path(store)),
            challenger_version=challenger.version,
            timeout_s=0.5,
        )
    app = create_app(
        champion=champion, serving_schema=champion.serving_schema, model_name="bench", shadow=mirror, prediction_log=log
    )
    uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)).run()


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples matching ``labels`` in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:_total)?(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


# --------------------------------------------------------------------------- load
async def open_loop_http(url: str, bodies: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    import httpx

    n = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:
        # Warm the connections and the app (first requests build pydantic validators, etc.).
        for body in bodies[:50]:
            await client.post("/predict", json=body)

        async def one(i: int, due: float) -> None:
            nonlocal errors
            try:
                response = await client.post("/predict", json=bodies[i % len(bodies)])
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - due) * 1000.0)

        loop_start = time.perf_counter()
        tasks = []
        for i in range(n):
            due = loop_start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - loop_start
    return {"requests": n, "errors": errors, "achieved_rps": round(n / elapsed, 1), **summarise(latencies)}


def run_http(
    champion: Any,
    challenger: Any,
    fault: str | None,
    bodies: list[dict[str, Any]],
    args: argparse.Namespace,
    tmp: Path,
    *,
    prediction_log: bool = False,
) -> dict[str, Any]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    store = tmp / f"pairs-{fault or 'off'}-{port}.sqlite"
    log_root = str(tmp / f"predictions-{port}") if prediction_log else None
    app_args = (champion, challenger, fault, port, str(store), log_root)
    with spawned(serve_app, app_args, http_ok(f"{url}/healthz"), name=f"the server at {url}"):
        result = asyncio.run(open_loop_http(url, bodies, args.rate, args.seconds))
        if fault is not None:
            time.sleep(args.drain_seconds)  # let the mirror finish what is queued before counting
            with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
                text = response.read().decode()
            # The warm-up requests were mirrored too: count against everything the server scored.
            scored = metric_sum(text, "serving_predictions", variant="champion")
            compared = metric_sum(text, "serving_shadow_compared")
            result["shadow"] = {
                "mirrored": scored,
                "compared": compared,
                "compared_fraction": round(compared / scored, 4) if scored else 0.0,
                "dropped": metric_sum(text, "serving_shadow_dropped"),
                "shed": metric_sum(text, "serving_shadow_shed"),
                "challenger_errors": metric_sum(text, "serving_shadow_challenger_errors", kind="error"),
                "challenger_timeouts": metric_sum(text, "serving_shadow_challenger_errors", kind="timeout"),
            }
        return result


def run_in_process(champion: Any, bodies: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    """The same schedule without HTTP: a one-row frame from the body, then predict."""
    columns = list(champion.serving_schema)
    for body in bodies[:50]:
        champion.predict(pd.DataFrame([body], columns=columns))
    n = int(rate * seconds)
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        champion.predict(pd.DataFrame([bodies[i % len(bodies)]], columns=columns))
        latencies.append((time.perf_counter() - due) * 1000.0)
    elapsed = time.perf_counter() - start
    return {"requests": n, "errors": 0, "achieved_rps": round(n / elapsed, 1), **summarise(latencies)}


def train_models(rows: int) -> tuple[Any, Any]:
    """The champion (platform default family) and a challenger of another family, same data."""
    return sample_model(rows, "1.0.0"), sample_model(rows, "1.1.0", ModelConfig(family="logistic_regression"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each scenario")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--drain-seconds", type=float, default=2.0)
    parser.add_argument("--log-rounds", type=int, default=3, help="prediction log off/on pairs (0: none)")
    parser.add_argument("--only-log", action="store_true", help="only the prediction log off/on pairs")
    parser.add_argument("--out", type=Path, default=Path("bench-results/online.json"))
    args = parser.parse_args(argv)

    limit_native_threads()  # as `mlops serve` runs; the server processes inherit it
    load_cpus = pin(LOAD_CPU)
    started = time.perf_counter()
    champion, challenger = train_models(args.train_rows)
    bodies = request_rows(500)

    report: dict[str, Any] = {
        "benchmark": "online",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rate_rps": args.rate,
        "seconds_per_scenario": args.seconds,
        "model": "hist_gradient_boosting champion, logistic_regression challenger",
        "server_cpu": SERVER_CPU,
        "load_cpus": load_cpus,
        "scenarios": {},
    }
    scenarios = report["scenarios"]
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.only_log:
            scenarios["in_process"] = run_in_process(champion, bodies, args.rate, args.seconds)
            print("in_process", scenarios["in_process"], flush=True)
            scenarios["http"] = run_http(champion, challenger, None, bodies, args, tmp)
            print("http", scenarios["http"], flush=True)
            for fault in SHADOW_FAULTS:
                scenarios[f"shadow_{fault}"] = run_http(champion, challenger, fault, bodies, args, tmp)
                print(f"shadow_{fault}", scenarios[f"shadow_{fault}"], flush=True)
            scenarios["http_again"] = run_http(champion, challenger, None, bodies, args, tmp)
            print("http_again", scenarios["http_again"], flush=True)
        for i in range(args.log_rounds):
            for on in (False, True):
                name = f"prediction_log_{'on' if on else 'off'}_{i}"
                scenarios[name] = run_http(champion, challenger, None, bodies, args, tmp, prediction_log=on)
                print(name, scenarios[name], flush=True)

    if not args.only_log:
        off_p99 = scenarios["http"]["p99_ms"]
        overhead = scenarios["http"]["p95_ms"] - scenarios["in_process"]["p95_ms"]
        report["http_minus_in_process_p95_ms"] = round(overhead, 3)
        report["shadow_p99_ratio"] = {f: round(scenarios[f"shadow_{f}"]["p99_ms"] / off_p99, 3) for f in SHADOW_FAULTS}
        report["no_shadow_rerun_p99_ratio"] = round(scenarios["http_again"]["p99_ms"] / off_p99, 3)
    if args.log_rounds:
        p99 = {
            on: float(np.median([scenarios[f"prediction_log_{on}_{i}"]["p99_ms"] for i in range(args.log_rounds)]))
            for on in ("on", "off")
        }
        report["prediction_log_median_p99_ms"] = p99
        report["prediction_log_p99_ratio"] = round(p99["on"] / p99["off"], 3)
    report["goals"] = {
        "prediction_log_p99_ratio_le_1_02": report.get("prediction_log_p99_ratio", 0.0) <= 1.02,
        "primary_errors": sum(s["errors"] for s in scenarios.values()),
    }
    if not args.only_log:
        report["goals"].update(
            http_overhead_p95_le_3ms=report["http_minus_in_process_p95_ms"] <= 3.0,
            shadow_p99_ratio_le_1_05={f: r <= 1.05 for f, r in report["shadow_p99_ratio"].items()},
            healthy_compared_ge_99pct=scenarios["shadow_healthy"]["shadow"]["compared_fraction"] >= 0.99,
        )
    report["wall_s"] = round(time.perf_counter() - started, 1)

    write_report(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "scenarios"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
