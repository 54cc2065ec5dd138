"""Benchmark drift monitoring: ``detect_drift`` + its outputs on a large current frame.

    python -m performance.benchmarks.drift --rows 100000 --columns 50 --out bench-results/drift.json
    python -m performance.benchmarks.drift --rows 1000000 --columns 50 --out bench-results/drift-1m.json

A generated training frame (``--training-rows``; 80 % numeric, 20 % categorical columns, a score
and a label) becomes a reference with :func:`~observability.drift.build_reference`; the current
frame has ``--rows`` rows in which a tenth of the columns moved (numeric ones by 0.5 SD, one
categorical column gains a new category at 10 %) and the score shifted. Reported apart:

- ``import_s``: importing evidently (paid once per process);
- ``build_reference_s``: the register-time cost;
- ``detect_s``: :func:`~observability.drift.detect_drift` with prediction, target and
  performance, the median of ``--runs`` (its ``prepare_s`` / ``evidently_s`` split too);
- ``write_s``: the HTML reports, ``drift.json`` and the gauge file;
- ``power``: the chosen sample sizes re-checked with Evidently's own tests (``--power-trials``
  draws per case): false alarms without drift and detections of small shifts;
- ``baseline`` (``--baseline``): Evidently's ``DataDriftPreset`` alone on the whole current frame
  against the whole training frame, the cost the sampling avoids.

The machine's load average is recorded before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from performance.benchmarks.report import write_report

if TYPE_CHECKING:
    import pandas as pd

SEED = 7
NEW_CATEGORY = "zz-new"


def column_names(columns: int) -> tuple[list[str], list[str]]:
    """80 % numeric, 20 % categorical feature names (at least one of each)."""
    if columns < 2:
        raise SystemExit("--columns must be at least 2 (one numeric, one categorical)")
    categorical = max(1, columns // 5)
    return [f"num_{i:02d}" for i in range(columns - categorical)], [f"cat_{i:02d}" for i in range(categorical)]


def make_frame(rows: int, numeric: list[str], categorical: list[str], *, seed: int, drift: bool) -> pd.DataFrame:
    """Features, ``score`` and ``label``; with ``drift`` a tenth of the columns (and the score) move."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    shifted_numeric = set(numeric[: max(1, len(numeric) // 10)]) if drift else set()
    data: dict[str, Any] = {}
    for i, name in enumerate(numeric):
        scale = 1.0 + i % 5
        data[name] = rng.normal(0.5 * scale if name in shifted_numeric else 0.0, scale, rows)
    levels = np.array(["a", "b", "c", "d", "e", "f"])
    for i, name in enumerate(categorical):
        values = levels[rng.integers(0, 3 + i % 4, rows)]
        if drift and i == 0:
            values = np.where(rng.random(rows) < 0.1, NEW_CATEGORY, values)
        data[name] = values
    frame = pd.DataFrame(data)
    # The score follows the first numeric column (scale 1); with drift it moves up as well.
    logit = frame[numeric[0]] + (0.5 if drift else 0.0)
    frame["score"] = 1 / (1 + np.exp(-logit))
    frame["label"] = (rng.random(rows) < frame["score"]).astype(int)
    return frame


