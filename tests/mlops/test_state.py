from pathlib import Path

import pytest

from mlops.state import new_run_id, read_steps, record_step


def test_step_records_success_and_figures(tmp_path: Path) -> None:
    with record_step(tmp_path, "train") as rec:
        assert read_steps(tmp_path)["train"].status == "running"
        rec.figures["rows"] = 10
    got = read_steps(tmp_path)["train"]
    assert got.status == "succeeded"
    assert got.figures["rows"] == 10
    assert got.duration_s is not None
    assert got.duration_s >= 0


def test_step_failure_is_recorded_and_reraised(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), record_step(tmp_path, "evaluate"):
        raise RuntimeError("boom")
    got = read_steps(tmp_path)["evaluate"]
    assert got.status == "failed"
    assert "RuntimeError: boom" in got.message


def test_blocked_step_and_report_attachment(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    run_dir = tmp_path / "run"
    with record_step(run_dir, "validate_data") as rec:
        rec.attach(run_dir, "quality.html", report)
        rec.block("2 expectations failed")
    got = read_steps(run_dir)["validate_data"]
    assert got.status == "blocked"
    assert Path(got.reports["quality.html"]).read_text() == "<html></html>"


def test_empty_run_dir_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with record_step("", "ingest") as rec:
        rec.figures["x"] = 1
    assert list(tmp_path.iterdir()) == []


def test_run_ids_sort_by_time_and_differ() -> None:
    a, b = new_run_id(), new_run_id()
    assert a[:15] == b[:15] or a < b
    assert a != b
