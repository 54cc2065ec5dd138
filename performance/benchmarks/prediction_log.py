"""Benchmark the prediction log: what ``record()`` costs a request, and what its writer keeps up with.

    python -m performance.benchmarks.prediction_log --out bench-results/prediction_log.json

- ``record``: microseconds per ``PredictionLogger.record()`` call (p50/p99/p99.9/max) for 1-row
  and 100-row frames typed as the serving Scorer builds them (the bundled sample's features),
  at sample rates 1.0 and 0.1, with the writer thread writing meanwhile (its work competes for
  the interpreter lock, as it does in serving) and a buffer bound that holds the whole run (so
  every kept call appends). At 0.1 the calls sampled out and the calls kept are also reported apart.
- ``writer``: rows/s the writer thread turns into parquet from a full buffer, for 1-row and
  100-row records, and the bytes a row takes on disk.
- ``burst``: two threads call ``record()`` back to back with fresh 100-row frames (as requests
  bring) against a small buffer bound: the peak of buffered rows (never above the bound), rows
  accepted, dropped and written, and the process's resident memory before, at peak and after.

The cost of the log on the served p99 over HTTP is measured with the online benchmark once the
app calls it; these figures are the log's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from observability.prediction_log import PredictionLogConfig, PredictionLogger
from performance.benchmarks.report import write_report
from training.sample_data import ENTITY_COLUMN, generate_credit_risk, sample_feature_schema

MODEL = "bench"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def scorer_frames(rows: int, seed: int = 2) -> pd.DataFrame:
    """``rows`` sample rows as the model's input: float64 numbers, object strings (serving.scoring)."""
    schema = sample_feature_schema()
    data = generate_credit_risk(max(rows, 100), seed=seed).iloc[:rows]
    numeric = set(schema.numeric)
    return pd.DataFrame({c: np.asarray(data[c], dtype="float64" if c in numeric else object) for c in schema.columns})


def frame_pool(rows: int, count: int) -> list[pd.DataFrame]:
    """``count`` different ``rows``-row frames: distinct values, so parquet sizes are not flattered."""
    data = scorer_frames(rows * count)
    return [data.iloc[i * rows : (i + 1) * rows].reset_index(drop=True) for i in range(count)]


