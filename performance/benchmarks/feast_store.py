"""Benchmark the local Feast store: apply, materialise, point-in-time retrieval, online reads.

    python -m performance.benchmarks.feast_store --rows 50000 --out bench-results/feast_store.json

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
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_store.config import FeatureConfig
from feature_store.store import OnlineFeatureReader, build_training_set
from performance.benchmarks.report import write_report
from performance.servers import redis_server
from training.sample_data import (
    ENTITY_COLUMN,
    SENSITIVE_COLUMNS,
    TARGET_COLUMN,
    TIMESTAMP_COLUMN,
    generate_credit_risk,
    sample_feature_schema,
)

FEATURES = sample_feature_schema().columns
CARRY = [TARGET_COLUMN, *SENSITIVE_COLUMNS]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_build(rows: int, state: Path, config: FeatureConfig) -> dict[str, Any]:
    df = generate_credit_risk(rows)
    start = time.perf_counter()
    result = build_training_set(
        df,
        name="credit-risk",
        entity_column=ENTITY_COLUMN,
        timestamp_column=TIMESTAMP_COLUMN,
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
    stamps = df[TIMESTAMP_COLUMN]
    recent = df[stamps >= stamps.max() - pd.Timedelta(days=window)] if window else df
    return list(recent[ENTITY_COLUMN])


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
        misses += values[FEATURES[0]] is None
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
        entity_column=ENTITY_COLUMN,
        timestamp_column=TIMESTAMP_COLUMN,
        feature_columns=FEATURES,
        carry_columns=CARRY,
        state_dir=state,
        config=FeatureConfig(online_window_days=None),
    )
    return {"rows": rows, "online_window_days": None, "timings_s": {k: round(v, 4) for k, v in result.timings.items()}}


@contextlib.contextmanager
def redis_for_bench(connection: str | None, workdir: Path) -> Iterator[str]:
    """The given Redis, or a throwaway local one (free port, no persistence)."""
    if connection:
        yield connection
        return
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

    write_report(args.out, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
