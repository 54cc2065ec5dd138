"""`make bench-serving`: ``mlops serve`` and MLServer side by side on the same registered version.

    python -m performance.benchmarks.serving_compare --out bench-results/serving_compare.json [--quick]

What is compared (issue 15, "What to build" item 4 and its goals):

- **The model.** A project on the bundled sample (:func:`~performance.benchmarks.workload.sample_project`)
  trained once with ``mlops run training`` and its version made champion (as ``make loadtest``
  does); it is kept under ``build/bench-serving/<hash of the training and registry code>`` and
  reused while that code is unchanged (a change may register differently, e.g. with a compiled
  scorer). Its challenger alias stays on the same version, so with shadow on the challenger
  child scores the same model: the cost of mirroring, not of a second family.
- **Ours.** The app exactly as ``mlops serve`` builds and serves it
  (:func:`serving.server.build_app` + :func:`~serving.server.run_server`):
  ``plain`` = ``--no-shadow --no-features`` answering full single rows;
  ``shadow_entity`` = shadow on and features from the Feast online store, answering
  entity-id-only requests; ``shadow_<fault>`` = shadow on, no features, with the challenger
  replaced by :mod:`performance.benchmarks.online`'s fault challengers (slow, failing, down).
  The project's platform config is the default one, so the prediction log records every
  request (sample rate 1, written in batches by a thread of the server), as ``mlops serve`` does.
- **The transport floor** (not a goal): an ASGI app answering ``{}`` at once, served with
  ``mlops serve``'s uvicorn settings (:func:`answer_empty`): what the HTTP server, the kernel,
  the machine and the load generator take before any app code runs, at (c)'s rate.
- **MLServer 1.7.1** in its own venv (``build/mlserver-venv``, created once with uv, the
  scikit-learn/numpy/pandas versions of this environment so the pickle loads the same), serving
  the champion's fitted Pipeline exported with joblib (``mlserver_sklearn.SKLearnModel``,
  ``predict_proba`` output, V2 requests with one input per column and the pandas codec), in its
  fastest setting on two cores (``parallel_workers: 0``, debug and gzip off, metrics server off),
  with adaptive batching off and on; the better one is "MLServer best". Before measuring, the
  scores MLServer returns for a few rows are checked equal to ours (the run stops otherwise).

How it is measured: every server is pinned to core 0 (all its threads and child processes, once
ready) and the load generator (:mod:`performance.loadgen`: open loop, latency from each
request's due time) runs on core 1. Both cores are held out of idle by a lowest-class busy loop
(:class:`~performance.servers.IdleHolders`; ``--let-cores-idle`` leaves them be): on this kind
of virtual machine a halted core takes milliseconds to wake, which an empty app's p95 shows
(``c_with_cores_free_p95_ms`` measures (c)'s pair both ways). Single-row requests. The max
sustainable rate (p99 < 100 ms, < 1 % errors) is searched by a geometric ramp then bisection
(:func:`search_max_rate`), each step a warm-up then a measured window, an overloaded step cut
short once it cannot pass. The searches are interleaved (ours, MLServer, ours with shadow,
MLServer batching, then again) so the machine's drift falls on all of them; each is repeated and
every value and the median are reported. Then, at 50 % of ``plain``'s median max rate: HTTP p95
against the in-process p95 of ``LoadedModel.score_rows([row])`` on the same core, and primary
p99 with shadow on (healthy, slow, failing, down) against shadow off: interleaved rounds (each
setup once per round, order rotated), p99 over each setup's pooled latencies
(:func:`shadow_rounds`), with the share of rows each shadow shed (``mlops serve`` sheds while
the server is over 70 % of its CPU); the same again at 25 % of the max rate, where it sheds
less (shown, not a goal).

The JSON holds the machine's facts (cores, load average before and after), every step of every
search, the ratios and each goal met or not. Each load run also records the CPU share others
took on each core meanwhile (``others_on_server_core``: busy time of core 0 not spent by the
server under test; ``neighbours`` sums it up): on a shared machine that tells a neighbour's
burst from the server's own limit.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

from performance import loadgen
from performance.benchmarks.report import REPO, write_report
from performance.servers import HOST, IdleHolders, free_port, http_ok, pin, stop, wait_until_ready

MODEL = "credit_risk"
SERVER_CPU, LOAD_CPU = 0, 1
P99_LIMIT_MS = 100.0
MAX_ERROR_RATE = 0.01
FAULTS = ("healthy", "slow", "failing", "down")
MLSERVER_PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0")  # uvloop 0.23 answered 404s
# The pickle must load into the same library versions it was written with.
SHARED_PINS = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")
# Above this median CPU share taken by others on either core, the report carries a warning.
NOISY_SHARE = 0.1
GOALS = {"plain_vs_mlserver": 5.0, "shadow_entity_vs_mlserver": 3.0, "http_overhead_p95_ms": 1.5, "shadow_p99": 1.05}


# --------------------------------------------------------------------------- the max-rate search
@dataclass(frozen=True)
class SearchPlan:
    """How :func:`search_max_rate` moves: ramp by ``factor`` from ``start_rps`` until a step
    fails (or ``max_rps`` passes), then bisect between the last pass and the first failure
    until they are within ``resolution`` of each other or ``bisections`` steps were spent;
    never more than ``max_steps`` steps. A failing first step ramps down instead, to ``min_rps``.
    With ``confirm_failures``, a failing step is measured once more and fails only if that fails
    too: on a shared machine a neighbour's burst can stall one step of a server that keeps up."""

    start_rps: float = 100.0
    factor: float = 2.0
    max_rps: float = 20_000.0
    min_rps: float = 5.0
    bisections: int = 3
    resolution: float = 0.1
    max_steps: int = 12
    confirm_failures: bool = True

    def __post_init__(self) -> None:
        if not (0 < self.min_rps <= self.start_rps <= self.max_rps) or self.factor <= 1:
            raise ValueError(
                "a search plan needs 0 < min_rps <= start_rps <= max_rps and factor > 1, got "
                f"min_rps={self.min_rps}, start_rps={self.start_rps}, max_rps={self.max_rps}, factor={self.factor}"
            )


