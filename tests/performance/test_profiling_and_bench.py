"""The profiling helper and the online benchmark run end to end (tiny durations: this checks that
they work and report what they claim, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_top_functions_counts_self_and_total_samples(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from performance.profiling.profile_serving import top_functions

    raw = tmp_path / "raw.txt"
    raw.write_text("main;handler;predict 6\nmain;handler;validate 3\nmain;idle 1\n")
    text = top_functions(raw)
    assert text.splitlines()[0].startswith("10 samples")
    lines = {line.split()[-1]: line.split()[:2] for line in text.splitlines()[3:]}
    assert lines["predict"] == ["60.0", "60.0"]
    assert lines["validate"] == ["30.0", "30.0"]
    assert "handler" not in lines  # never a leaf: no self time


def test_profiler_samples_a_live_server_under_load(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "performance/profiling/profile_serving.py",
            *("--rate", "20", "--seconds", "3"),
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    speedscope = json.loads((tmp_path / "predict.speedscope.json").read_text())
    assert speedscope["profiles"], "py-spy recorded no thread"
    top = (tmp_path / "predict.top.txt").read_text()
    assert '"errors": 0' in top
    # The scoring call is where a predict request spends its CPU: it must show up.
    assert "predict" in top


def test_online_benchmark_reports_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "online.json"
    done = subprocess.run(
        [
            sys.executable,
            "performance/benchmarks/online.py",
            "--rate",
            "20",
            "--seconds",
            "2",
            "--train-rows",
            "3000",
            "--drain-seconds",
            "1.5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    scenarios = report["scenarios"]
    assert set(scenarios) == {
        "in_process",
        "http",
        "shadow_healthy",
        "shadow_slow",
        "shadow_failing",
        "shadow_down",
        "http_again",
    }
    for name, figures in scenarios.items():
        assert figures["requests"] == 40, name
        assert figures["errors"] == 0, name  # no challenger fault reaches a primary response
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], name
    shadow = {f: scenarios[f"shadow_{f}"]["shadow"] for f in ("healthy", "slow", "failing", "down")}
    assert shadow["healthy"]["compared"] > 0
    assert shadow["failing"]["compared"] == 0
    assert shadow["failing"]["challenger_errors"] > 0
    assert shadow["down"]["compared"] == 0
    assert shadow["down"]["challenger_errors"] > 0
    assert shadow["slow"]["compared"] == 0
    assert shadow["slow"]["challenger_timeouts"] > 0
    assert set(report["shadow_p99_ratio"]) == {"healthy", "slow", "failing", "down"}