def shifted_columns(numeric: list[str], categorical: list[str]) -> list[str]:
    return [*numeric[: max(1, len(numeric) // 10)], categorical[0]]


def power_check(trials: int, reference_rows: int, current_rows: int) -> dict[str, Any]:
    """False alarms and detections of Evidently's default tests at the sample sizes in use."""
    import numpy as np
    import pandas as pd
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(SEED)

    def numeric_case(shift_sd: float) -> dict[str, Any]:
        scores, drifted, method = [], 0, ""
        for _ in range(trials):
            ref = pd.Series(rng.normal(0, 1, reference_rows))
            cur = pd.Series(rng.normal(shift_sd, 1, current_rows))
            test = get_stattest(ref, cur, ColumnType.Numerical, None)
            result = test(ref, cur, ColumnType.Numerical, None)
            method = test.display_name
            scores.append(result.drift_score)
            drifted += bool(result.drifted)
        return {
            "method": method,
            "shift_sd": shift_sd,
            "detected_share": drifted / trials,
            "score_mean": round(float(np.mean(scores)), 4),
            "score_p99": round(float(np.quantile(scores, 0.99)), 4),
        }

    def categorical_case(new_share: float) -> dict[str, Any]:
        base = np.array([0.4, 0.3, 0.2, 0.1])
        shares = np.append(base * (1 - new_share), new_share)
        levels = np.array(["a", "b", "c", "d", "new"])
        scores, drifted, method = [], 0, ""
        for _ in range(trials):
            ref = pd.Series(rng.choice(levels[:4], reference_rows, p=base))
            cur = pd.Series(rng.choice(levels, current_rows, p=shares))
            test = get_stattest(ref, cur, ColumnType.Categorical, None)
            result = test(ref, cur, ColumnType.Categorical, None)
            method = test.display_name
            scores.append(result.drift_score)
            drifted += bool(result.drifted)
        return {
            "method": method,
            "new_category_share": new_share,
            "detected_share": drifted / trials,
            "score_mean": round(float(np.mean(scores)), 4),
            "score_p99": round(float(np.quantile(scores, 0.99)), 4),
        }

    return {
        "trials": trials,
        "reference_rows": reference_rows,
        "current_rows": current_rows,
        "numeric": [numeric_case(s) for s in (0.0, 0.1, 0.15, 0.2)],
        "categorical": [categorical_case(s) for s in (0.0, 0.02, 0.05)],
    }


def baseline(training: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]) -> float:
    """Evidently's DataDriftPreset alone, on the whole frames."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    started = time.perf_counter()
    Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current[numeric + categorical], data_definition=definition),
        reference_data=Dataset.from_pandas(training[numeric + categorical], data_definition=definition),
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="current rows")
    parser.add_argument("--columns", type=int, default=50, help="feature columns")
    parser.add_argument("--training-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--power-trials", type=int, default=100)
    parser.add_argument("--baseline", action="store_true", help="also time Evidently alone on the whole frames")
    parser.add_argument("--out", type=Path, default=Path("bench-results/drift.json"))
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    load_before = os.getloadavg()
    started = time.perf_counter()
    import evidently  # noqa: F401  (timed on its own: paid once per process)

    import_s = time.perf_counter() - started

    from observability.drift import (
        DEFAULT_CURRENT_SAMPLE_ROWS,
        DEFAULT_SAMPLE_ROWS,
        build_reference,
        detect_drift,
        write_drift_outputs,
    )

    numeric, categorical = column_names(args.columns)
    started = time.perf_counter()
    training = make_frame(args.training_rows, numeric, categorical, seed=SEED, drift=False)
    current = make_frame(args.rows, numeric, categorical, seed=SEED + 1, drift=True)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    reference = build_reference(
        training,
        numeric=numeric,
        categorical=categorical,
        prediction=training["score"],
        target=training["label"],
    )
    build_s = time.perf_counter() - started
    reference = replace(reference, model="bench", version="0.0.0")

    runs: list[float] = []
    splits: list[dict[str, float]] = []
    result = None
    for _ in range(args.runs):
        started = time.perf_counter()
        result = detect_drift(reference, current, prediction_column="score", target_column="label")
        runs.append(time.perf_counter() - started)
        splits.append(result.timings)
    if result is None:  # unreachable with --runs >= 1; narrows the type
        return 1
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        started = time.perf_counter()
        write_drift_outputs(result, Path(tmp) / "out", state_dir=Path(tmp) / "state")
        write_s = time.perf_counter() - started

    expected = set(shifted_columns(numeric, categorical))
    found = set(result.drifted_features)
    detect_s = statistics.median(runs)
    report: dict[str, Any] = {
        "benchmark": "drift",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": args.rows,
        "columns": args.columns,
        "numeric_columns": len(numeric),
        "categorical_columns": len(categorical),
        "training_rows": args.training_rows,
        "reference_sample_rows": DEFAULT_SAMPLE_ROWS,
        "current_sample_rows": DEFAULT_CURRENT_SAMPLE_ROWS,
        "import_s": round(import_s, 3),
        "generate_frames_s": round(generate_s, 3),
        "build_reference_s": round(build_s, 3),
        "detect_s": round(detect_s, 3),
        "detect_runs_s": [round(r, 3) for r in runs],
        "detect_split_s": {k: round(statistics.median(s[k] for s in splits), 3) for k in ("prepare_s", "evidently_s")},
        "write_s": round(write_s, 3),
        "detect_and_write_s": round(detect_s + write_s, 3),
        "goal_s": 10.0,
        "drift_share": round(result.drift_share, 4),
        "shifted_columns": sorted(expected),
        "shifted_found": sorted(expected & found),
        "false_alarms": sorted(found - expected),
        "prediction_drifted": bool(result.prediction and result.prediction.drifted),
        "performance": result.performance.to_dict() if result.performance else None,
    }
    report["power"] = power_check(args.power_trials, DEFAULT_SAMPLE_ROWS, DEFAULT_CURRENT_SAMPLE_ROWS)
    if args.baseline:
        report["baseline_evidently_full_s"] = round(baseline(training, current, numeric, categorical), 3)
    report["load_avg_before"] = [round(v, 2) for v in load_before]
    report["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    write_report(args.out, report)
    print(json.dumps(report))
    if expected - found:
        print(f"shifted columns not found drifted: {sorted(expected - found)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