def sustained(step: dict[str, Any]) -> bool:
    """A step passes: p99 under the limit, errors under 1 %, not aborted, and (nearly) every
    request it planned was answered (a generator that fell behind does not count as a pass)."""
    answered_enough = step["answered"] >= 0.99 * step["planned"]
    return (
        not step["aborted"]
        and answered_enough
        and step["error_rate"] < MAX_ERROR_RATE
        and step["p99_ms"] < P99_LIMIT_MS
    )


def search_max_rate(measure: Callable[[float], dict[str, Any]], plan: SearchPlan) -> dict[str, Any]:
    """The highest rate ``measure(rate)`` sustains (:func:`sustained`), and every step taken.

    ``measure`` returns a step summary (:meth:`performance.loadgen.LoadResult.summary`). The
    result's ``max_rps`` is the highest passing rate (0 when none passed, even at ``min_rps``);
    ``capped`` says the ramp reached ``max_rps`` without a failure (the true max is higher).
    """
    steps: list[dict[str, Any]] = []
    best = 0.0
    failed_at: float | None = None
    rate = plan.start_rps
    bisections = 0
    capped = False
    while len(steps) < plan.max_steps:
        step = dict(measure(rate), rate_rps=round(rate, 1))
        step["passed"] = ok = sustained(step)
        steps.append(step)
        if not ok and plan.confirm_failures and len(steps) < plan.max_steps:
            again = dict(measure(rate), rate_rps=round(rate, 1), retry=True)
            again["passed"] = ok = sustained(again)
            steps.append(again)
        if ok:
            best = max(best, rate)
        else:
            failed_at = rate if failed_at is None else min(failed_at, rate)
        if failed_at is None:  # still ramping up
            if rate >= plan.max_rps:
                capped = True
                break
            rate = min(rate * plan.factor, plan.max_rps)
            continue
        if best == 0.0:  # nothing passed yet: ramp down
            if rate <= plan.min_rps:
                break
            rate = max(rate / plan.factor, plan.min_rps)
            continue
        if failed_at / best <= 1 + plan.resolution or bisections >= plan.bisections:
            break
        rate = (best + failed_at) / 2
        bisections += 1
    return {"max_rps": round(best, 1), "capped": capped, "failed_at_rps": failed_at, "steps": steps}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def ratio(num: float, den: float) -> float | None:
    return round(num / den, 3) if den > 0 else None


# --------------------------------------------------------------------------- MLServer
def mlserver_settings(http_port: int, grpc_port: int) -> dict[str, Any]:
    """MLServer's ``settings.json`` in its fastest configuration on this machine: inference in the
    server process itself (``parallel_workers: 0``; worker processes only add IPC on two cores),
    debug and gzip off, no metrics server (``metrics_endpoint: null``), gRPC on a free port."""
    if not (0 < http_port < 65536 and 0 < grpc_port < 65536) or http_port == grpc_port:
        raise ValueError(f"expected two different ports in 1-65535, got http={http_port}, grpc={grpc_port}")
    return {
        "host": HOST,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "parallel_workers": 0,
        "debug": False,
        "gzip_enabled": False,
        "metrics_endpoint": None,
        "load_models_at_startup": True,
    }


def mlserver_model_settings(name: str, version: str, *, max_batch_size: int, max_batch_time_s: float) -> dict[str, Any]:
    """``model-settings.json`` for a joblib-exported scikit-learn model; batching is adaptive when
    ``max_batch_size`` > 1 (requests wait at most ``max_batch_time_s`` to be scored together)."""
    if max_batch_size < 0 or max_batch_time_s < 0 or (max_batch_size > 1) != (max_batch_time_s > 0):
        raise ValueError(
            "adaptive batching needs max_batch_size > 1 and max_batch_time_s > 0 together (or 0 and 0 for off), "
            f"got max_batch_size={max_batch_size}, max_batch_time_s={max_batch_time_s}"
        )
    return {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": version},
        "max_batch_size": max_batch_size,
        "max_batch_time": max_batch_time_s,
    }


def write_mlserver_folder(
    folder: Path,
    model: Any,
    version: str,
    *,
    http_port: int,
    grpc_port: int,
    max_batch_size: int,
    max_batch_time_s: float,
) -> Path:
    """A folder ``mlserver start`` serves: the fitted model (joblib), its model settings, the server's."""
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    settings = mlserver_model_settings(MODEL, version, max_batch_size=max_batch_size, max_batch_time_s=max_batch_time_s)
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    (folder / "settings.json").write_text(json.dumps(mlserver_settings(http_port, grpc_port), indent=2))
    return folder


