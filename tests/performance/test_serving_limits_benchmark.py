"""The serving-limits benchmark runs end to end and reports what it claims (tiny durations and
bodies: this checks that it works, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serving_limits_benchmark_reports_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "serving_limits.json"
    done = subprocess.run(
        [
            sys.executable,
            "performance/benchmarks/serving_limits.py",
            *("--seconds", "0.5", "--warmup-seconds", "0.2", "--clients", "1"),
            *("--oversized-rows", "20000", "--train-rows", "500"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    scenarios = report["scenarios"]
    assert set(scenarios) == {"idle", "oversized", "oversized_chunked", "large_valid", "mixed"}
    for name, result in scenarios.items():
        assert result["probes"] > 0, name
        assert result["healthz_p99_ms"] >= result["healthz_p50_ms"] > 0
    # Oversized bodies are refused (or cut off), never parsed; valid batches are scored.
    assert set(scenarios["oversized"]["answers"]["oversized"]) <= {"413", "reset"}
    assert set(scenarios["oversized_chunked"]["answers"]["oversized_chunked"]) <= {"413", "reset"}
    assert set(scenarios["large_valid"]["answers"]["large_valid"]) == {"200"}
    assert report["oversized_body_mb"] > 4  # over the 2 MiB batch limit
    assert isinstance(report["goals"]["healthz_p99_under_load_lt_50ms"], bool)
