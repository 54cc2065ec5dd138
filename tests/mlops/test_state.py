from pathlib import Path

import pytest

from mlops.state import RUN_DIR_ENV, new_run_id, read_steps, record_step


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run folder the local runner gives its step processes (through the environment)."""
    folder = tmp_path / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(folder))
    return folder


def test_step_records_success_and_figures(run_dir: Path) -> None:
    with record_step("train") as rec:
        assert read_steps(run_dir)["train"].status == "running"
        rec.figures["rows"] = 10
    got = read_steps(run_dir)["train"]
    assert got.status == "succeeded"
    assert got.figures["rows"] == 10
    assert got.duration_s is not None
    assert got.duration_s >= 0


def test_step_failure_is_recorded_and_reraised(run_dir: Path) -> None:
    with pytest.raises(RuntimeError), record_step("evaluate"):
        raise RuntimeError("boom")
    got = read_steps(run_dir)["evaluate"]
    assert got.status == "failed"
    assert "RuntimeError: boom" in got.message


def test_blocked_step_and_report_attachment(run_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    with record_step("validate_data") as rec:
        rec.attach("quality.html", report)
        rec.block("2 expectations failed")
    got = read_steps(run_dir)["validate_data"]
    assert got.status == "blocked"
    assert Path(got.reports["quality.html"]).read_text() == "<html></html>"


def test_without_a_run_folder_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster run: no run folder in the environment, the figures go to KFP metrics only."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    logged: dict[str, float] = {}
    with record_step("ingest", metrics=logged.__setitem__) as rec:
        rec.figures.update(rows=12, rate=0.5, passed=True, suite="baseline")
        rec.attach("quality.html", tmp_path / "absent.html")
    assert list(tmp_path.iterdir()) == []
    # Numbers (and verdicts as 0/1) are metrics; text stays in the run record.
    assert logged == {"rows": 12.0, "rate": 0.5, "passed": 1.0}


def test_a_failed_step_logs_no_metrics(run_dir: Path) -> None:
    logged: dict[str, float] = {}

    def failing_step() -> None:
        with record_step("train", metrics=logged.__setitem__) as rec:
            rec.figures["rows"] = 3
            raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        failing_step()
    assert logged == {}
    assert read_steps(run_dir)["train"].status == "failed"


def test_run_ids_sort_by_time_and_differ() -> None:
    a, b = new_run_id(), new_run_id()
    assert a[:15] == b[:15] or a < b
    assert a != b