def v2_request(row: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    """A V2 inference request for one row: one input per column (FP64 or BYTES), decoded by the
    pandas codec into a one-row frame, asking for ``predict_proba``."""
    inputs = []
    for column, kind in kinds.items():
        value = row[column]
        if kind == "number":
            inputs.append({"name": column, "shape": [1], "datatype": "FP64", "data": [value]})
        else:
            inputs.append({"name": column, "shape": [1], "datatype": "BYTES", "data": [value]})
    return {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}


def v2_positive_score(answer: dict[str, Any]) -> float:
    """The positive-class probability out of a V2 ``predict_proba`` answer for one row."""
    output = answer["outputs"][0]
    return float(output["data"][-1])


def _uv() -> list[str]:
    for cmd in ([sys.executable, "-m", "uv"], ["python3", "-m", "uv"], ["uv"]):
        try:
            if subprocess.run([*cmd, "--version"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    raise RuntimeError("uv is not installed: `python3 -m pip install uv` (the Makefile's install does)")


def ensure_mlserver_venv(venv: Path) -> Path:
    """MLServer's own environment (created once; reused while its pins are unchanged). Returns its
    ``mlserver`` program."""
    pins = [*MLSERVER_PINS, *(f"{name}=={importlib.metadata.version(name)}" for name in SHARED_PINS)]
    marker = venv / ".bench-pins"
    program = venv / "bin" / "mlserver"
    if program.exists() and marker.exists() and marker.read_text() == "\n".join(pins):
        return program
    uv = _uv()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"creating MLServer's venv at {venv}: {' '.join(pins)}", flush=True)
    subprocess.run([*uv, "venv", "--quiet", "--allow-existing", "--python", python, str(venv)], check=True)
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *pins], check=True)
    marker.write_text("\n".join(pins))
    return program


# --------------------------------------------------------------------------- the project
def project_key() -> str:
    """A hash of the code that decides what a training run registers (training, registry, kernel)."""
    digest = hashlib.sha256()
    for room in ("training", "model_registry", "feature_store", "mlops", "pipelines", "components"):
        for path in sorted((REPO / room).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_project(root: Path, rows: int) -> Path:
    """A project on ``rows`` rows of the sample, trained once, its version champion; reused while
    the training and registry code is unchanged."""
    from performance.benchmarks.workload import sample_project

    project = root / f"{project_key()}-{rows}"
    done = project / ".bench-trained"
    if done.exists():
        return project
    if project.exists():
        shutil.rmtree(project)  # a half-made one from an interrupted run
    project.mkdir(parents=True)
    sample_project(project, rows)
    print(f"training the benchmark's model in {project} (mlops run training, a few minutes, once)", flush=True)
    done_proc = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "run", "training"], cwd=project, capture_output=True, text=True
    )
    if done_proc.returncode != 0:
        raise SystemExit(f"mlops run training failed:\n{done_proc.stdout[-3000:]}\n{done_proc.stderr[-3000:]}")
    from performance.load_testing.run import ensure_champion

    cwd = Path.cwd()
    os.chdir(project)
    try:
        ensure_champion(MODEL, Path("config"), "dev")
    finally:
        os.chdir(cwd)
    done.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return project


def entity_ids(project: Path, champion: Any, count: int) -> list[str]:
    """Ids of the newest applicants whose features the online store holds (read as the app reads
    them: the champion's feature view)."""
    import pandas as pd
    import yaml

    from feature_store.store import OnlineFeatureReader
    from mlops.state import StateLayout
    from platform_config import load_platform_config

    ds = yaml.safe_load((project / "config" / "datasets" / "credit_risk.yaml").read_text())
    data = pd.read_parquet(ds["path"], columns=[ds["entity_id"], ds["event_timestamp"]])
    candidates = [str(v) for v in data.sort_values(ds["event_timestamp"])[ds["entity_id"]].tail(count * 5)]
    stores = load_platform_config(project / "config", "dev").serving_stores()
    view = champion.info.tags.get("feature_view") if champion.info is not None else None
    reader = OnlineFeatureReader(
        name=MODEL,
        state_dir=StateLayout(project / stores.state_dir).feast,
        config=stores.features,
        environment=stores.environment,
        view=view or None,
    )
    frame = reader.frame(candidates)
    complete = frame[champion.columns].notna().all(axis=1).to_numpy()
    found = [i for i, ok in zip(candidates, complete, strict=True) if ok][-count:]
    if not found:
        raise SystemExit(f"the online store of {project} holds none of the newest {len(candidates)} applicants")
    return found


# --------------------------------------------------------------------------- our server process
def serve_ours(project: str, port: int, mode: str) -> None:
    """Child process: the app as ``mlops serve`` builds it in ``project``; ``mode`` is ``plain``,
    ``shadow_entity`` or ``shadow_<fault>``."""
    from serving.server import limit_native_threads

    os.chdir(project)
    limit_native_threads()
    from performance.benchmarks.online import challenger_for
    from platform_config import load_platform_config
    from serving.config import SHADOW_MAX_CPU
    from serving.server import build_app, run_server

    stores = load_platform_config(Path("config"), "dev").serving_stores()
    shadow = mode != "plain"
    # Shedding as `mlops serve` has it by default (the mirror steps aside when the core is busy).
    serving = build_app(stores, MODEL, shadow=shadow, features=mode == "shadow_entity", shadow_max_cpu=SHADOW_MAX_CPU)
    fault = mode.removeprefix("shadow_")
    if fault in FAULTS and fault != "healthy":
        if serving.shadow is None or serving.models.challenger is None:
            raise RuntimeError(f"{MODEL} has no challenger to mirror to in {project}")
        # The mirror calls whatever it holds at call time: swap the healthy child for the fault.
        healthy = serving.challenger_process
        serving.shadow.challenger_predict = challenger_for(fault, serving.models.challenger)
        if healthy is not None:
            healthy.close()
    try:
        run_server(serving.app, host=HOST, port=port, log_level="warning")
    finally:
        serving.close()


