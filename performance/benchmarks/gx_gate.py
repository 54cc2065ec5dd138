"""Benchmark the data-quality gate: GX validation of the bundled suite on a large frame.

    python -m performance.benchmarks.gx_gate --rows 1000000 --out bench-results/gx_gate.json

The frame is the bundled synthetic sample tiled up to ``--rows`` with fresh, unique
applicant ids, so the bundled suite passes on it (the quarantine path costs nothing extra
when rows pass). Import time (great_expectations, paid once per process) and context
creation are reported apart from validation time; validation is the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from performance.benchmarks.report import REPO, write_report

if TYPE_CHECKING:
    import pandas as pd


def build_frame(rows: int, base_rows: int = 50_000) -> pd.DataFrame:
    """The bundled sample tiled to ``rows`` rows, with unique ids and a RangeIndex."""
    import numpy as np
    import pandas as pd

    from training.sample_data import ENTITY_COLUMN, generate_credit_risk

    base = generate_credit_risk(min(rows, base_rows))
    reps = -(-rows // len(base))
    frame = pd.concat([base] * reps, ignore_index=True).iloc[:rows]
    ids = pd.Series(np.arange(rows)).map("APP-{:07d}".format)
    frame = frame.assign(**{ENTITY_COLUMN: ids.to_numpy()})
    # One consolidated copy, as a frame read from parquet would be.
    return frame.copy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suite", type=Path, default=REPO / "data_quality" / "expectations" / "credit_risk.yaml")
    parser.add_argument("--out", type=Path, default=Path("bench-results/gx_gate.json"))
    args = parser.parse_args(argv)

    from data_quality.suite import load_suite
    from training.sample_data import ENTITY_COLUMN

    suite = load_suite(args.suite)

    started = time.perf_counter()
    import great_expectations  # noqa: F401  (timed on its own: paid once per process)

    import_s = time.perf_counter() - started

    from data_quality.validation import default_context, validate

    started = time.perf_counter()
    default_context()
    context_s = time.perf_counter() - started

    started = time.perf_counter()
    frame = build_frame(args.rows)
    build_s = time.perf_counter() - started

    runs: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = validate(frame, suite, row_id_column=ENTITY_COLUMN)
        runs.append(time.perf_counter() - started)
        if not result.passed:
            print(f"gate failed unexpectedly: {result.failed_expectations}", file=sys.stderr)
            return 1

    median = statistics.median(runs)
    report = {
        "rows": args.rows,
        "expectations": len(suite.expectations),
        "seconds_median": round(median, 3),
        "seconds_runs": [round(r, 3) for r in runs],
        "rows_per_s": round(args.rows / median),
        "import_s": round(import_s, 3),
        "context_s": round(context_s, 3),
        "build_frame_s": round(build_s, 3),
    }
    write_report(args.out, report)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