def rss_mb() -> float:
    """Resident memory of this process now (Linux), in MB; NaN elsewhere."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 1e6
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentiles(ns: np.ndarray) -> dict[str, float]:
    us = ns / 1000.0
    if us.size == 0:
        return {}
    return {
        "p50_us": round(float(np.percentile(us, 50)), 2),
        "p99_us": round(float(np.percentile(us, 99)), 2),
        "p999_us": round(float(np.percentile(us, 99.9)), 2),
        "max_us": round(float(us.max()), 1),
        "mean_us": round(float(us.mean()), 2),
    }


def bench_record(rows: int, rate: float, calls: int, folder: Path) -> dict[str, Any]:
    """Time each record() call while the writer runs with the default config (but ``rate``)."""
    frames = frame_pool(rows, 50)
    scores = np.linspace(0.0, 1.0, rows)
    entity_ids = [str(i) for i in range(rows)]
    request_ids = [str(uuid.uuid4()) for _ in range(calls)]
    # The bound holds the whole run: calls back to back outpace any writer, and a dropped call
    # (cheaper: nothing appended) is not what this case measures. The burst case measures the bound.
    config = PredictionLogConfig(sample_rate=rate, max_buffer_rows=max(rows * calls, 100_000))
    logger = PredictionLogger(folder, config, entity_column=ENTITY_COLUMN)
    elapsed = np.empty(calls, dtype="int64")
    kept = np.empty(calls, dtype=bool)
    clock = time.perf_counter_ns
    for i, request_id in enumerate(request_ids):
        frame = frames[i % len(frames)]
        start = clock()
        n = logger.record(frame, scores, model=MODEL, version="1.0.0", request_ids=request_id, entity_ids=entity_ids)
        elapsed[i] = clock() - start
        kept[i] = n > 0
    closed = logger.close(timeout=120)
    stats = logger.stats()
    result: dict[str, Any] = {
        "rows_per_call": rows,
        "sample_rate": rate,
        "calls": calls,
        **percentiles(elapsed),
        "calls_kept": int(kept.sum()),
        "rows_written": stats["rows_written"],
        "rows_dropped": stats["rows_dropped"],
        "files": stats["files_written"],
        "closed_cleanly": closed,
    }
    if rate < 1.0:
        result["kept_calls"] = percentiles(elapsed[kept])
        result["sampled_out_calls"] = percentiles(elapsed[~kept])
    return result


def bench_writer(rows: int, records: int, folder: Path) -> dict[str, Any]:
    """Fill the buffer without writing, then time one flush of all of it."""
    frames = frame_pool(rows, max(20_000 // rows, 1))
    scores = np.linspace(0.0, 1.0, rows)
    entity_ids = [str(i) for i in range(rows)]
    total = rows * records
    config = PredictionLogConfig(max_buffer_rows=total, flush_rows=total, flush_interval_s=3600)
    logger = PredictionLogger(folder, config, entity_column=ENTITY_COLUMN)
    for i in range(records):
        frame = frames[i % len(frames)]
        logger.record(frame, scores, model=MODEL, version="1.0.0", request_ids=f"r{i}", entity_ids=entity_ids)
    start = time.perf_counter()
    flushed = logger.flush(timeout=600)
    seconds = time.perf_counter() - start
    logger.close()
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    return {
        "rows_per_record": rows,
        "records": records,
        "rows": total,
        "seconds": round(seconds, 3),
        "rows_per_s": round(total / seconds),
        "flushed": flushed,
        "bytes_per_row": round(size / max(logger.rows_written, 1), 1),
    }


def bench_burst(seconds: float, bound: int, folder: Path) -> dict[str, Any]:
    """Two threads record fresh 100-row frames back to back for ``seconds`` against ``bound`` rows."""
    template = scorer_frames(100)
    scores = np.linspace(0.0, 1.0, 100)
    config = PredictionLogConfig(max_buffer_rows=bound, flush_rows=bound // 4, flush_interval_s=0.5)
    logger = PredictionLogger(folder, config, entity_column=ENTITY_COLUMN)
    stop = threading.Event()
    peaks = [0, 0]
    calls = [0, 0]
    rss_peak = [rss_mb()]

    def sender(slot: int) -> None:
        while not stop.is_set():
            frame = template.copy()  # each request brings its own frame
            logger.record(frame, scores, model=MODEL, version="1.0.0", request_ids=f"{slot}-{calls[slot]}")
            calls[slot] += 1
            peaks[slot] = max(peaks[slot], logger.buffered_rows)

    def watch() -> None:
        while not stop.is_set():
            rss_peak[0] = max(rss_peak[0], rss_mb())
            time.sleep(0.01)

    before = rss_mb()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(2)] + [threading.Thread(target=watch)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    start = time.perf_counter()
    closed = logger.close(timeout=120)
    stats = logger.stats()
    peak = max(peaks)
    return {
        "seconds": seconds,
        "max_buffer_rows": bound,
        "calls": sum(calls),
        "rows_offered": sum(calls) * 100,
        "rows_accepted": stats["rows_recorded"],
        "rows_dropped": stats["rows_dropped"],
        "rows_written": stats["rows_written"],
        "peak_buffered_rows": peak,
        "close_seconds": round(time.perf_counter() - start, 3),
        "closed_cleanly": closed,
        "rss_mb": {"before": round(before, 1), "peak": round(rss_peak[0], 1), "after_close": round(rss_mb(), 1)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000, help="record() calls per 1-row case")
    parser.add_argument("--calls-100", type=int, default=5_000, help="record() calls per 100-row case")
    parser.add_argument("--writer-records", type=int, default=50_000, help="1-row records the writer flushes")
    parser.add_argument("--burst-seconds", type=float, default=2.0)
    parser.add_argument("--burst-bound", type=int, default=20_000, help="max_buffer_rows during the burst")
    parser.add_argument("--out", type=Path, default=Path("bench-results/prediction_log.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "prediction_log",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "features": len(sample_feature_schema().columns),
    }
    with tempfile.TemporaryDirectory(prefix="bench-prediction-log-") as tmp:
        root = Path(tmp)
        record = []
        for rows, calls in ((1, args.calls), (100, args.calls_100)):
            for rate in (1.0, 0.1):
                result = bench_record(rows, rate, calls, root / f"record-{rows}-{rate}")
                print("record", json.dumps(result), flush=True)
                record.append(result)
        report["record"] = record
        writer = [
            bench_writer(1, args.writer_records, root / "writer-1"),
            bench_writer(100, max(args.writer_records // 25, 1), root / "writer-100"),
        ]
        for result in writer:
            print("writer", json.dumps(result), flush=True)
        report["writer"] = writer
        report["burst"] = bench_burst(args.burst_seconds, args.burst_bound, root / "burst")
        print("burst", json.dumps(report["burst"]), flush=True)
    burst = report["burst"]
    report["checks"] = {
        "burst_peak_within_bound": burst["peak_buffered_rows"] <= burst["max_buffer_rows"],
        "burst_accepted_rows_all_written": burst["rows_written"] == burst["rows_accepted"],
        "burst_drops_counted": burst["rows_accepted"] + burst["rows_dropped"] == burst["rows_offered"],
    }
    report["wall_s"] = round(time.perf_counter() - started, 1)
    write_report(args.out, report)
    print(json.dumps(report["checks"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
