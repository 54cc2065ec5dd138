"""`make loadtest`: serve the champion on a free local port, run Locust headless, stop the server.

    python -m performance.load_testing.run --users 20 --duration 30s --out bench-results

Writes ``<out>/loadtest_stats.csv`` (and the other Locust CSVs) and ``<out>/loadtest.html``.
When the registry has a challenger but no champion yet (right after `make run`), the
challenger is promoted first, as a user would before serving; with no model at all it stops
and says to run `make run`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from performance.servers import HOST, free_port, http_ok, running

HERE = Path(__file__).resolve().parent


def ensure_champion(model: str, config_dir: Path, env: str) -> str:
    from mlops.errors import MlopsError
    from platform_config import load_platform_config

    registry = load_platform_config(config_dir, env).open_registry()
    champion = registry.by_alias(model, "champion")
    if champion is not None:
        return champion.semver
    challenger = registry.by_alias(model, "challenger")
    if challenger is None:
        raise MlopsError(f"no {model} champion or challenger registered: run `make run` first")
    registry.set_alias(model, challenger.semver, "champion")
    print(f"promoted {model} {challenger.semver} (challenger) to champion for the load test")
    return challenger.semver


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
    parser.add_argument(
        "--drift", type=float, default=0.0, help="shift numeric features by this many standard deviations"
    )
    args = parser.parse_args()

    version = ensure_champion(args.model, args.config_dir, args.env)
    port = free_port()
    url = f"http://{HOST}:{port}"
    args.out.mkdir(parents=True, exist_ok=True)
    serve = [sys.executable, "-m", "mlops_cli", "serve", "--model", args.model, "--port", str(port),
             "--config-dir", str(args.config_dir), "--env", args.env]  # fmt: skip
    try:
        with running(serve, http_ok(f"{url}/readyz"), None, name=f"the server at {url}", timeout_s=120, grace_s=15):
            print(f"load testing {args.model} {version} at {url} for {args.duration}")
            # Locust in its own process, through its CLI: its gevent patching must precede any ssl import.
            locust = Path(sys.executable).parent / "locust"
            return subprocess.call(
                [str(locust), "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(args.users),
                 "-r", str(args.spawn_rate), "-t", args.duration, "--host", url, "--only-summary",
                 "--csv", str(args.out / "loadtest"), "--html", str(args.out / "loadtest.html")],
                env={**os.environ, "MLOPS_LOADTEST_ENTITY_RANGE": args.entity_range,
                     "MLOPS_LOADTEST_DRIFT": str(args.drift)},
            )  # fmt: skip
    except RuntimeError as exc:  # the server exited or was not ready in time
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
