"""Profile a live serving process under open-loop load with py-spy: where does a request's time go?

    python -m performance.profiling.profile_serving --rate 20 --seconds 15 --out bench-results/profile

Starts the app exactly as the online benchmark does (``uvicorn`` in its own process around a
fitted champion; ``--shadow`` adds the challenger in its child process), drives ``POST
/predict`` at a fixed rate, and meanwhile samples every thread of the server (and its
children) with ``py-spy record``. Writes:

- ``<out>/predict.speedscope.json``: open at https://www.speedscope.app (or any speedscope
  viewer) for the flame graph per thread;
- ``<out>/predict.top.txt``: the functions holding the most samples (self and total), also printed.

Any running server can be sampled the same way, e.g. the one ``make loadtest`` starts:
``.venv/bin/py-spy record --pid PID --duration 20 --format speedscope -o profile.json``
(py-spy reads the process from outside: no code change, no restart; it needs ptrace rights,
which root or CAP_SYS_PTRACE give).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from performance.benchmarks.online import open_loop_http, serve_app, train_models
from performance.benchmarks.workload import request_rows
from performance.servers import HOST, free_port, http_ok, spawned
from serving.server import limit_native_threads


def top_functions(raw: Path, limit: int = 25) -> str:
    """The ``limit`` functions with the most samples, from py-spy's raw (collapsed-stack) output."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [f"{samples} samples (all threads, idle included)", "", "self %  total %  function"]
    for frame, count in own.most_common(limit):
        rows.append(f"{100 * count / samples:6.1f}  {100 * total[frame] / samples:7.1f}  {frame}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--shadow", action="store_true", help="mirror to the challenger (child process)")
    parser.add_argument("--sampling-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path("bench-results/profile"))
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed: run `make install` (it is in the dev dependency group)")
    limit_native_threads()  # as `mlops serve` runs; the server process inherits it
    champion, challenger = train_models(20_000)
    bodies = request_rows(500)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        fault = "healthy" if args.shadow else None
        app_args = (champion, challenger, fault, port, str(Path(tmp) / "pairs.sqlite"))
        with spawned(serve_app, app_args, http_ok(f"{url}/healthz"), name=f"the server at {url}") as server:
            raw = Path(tmp) / "predict.raw.txt"
            record = [py_spy, "record", "--pid", str(server.pid), "--rate", str(args.sampling_rate), "--subprocesses"]
            record.append("--nonblocking")  # sample without pausing the server: the load stays open-loop
            duration = str(int(args.seconds) + 1)
            spies = [
                subprocess.Popen(
                    [*record, "--duration", duration, "--format", fmt, "-o", str(path)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for fmt, path in (("speedscope", args.out / "predict.speedscope.json"), ("raw", raw))
            ]
            load: dict[str, Any] = asyncio.run(open_loop_http(url, bodies, args.rate, args.seconds))
            for spy in spies:
                _, err = spy.communicate(timeout=60)
                if spy.returncode != 0:
                    raise SystemExit(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
            text = top_functions(raw)
    summary = f"load: {json.dumps(load)}\n\n{text}\n"
    (args.out / "predict.top.txt").write_text(summary)
    print(summary)
    print(f"wrote {args.out / 'predict.speedscope.json'} and {args.out / 'predict.top.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