async def answer_empty(scope: Scope, receive: Receive, send: Send) -> None:
    """The transport floor: an ASGI app that reads each body and answers ``{}`` at once. Served
    as ``mlops serve`` serves (:func:`serving.server.uvicorn_config`), it is what the HTTP
    server, the kernel, this machine and the load generator take before any app code runs."""
    if scope["type"] != "http":
        return  # lifespan: uvicorn carries on without it
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"{}"})


def serve_transport(port: int) -> None:
    """Child process: :func:`answer_empty` with ``mlops serve``'s uvicorn settings."""
    import uvicorn

    from serving.server import uvicorn_config

    uvicorn.Server(uvicorn_config(answer_empty, host=HOST, port=port, log_level="warning")).run()


def start_transport(server: Server) -> Any:
    process = mp.get_context("spawn").Process(target=serve_transport, args=(server.port,))
    process.start()
    return process


# --------------------------------------------------------------------------- servers
@dataclass
class Server:
    name: str
    port: int
    requests: list[bytes]
    ready_url: str
    proc: Any = None  # a multiprocessing Process or a subprocess.Popen
    affinity: list[int] | None = None

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def exit_code(self) -> int | None:
        return self.proc.exitcode if hasattr(self.proc, "exitcode") else self.proc.poll()


def pin_tree(pid: int, cpu: int) -> list[int]:
    """Pin a process, every thread of it and every process below it to ``cpu``; the pinned
    process's cores read back."""
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        for thread in proc.threads():
            try:
                os.sched_setaffinity(thread.id, {cpu})
            except ProcessLookupError:  # a thread that ended meanwhile
                continue
    return sorted(os.sched_getaffinity(pid))


@contextmanager
def started(servers: list[Server], starters: dict[str, Callable[[Server], Any]], log_dir: Path) -> Iterator[None]:
    """Start every server at once (unpinned: start-up is import-bound and two cores halve it),
    wait until each is ready, then pin each, its threads and children, to the server core."""
    try:
        for server in servers:
            server.proc = starters[server.name](server)
        for server in servers:
            wait_until_ready(
                http_ok(server.ready_url),
                server.exit_code,
                name=server.name,
                timeout_s=240,
                log=log_dir / f"{server.name}.log" if (log_dir / f"{server.name}.log").exists() else None,
            )
            server.affinity = pin_tree(server.pid, SERVER_CPU)
        yield
    finally:
        for server in servers:
            if server.proc is None:
                continue
            if isinstance(server.proc, subprocess.Popen):
                stop(server.proc, 10)
            else:
                server.proc.terminate()
                server.proc.join(15)
                if server.proc.is_alive():
                    server.proc.kill()
                    server.proc.join(5)


def start_ours(project: Path, mode: str) -> Callable[[Server], Any]:
    def start(server: Server) -> Any:
        process = mp.get_context("spawn").Process(target=serve_ours, args=(str(project), server.port, mode))
        process.start()
        return process

    return start


def start_mlserver(program: Path, folder: Path, log: Path) -> Callable[[Server], Any]:
    def start(server: Server) -> Any:
        with log.open("wb") as out:
            return subprocess.Popen(
                [str(program), "start", str(folder)], cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )

    return start


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"POST {url} answered {exc.code}: {exc.read()[:500].decode(errors='replace')}") from None
    return answer


# --------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Timing:
    """How each load runs (seconds), and the run's idle holders: their loops only fill idle
    time, so :class:`Neighbours` counts their CPU as nobody's load."""

    step_s: float
    warmup_s: float
    pause_s: float
    fixed_s: float
    holders: IdleHolders | None = None

    def durations(self) -> dict[str, float]:
        return {"step_s": self.step_s, "warmup_s": self.warmup_s, "pause_s": self.pause_s, "fixed_s": self.fixed_s}


class Neighbours:
    """How much CPU others took on the two cores while a load ran: each core's busy time minus
    what the server (its process tree, on core 0), this generator (core 1) and the benchmark's
    idle holders used. On a shared machine this says which steps a neighbour disturbed."""

    def __init__(self, server: Server, holders: IdleHolders | None) -> None:
        import psutil

        self.holders = holders

        root = psutil.Process(server.pid)
        self._procs = [root, *root.children(recursive=True)]
        self._me = psutil.Process()
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float, float]:
        import psutil

        cores = psutil.cpu_times(percpu=True)
        busy = [c.user + c.nice + c.system + c.irq + c.softirq + getattr(c, "steal", 0.0) for c in cores[:2]]
        held = self.holders.cpu_seconds() if self.holders is not None else {}
        busy = [b - held.get(core, 0.0) for core, b in enumerate(busy)]
        server = 0.0
        for proc in self._procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:  # a child that ended
                continue
            server += times.user + times.system
        mine = self._me.cpu_times()
        return time.perf_counter(), busy[SERVER_CPU], busy[LOAD_CPU], server, mine.user + mine.system

    def shares(self) -> dict[str, float]:
        end = self._sample()
        wall, core0, core1, server, mine = (e - s for e, s in zip(end, self._start, strict=True))
        return {
            "server_cpu_share": round(server / wall, 3),
            "others_on_server_core": round(max(0.0, core0 - server) / wall, 3),
            "others_on_load_core": round(max(0.0, core1 - mine) / wall, 3),
        }


