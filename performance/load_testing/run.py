"""`make loadtest`: serve the champion on a free local port, run Locust headless, stop the server.

    python performance/load_testing/run.py --users 20 --duration 30s --out bench-results

Writes ``<out>/loadtest_stats.csv`` (and the other Locust CSVs) and ``<out>/loadtest.html``.
When the registry has a challenger but no champion yet (right after `make run`), the
challenger is promoted first, as a user would before serving; with no model at all it stops
and says to run `make run`.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_champion(model: str, config_dir: Path, env: str) -> str:
    from mlops.config import load_platform_config
    from mlops.errors import MlopsError
    from model_registry.steps import registry_for

    registry = registry_for(load_platform_config(config_dir, env))
    champion = registry.by_alias(model, "champion")
    if champion is not None:
        return champion.semver
    challenger = registry.by_alias(model, "challenger")
    if challenger is None:
        raise MlopsError(f"no {model} champion or challenger registered: run `make run` first")
    registry.set_alias(model, challenger.semver, "champion")
    print(f"promoted {model} {challenger.semver} (challenger) to champion for the load test")
    return challenger.semver


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"server at {url} not ready after {timeout_s:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="credit_risk")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    parser.add_argument("--env", default="dev")
    parser.add_argument("--entity-range", default="46000:49999", help="APP-<n> ids in the online store, FIRST:LAST")
    args = parser.parse_args()

    version = ensure_champion(args.model, args.config_dir, args.env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args.out.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "serve", "--model", args.model, "--port", str(port),
         "--config-dir", str(args.config_dir), "--env", args.env],
    )  # fmt: skip
    try:
        wait_ready(url, server, timeout_s=120)
        print(f"load testing {args.model} {version} at {url} for {args.duration}")
        locust = Path(sys.executable).parent / "locust"
        return subprocess.call(
            [str(locust), "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(args.users),
             "-r", str(args.spawn_rate), "-t", args.duration, "--host", url, "--only-summary",
             "--csv", str(args.out / "loadtest"), "--html", str(args.out / "loadtest.html")],
            env={**os.environ, "MLOPS_LOADTEST_ENTITY_RANGE": args.entity_range},
        )  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
