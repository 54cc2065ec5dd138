"""The profiler's summary of py-spy's raw (collapsed-stack) output."""

from __future__ import annotations

from pathlib import Path

from performance.profiling.profile_serving import top_functions


def test_top_functions_counts_self_and_total_samples(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("main;handler;predict 6\nmain;handler;validate 3\nmain;idle 1\n")
    text = top_functions(raw)
    assert text.splitlines()[0].startswith("10 samples")
    lines = {line.split()[-1]: line.split()[:2] for line in text.splitlines()[3:]}
    assert lines["predict"] == ["60.0", "60.0"]
    assert lines["validate"] == ["30.0", "30.0"]
    assert "handler" not in lines  # never a leaf: no self time