def measure_step(server: Server, rate: float, timing: Timing) -> dict[str, Any]:
    planned = int(rate * timing.step_s)
    neighbours = Neighbours(server, timing.holders)
    result = loadgen.run(
        HOST,
        server.port,
        server.requests,
        rate,
        timing.step_s,
        warmup_s=timing.warmup_s,
        connections=64,
        timeout_s=5.0,
        # Past 1 % slow or failed the step cannot pass: stop it rather than queue for seconds.
        abort_slow_ms=P99_LIMIT_MS,
        abort_after=max(1, int(planned * MAX_ERROR_RATE)),
    )
    cpu = neighbours.shares()
    # Let the server finish what is in flight (more after an overloaded step).
    time.sleep(timing.pause_s * (3 if result.aborted else 1))
    return {**result.summary(), **cpu}


def fixed_rate(server: Server, rate: float, seconds: float, timing: Timing) -> dict[str, Any]:
    return fixed_rate_run(server, rate, seconds, timing)[0]


def fixed_rate_run(server: Server, rate: float, seconds: float, timing: Timing) -> tuple[dict[str, Any], Any]:
    """One fixed-rate run: its summary (with the neighbours' CPU share) and every latency (ms)."""
    neighbours = Neighbours(server, timing.holders)
    result = loadgen.run(HOST, server.port, server.requests, rate, seconds, warmup_s=timing.warmup_s, timeout_s=5.0)
    cpu = neighbours.shares()
    time.sleep(timing.pause_s)
    return {**result.summary(), **cpu}, result.latencies_ms


SHADOW_ROWS = ("shed", "compared", "dropped", "challenger_errors")


def shadow_rows(server: Server) -> dict[str, float]:
    """The server's shadow counters so far (rows shed, compared, dropped, failed); zeros without a shadow."""
    from performance.benchmarks.online import metric_sum

    with urllib.request.urlopen(f"http://{HOST}:{server.port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {name: metric_sum(text, f"serving_shadow_{name}") for name in SHADOW_ROWS}


def shadow_rounds(servers: dict[str, Server], rate: float, rounds: int, timing: Timing) -> dict[str, Any]:
    """Primary latency with shadow off and on (each fault) at ``rate``: ``rounds`` rounds, each
    running every setup once in a rotated order, so drift and a neighbour's burst fall on all of
    them alike. p99 at this load moves 2-5x between identical runs (a flush, a collection, the
    kernel), so each setup's p99 is taken over all its rounds' latencies pooled; per-run figures
    are kept beside it, with what the shadow did with the rows offered meanwhile (``shadow_rows``:
    shed while the server was busy, compared, dropped, failed) and the share it shed."""
    import numpy as np

    setups = ["off", *FAULTS]
    names = {"off": "ours_plain", **{f: f"ours_shadow_{f}" for f in FAULTS}}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in setups}
    pooled: dict[str, list[Any]] = {k: [] for k in setups}
    for r in range(rounds):
        for setup in setups[r % len(setups) :] + setups[: r % len(setups)]:
            server = servers[names[setup]]
            before = shadow_rows(server)
            summary, latencies = fixed_rate_run(server, rate, timing.fixed_s, timing)
            after = shadow_rows(server)
            summary["shadow_rows"] = {k: after[k] - before[k] for k in SHADOW_ROWS}
            runs[setup].append(summary)
            pooled[setup].append(latencies)
    out: dict[str, Any] = {"rate_rps": round(rate, 1), "rounds": rounds}
    for setup in setups:
        values = np.concatenate(pooled[setup]) if pooled[setup] else np.zeros(0)
        out[setup] = {
            "pooled_p50_ms": round(float(np.percentile(values, 50)), 3) if values.size else None,
            "pooled_p95_ms": round(float(np.percentile(values, 95)), 3) if values.size else None,
            "pooled_p99_ms": round(float(np.percentile(values, 99)), 3) if values.size else None,
            "run_p99_ms": [run["p99_ms"] for run in runs[setup]],
            "errors": sum(run["errors"] for run in runs[setup]),
            "shed_share": shed_share([run["shadow_rows"] for run in runs[setup]]),
            "runs": runs[setup],
        }
    return out


def shed_share(counts: list[dict[str, float]]) -> float | None:
    """Rows shed over rows offered to the shadow (None: none offered, e.g. shadow off)."""
    offered = sum(sum(c.values()) for c in counts)
    return round(sum(c["shed"] for c in counts) / offered, 3) if offered else None


def in_process_p95(champion: Any, rows: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    """``champion.score_rows([row])`` timed call by call on the server core (servers idle).

    The goal's figure is back to back (a warm core). Beside it, ``after_pause``: each call
    after a 1 ms sleep, as between requests at a moderate rate, when the core ran something else
    meanwhile (here the idle holder): on this kind of machine the model call then costs two to
    three times as much (caches and translation buffers refilled), and the server pays that on
    every request it does not batch.
    """
    before = sorted(os.sched_getaffinity(0))
    pin(SERVER_CPU)
    try:
        for row in rows[:50]:
            champion.score_rows([row])
        warm = _timed_calls(champion, rows, calls, pause_s=0.0)
        paused = _timed_calls(champion, rows, calls // 3, pause_s=0.001)
    finally:
        os.sched_setaffinity(0, set(before))
    after_pause = {"calls": calls // 3, "pause_ms": 1.0, **_percentiles(paused)}
    return {"calls": calls, **_percentiles(warm), "after_pause": after_pause}


def _timed_calls(champion: Any, rows: list[dict[str, Any]], calls: int, *, pause_s: float) -> list[float]:
    times = []
    for i in range(calls):
        if pause_s:
            time.sleep(pause_s)
        started = time.perf_counter()
        champion.score_rows([rows[i % len(rows)]])
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def _percentiles(times: list[float]) -> dict[str, float]:
    import numpy as np

    values = np.asarray(times)
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 4) for q in (50, 95, 99)}


def machine_facts() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "processor": platform.machine(),
        "load_avg_1_5_15": [round(v, 2) for v in os.getloadavg()],
    }


