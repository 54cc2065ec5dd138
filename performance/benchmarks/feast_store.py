"""Benchmark the local Feast store: apply, materialise, point-in-time retrieval, online reads.

    python performance/benchmarks/feast_store.py --rows 50000 --out bench-results/feast_store.json

Runs one full ``build_training_set`` on the bundled synthetic sample in a temporary state
folder (so apply / materialise / retrieval are timed exactly as the training step runs
them), then ``--reads`` single-entity online reads in-process. The same build is then written
to Redis (the staging/prod online store: a local ``redis-server`` is started on a free port
unless ``--redis-connection host:port`` names one; ``--no-redis`` skips it) and read the same
way. ``--materialize-rows`` adds a separate materialisation of a larger frame.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from feature_store.store import OnlineFeatureReader, build_training_set  # noqa: E402
from mlops.config import FeatureConfig  # noqa: E402
from training.sample_data import generate_credit_risk  # noqa: E402

FEATURES = [
    "income",
    "loan_amount",
    "loan_term_months",
    "credit_score",
    "debt_to_income",
    "open_accounts",
    "late_payments_12m",
    "employment_type",
    "home_ownership",
    "loan_purpose",
    "region",
]
CARRY = ["defaulted", "sex", "age_band"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_build(rows: int, state: Path, config: FeatureConfig) -> dict[str, Any]:
    df = generate_credit_risk(rows)
    start = time.perf_counter()
    result = build_training_set(
        df,
        name="credit-risk",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        feature_columns=FEATURES,
        carry_columns=CARRY,
        state_dir=state,
        config=config,
    )
    total = time.perf_counter() - start
    return {
        "rows": rows,
        "features": len(FEATURES),
        "rows_out": result.rows_out,
        "dropped": result.dropped,
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "total_s": round(total, 4),
        "online_window_days": FeatureConfig().online_window_days,
        # Only entities inside the materialised window are in the online store.
        "entity_ids": online_ids(df),
    }


def online_ids(df: pd.DataFrame) -> list[str]:
    window = FeatureConfig().online_window_days
    stamps = df["application_ts"]
    recent = df[stamps >= stamps.max() - pd.Timedelta(days=window)] if window else df
    return list(recent["applicant_id"])


def bench_online(state: Path, entity_ids: list[str], reads: int, seed: int, config: FeatureConfig) -> dict[str, Any]:
    reader = OnlineFeatureReader(name="credit-risk", state_dir=state, config=config)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(entity_ids), size=reads)
    for i in picks[:20]:  # warm the SQLite connection and the registry cache
        reader.row(entity_ids[i])
    latencies: list[float] = []
    misses = 0
    for i in picks:
        t0 = time.perf_counter()
        values = reader.row(entity_ids[i])
        latencies.append((time.perf_counter() - t0) * 1000)
        misses += values["income"] is None
    return {
        "reads": reads,
        "misses": misses,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p90_ms": round(percentile(latencies, 90), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
    }


def bench_large_materialize(rows: int, state: Path) -> dict[str, Any]:
    """Materialise a frame's WHOLE history (no online window): what the window saves."""
    df = generate_credit_risk(rows)
    result = build_training_set(
        df,
        name="credit-risk-large",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        feature_columns=FEATURES,
        carry_columns=CARRY,
        state_dir=state,
        config=FeatureConfig(online_window_days=None),
    )
    return {"rows": rows, "online_window_days": None, "timings_s": {k: round(v, 4) for k, v in result.timings.items()}}


@contextlib.contextmanager
def redis_for_bench(connection: str | None, workdir: Path) -> Iterator[str]:
    """The given Redis, or a throwaway local one (the test suite's starter: free port, no persistence)."""
    if connection:
        yield connection
        return
    from tests.servers import redis_server

    with redis_server(workdir) as started:
        yield started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--materialize-rows", type=int, default=0, help="full-history rows; 0 skips")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True, help="also bench Redis")
    parser.add_argument("--redis-connection", default=None, help="host:port of a Redis to use")
    parser.add_argument("--out", type=Path, default=Path("bench-results/feast_store.json"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "feast_store",
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    with tempfile.TemporaryDirectory(prefix="feast-bench-") as tmp:
        state = Path(tmp) / "feast"
        sqlite = FeatureConfig()
        build = bench_build(args.rows, state, sqlite)
        ids = build.pop("entity_ids")
        report["build"] = build
        report["online_read"] = bench_online(state, ids, args.reads, args.seed, sqlite)
        if args.redis:
            with redis_for_bench(args.redis_connection, Path(tmp) / "redis") as connection:
                redis = FeatureConfig(online_store="redis", redis_connection=connection)
                redis_build = bench_build(args.rows, Path(tmp) / "feast-redis", redis)
                redis_build.pop("entity_ids")
                report["build_redis"] = redis_build
                report["online_read_redis"] = bench_online(Path(tmp) / "feast-redis", ids, args.reads, args.seed, redis)
        if args.materialize_rows:
            report["full_history"] = bench_large_materialize(args.materialize_rows, Path(tmp) / "feast-large")
    report["wall_s"] = round(time.perf_counter() - started, 2)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