# --------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/serving_compare.json"))
    parser.add_argument("--quick", action="store_true", help="a short smoke run: short steps, one repeat, no faults")
    parser.add_argument("--repeats", type=int, default=2, help="max-rate searches per server (interleaved)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the sample the model is trained on")
    parser.add_argument("--projects", type=Path, default=REPO / "build" / "bench-serving")
    parser.add_argument(
        "--project", type=Path, help="a trained project to serve from as it is (its champion), instead of --projects"
    )
    parser.add_argument("--mlserver-venv", type=Path, default=REPO / "build" / "mlserver-venv")
    parser.add_argument("--batch-size", type=int, default=32, help="MLServer adaptive batching: max batch size")
    parser.add_argument("--batch-time-ms", type=float, default=2.0, help="MLServer adaptive batching: max wait")
    parser.add_argument(
        "--shadow-rounds", type=int, default=6, help="interleaved rounds of shadow off/on runs (goal d), pooled"
    )
    parser.add_argument(
        "--let-cores-idle",
        action="store_true",
        help="do not hold the two cores out of idle (IdleHolders): latencies then include the machine's wake-ups",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.shadow_rounds < 1:
        parser.error("--repeats and --shadow-rounds must be at least 1")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench-serving needs two cores: the servers on one, the load generator on the other")
    out = args.out.resolve()
    quick = args.quick
    repeats = 1 if quick else args.repeats
    timing = Timing(step_s=1.5, warmup_s=0.5, pause_s=0.3, fixed_s=2.0) if quick else Timing(2.5, 1.0, 0.5, 4.0)
    plan = SearchPlan(start_rps=50.0, bisections=1 if quick else 3, max_steps=8 if quick else 12)
    started_at = time.perf_counter()

    from serving.server import limit_native_threads

    limit_native_threads()
    report: dict[str, Any] = {
        "benchmark": "serving_compare",
        "quick": quick,
        "machine_before": machine_facts(),
        "criteria": {"p99_ms_below": P99_LIMIT_MS, "error_rate_below": MAX_ERROR_RATE},
        "timing": timing.durations(),
        "search_plan": plan.__dict__,
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
        "cores_held_out_of_idle": not args.let_cores_idle,
    }
    program = ensure_mlserver_venv(args.mlserver_venv)
    if args.project is not None:
        project = args.project.resolve()
        if not (project / "config" / "platform.yaml").is_file():
            raise SystemExit(f"--project {project}: expected a project folder with config/platform.yaml")
    else:
        project = ensure_project(args.projects.resolve(), args.rows)
    report["project"] = str(project)

    # The champion, loaded as the app loads it (for the export and the in-process figure).
    os.chdir(project)
    from performance.benchmarks.workload import request_rows
    from platform_config import load_platform_config
    from serving.models import load_models

    champion = load_models(load_platform_config(Path("config"), "dev").open_registry(), MODEL, shadow=False).champion
    kinds = dict(champion.schema.kinds)
    rows = [{c: r[c] for c in kinds} for r in request_rows(500)]
    ids = entity_ids(project, champion, 2000)
    report["model"] = {
        "name": MODEL,
        "version": champion.version,
        "scorer": champion.scorer,
        "fitted": type(champion.model).__name__,
        "steps": [type(s).__name__ for _, s in getattr(champion.model, "steps", [])],
    }

    with tempfile.TemporaryDirectory(prefix="serving-compare-") as tmp_name:
        tmp = Path(tmp_name)

        def ours(name: str, mode: str, bodies: list[dict[str, Any]]) -> tuple[Server, Callable[[Server], Any]]:
            port = free_port()
            server = Server(
                name, port, [loadgen.http_post(HOST, port, "/predict", json.dumps(b).encode()) for b in bodies],
                f"http://{HOST}:{port}/readyz",
            )  # fmt: skip
            return server, start_ours(project, mode)

        def mlserver(name: str, batch_size: int, batch_time_s: float) -> tuple[Server, Callable[[Server], Any]]:
            port, grpc = free_port(), free_port()
            folder = write_mlserver_folder(
                tmp / name, champion.model, champion.version, http_port=port, grpc_port=grpc,
                max_batch_size=batch_size, max_batch_time_s=batch_time_s,
            )  # fmt: skip
            path = f"/v2/models/{MODEL}/infer"
            bodies = [json.dumps(v2_request(r, kinds)).encode() for r in rows]
            server = Server(
                name, port, [loadgen.http_post(HOST, port, path, b) for b in bodies],
                f"http://{HOST}:{port}/v2/models/{MODEL}/ready",
            )  # fmt: skip
            return server, start_mlserver(program, folder, tmp / f"{name}.log")

        transport_port = free_port()
        transport = Server(
            "transport", transport_port,
            [loadgen.http_post(HOST, transport_port, "/predict", json.dumps(r).encode()) for r in rows],
            f"http://{HOST}:{transport_port}/",
        )  # fmt: skip
        entries = [
            (transport, start_transport),
            ours("ours_plain", "plain", rows),
            mlserver("mlserver_unbatched", 0, 0.0),
            ours("ours_shadow_entity", "shadow_entity", [{"entity_id": i} for i in ids]),
            mlserver("mlserver_batched", args.batch_size, args.batch_time_ms / 1000.0),
        ]
        if not quick:
            entries += [ours(f"ours_shadow_{fault}", f"shadow_{fault}", rows) for fault in FAULTS]
        servers = {server.name: server for server, _ in entries}
        starters = {server.name: start for server, start in entries}
        with ExitStack() as stack:
            t = time.perf_counter()
            stack.enter_context(started(list(servers.values()), starters, tmp))
            report["start_s"] = round(time.perf_counter() - t, 1)
            # Both cores held from here on, for every server alike (IdleHolders: why).
            holders = stack.enter_context(IdleHolders([] if args.let_cores_idle else [SERVER_CPU, LOAD_CPU]))
            timing = replace(timing, holders=holders)
            report["affinity"] = {name: s.affinity for name, s in servers.items()}
            report["load_cpus"] = pin(LOAD_CPU)
            report["score_check"] = check_scores(servers, rows, ids, champion)
            print("scores agree:", json.dumps(report["score_check"]), flush=True)

            # (a), (b) and MLServer: interleaved max-rate searches.
            order = ["ours_plain", "mlserver_unbatched", "ours_shadow_entity", "mlserver_batched"]
            searches: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
            for rep in range(repeats):
                for name in order:
                    previous = searches[name][-1]["max_rps"] if searches[name] else 0.0
                    # A repeat starts below the last result: a few steps, still found by passing and failing.
                    start = max(plan.min_rps, previous * 0.6) if previous else plan.start_rps
                    this_plan = SearchPlan(**{**plan.__dict__, "start_rps": min(start, plan.max_rps)})
                    server = servers[name]

                    def step(rate: float, server: Server = server) -> dict[str, Any]:
                        return measure_step(server, rate, timing)

                    found = search_max_rate(step, this_plan)
                    searches[name].append(found)
                    print(f"{name} search {rep + 1}: max {found['max_rps']} req/s "
                          f"({len(found['steps'])} steps)", flush=True)  # fmt: skip
            max_rates = {name: [s["max_rps"] for s in found] for name, found in searches.items()}
            medians = {name: median(values) for name, values in max_rates.items()}
            best = max(("mlserver_unbatched", "mlserver_batched"), key=lambda n: medians[n])
            report["max_rate"] = {
                name: {"values_rps": max_rates[name], "median_rps": medians[name], "searches": searches[name]}
                for name in order
            }
            report["mlserver_best"] = {"config": best, "median_rps": medians[best]}
            ratios: dict[str, Any] = {
                "a_plain_vs_mlserver_best": ratio(medians["ours_plain"], medians[best]),
                "b_shadow_entity_vs_mlserver_best": ratio(medians["ours_shadow_entity"], medians[best]),
            }

            # (c) HTTP p95 - in-process p95 at half of (a)'s max rate: pairs of an HTTP run and an
            # in-process block, so a neighbour's burst spoils one pair, not the figure (median).
            # Beside each pair, not part of the goal: the transport floor at the same rate (an
            # app answering {} at once, served alike), what the HTTP path costs without the app.
            half = max(plan.min_rps, medians["ours_plain"] / 2)
            pairs = []
            for _ in range(1 if quick else 3):
                http = fixed_rate(servers["ours_plain"], half, timing.fixed_s, timing)
                inproc = in_process_p95(champion, rows, 500 if quick else 1500)
                floor = fixed_rate(servers["transport"], half, timing.fixed_s, timing)
                pairs.append({
                    "http": http, "in_process": inproc, "p95_diff_ms": http["p95_ms"] - inproc["p95_ms"],
                    "transport_floor": floor, "http_minus_floor_p95_ms": http["p95_ms"] - floor["p95_ms"],
                })  # fmt: skip
            overhead: dict[str, Any] = {"rate_rps": round(half, 1), "pairs": pairs}
            if holders.procs:
                # Not the goal's figure, shown beside it: the same pair with the cores free to go
                # idle (the HTTP side then pays the machine's wake-ups; the timing loop never idles).
                with holders.released():
                    free = fixed_rate(servers["ours_plain"], half, timing.fixed_s, timing)
                    floor_free = fixed_rate(servers["transport"], half, timing.fixed_s, timing)
                overhead["cores_free"] = {"http": free, "transport_floor": floor_free}
                ratios["c_with_cores_free_p95_ms"] = {
                    "http_minus_in_process": round(
                        free["p95_ms"] - median([p["in_process"]["p95_ms"] for p in pairs]), 3
                    ),
                    "transport_floor": floor_free["p95_ms"],
                }
            report["overhead_at_half_max"] = overhead
            ratios["c_http_minus_in_process_p95_ms"] = round(median([p["p95_diff_ms"] for p in pairs]), 3)
            ratios["c_transport_floor_p95_ms"] = round(median([p["transport_floor"]["p95_ms"] for p in pairs]), 3)
            # Not the goal's figure: the model call when the core did something else in between.
            ratios["c_in_process_after_pause_p50_ms"] = round(
                median([p["in_process"]["after_pause"]["p50_ms"] for p in pairs]), 4
            )
            ratios["c_http_minus_transport_floor_p95_ms"] = round(
                median([p["http_minus_floor_p95_ms"] for p in pairs]), 3
            )

            # (d) primary p99 with shadow on / off at the same rate, interleaved rounds, pooled.
            if not quick:
                shadow = shadow_rounds(servers, half, args.shadow_rounds, timing)
                for fault in FAULTS:
                    print(f"shadow {fault}: pooled p99 {shadow[fault]['pooled_p99_ms']} ms "
                          f"(off {shadow['off']['pooled_p99_ms']} ms)", flush=True)  # fmt: skip
                report["shadow_at_half_max"] = shadow
                off_p99 = shadow["off"]["pooled_p99_ms"] or 0.0
                ratios["d_shadow_p99_ratio"] = {f: ratio(shadow[f]["pooled_p99_ms"] or 0.0, off_p99) for f in FAULTS}
                # Not a goal, shown beside it: at half the max rate the server is busy and the
                # shadow sheds most rows; at a quarter it has more room and mirrors more of them
                # (what it shed there is in shed_share: on a slow machine even a quarter of the
                # max rate can keep the server over the shedding limit).
                quarter = shadow_rounds(servers, half / 2, args.shadow_rounds, timing)
                report["shadow_at_quarter_max"] = quarter
                off_quarter = quarter["off"]["pooled_p99_ms"] or 0.0
                ratios["shadow_p99_ratio_at_quarter_max"] = {
                    f: ratio(quarter[f]["pooled_p99_ms"] or 0.0, off_quarter) for f in FAULTS
                }
        report["ratios"] = ratios

    report["goals"] = goals(ratios)
    report["neighbours"] = {
        key: spread(collect(report, key)) for key in ("others_on_server_core", "others_on_load_core")
    }
    taken = max(report["neighbours"][k].get("median", 0.0) for k in report["neighbours"])
    if taken > NOISY_SHARE:
        # The figures are still written: a shared machine is the usual case here, but say so.
        report["noise_warning"] = (
            f"other processes took a median {taken:.0%} of a benchmark core during the load runs: "
            "rates and latencies are lower and more spread than on a quiet machine; rerun when it is idle"
        )
    report["machine_after"] = machine_facts()
    report["wall_s"] = round(time.perf_counter() - started_at, 1)
    write_report(out, report)
    shown = ("model", "mlserver_best", "ratios", "goals", "neighbours", "noise_warning", "wall_s")
    print(json.dumps({k: report[k] for k in shown if k in report}, indent=2))
    print(f"wrote {out}")
    return 0


def collect(node: Any, key: str) -> list[float]:
    """Every value of ``key`` anywhere in a nested report."""
    if isinstance(node, dict):
        found = [float(node[key])] if isinstance(node.get(key), int | float) else []
        return found + [v for child in node.values() for v in collect(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in collect(child, key)]
    return []


def spread(values: list[float]) -> dict[str, float | int]:
    """Median, 90th percentile and max of the CPU share others took, over every load run."""
    if not values:
        return {"runs": 0}
    ordered = sorted(values)
    return {
        "runs": len(values),
        "median": round(median(values), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
    }


def goals(ratios: dict[str, Any]) -> dict[str, Any]:
    """Each goal of the issue, met or not (None: not measured in this run)."""

    def at_least(value: float | None, goal: float) -> bool | None:
        return None if value is None else value >= goal

    shadow = ratios.get("d_shadow_p99_ratio")
    return {
        "a_plain_ge_5x_mlserver": at_least(ratios.get("a_plain_vs_mlserver_best"), GOALS["plain_vs_mlserver"]),
        "b_shadow_entity_ge_3x_mlserver": at_least(
            ratios.get("b_shadow_entity_vs_mlserver_best"), GOALS["shadow_entity_vs_mlserver"]
        ),
        "c_http_overhead_p95_le_1_5ms": (
            None
            if ratios.get("c_http_minus_in_process_p95_ms") is None
            else ratios["c_http_minus_in_process_p95_ms"] <= GOALS["http_overhead_p95_ms"]
        ),
        "d_shadow_p99_ratio_le_1_05": (
            None if shadow is None else {f: r is not None and r <= GOALS["shadow_p99"] for f, r in shadow.items()}
        ),
    }


def check_scores(
    servers: dict[str, Server], rows: list[dict[str, Any]], ids: list[str], champion: Any
) -> dict[str, Any]:
    """The same rows through MLServer (both configurations) and through our app: the scores must
    agree (1e-5, the compiled scorer's tolerance) and match the fitted Pipeline; entity-id requests
    must be answered (their features are in the online store)."""
    import numpy as np
    import pandas as pd

    sample = rows[:20]
    fitted = champion.model.predict_proba(pd.DataFrame(sample))[:, 1]
    ours_port = servers["ours_plain"].port
    ours = np.asarray([post_json(f"http://{HOST}:{ours_port}/predict", r)["score"] for r in sample])
    found: dict[str, Any] = {"rows": len(sample), "ours_vs_fitted_max_abs": float(np.abs(ours - fitted).max())}
    kinds = dict(champion.schema.kinds)
    for name in ("mlserver_unbatched", "mlserver_batched"):
        url = f"http://{HOST}:{servers[name].port}/v2/models/{MODEL}/infer"
        theirs = np.asarray([v2_positive_score(post_json(url, v2_request(r, kinds))) for r in sample])
        diff = float(np.abs(theirs - ours).max())
        found[f"{name}_vs_ours_max_abs"] = diff
        found[f"{name}_vs_fitted_max_abs"] = float(np.abs(theirs - fitted).max())
        if not math.isfinite(diff) or diff > 1e-5:
            raise SystemExit(f"{name} scores differ from ours by up to {diff:.3g} on the same rows: not the same model")
    entity_port = servers["ours_shadow_entity"].port
    answered = [post_json(f"http://{HOST}:{entity_port}/predict", {"entity_id": i})["score"] for i in ids[:5]]
    found["entity_requests_answered"] = len(answered)
    return found


if __name__ == "__main__":
    raise SystemExit(main())
