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


# --------------------------------------------------------------------------- usage of a step
def _burn_cpu(seconds: float) -> None:
    """Keep this process busy until it has used ``seconds`` of CPU."""
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))


def test_a_busy_step_records_its_cpu_seconds(run_dir: Path) -> None:
    with record_step("train"):
        _burn_cpu(0.3)
    got = read_steps(run_dir)["train"]
    assert got.cpu_seconds is not None
    assert got.wall_seconds is not None
    assert got.cpu_seconds >= 0.2
    assert got.wall_seconds >= got.cpu_seconds * 0.9


def test_cpu_is_the_steps_own_not_what_the_process_did_before(run_dir: Path) -> None:
    """A step process imports and sets up before its step starts: that CPU is not the step's."""
    import time

    _burn_cpu(0.4)
    with record_step("ingest"):
        time.sleep(0.3)  # wall time passes, CPU does not
    got = read_steps(run_dir)["ingest"]
    assert got.cpu_seconds is not None
    assert got.wall_seconds is not None
    assert got.cpu_seconds < 0.15
    assert got.wall_seconds >= 0.3


def test_peak_memory_shows_an_allocation_and_is_reset_for_the_next_step(run_dir: Path) -> None:
    size = 100 * 2**20
    with record_step("build_features"):
        block = b"\x01" * size  # written, so every page is resident
        del block
    with record_step("evaluate"):
        pass
    steps = read_steps(run_dir)
    big, small = steps["build_features"], steps["evaluate"]
    assert big.peak_memory_bytes is not None
    assert small.peak_memory_bytes is not None
    if big.peak_memory_scope == "step":  # Linux: the high-water mark is reset at each step's start
        assert small.peak_memory_scope == "step"
        assert big.peak_memory_bytes - small.peak_memory_bytes >= 0.9 * size
    else:  # no way to reset it: the process's lifetime peak still holds the allocation
        assert big.peak_memory_bytes >= size


def test_a_failed_step_still_records_its_usage(run_dir: Path) -> None:
    def failing_step() -> None:
        with record_step("govern"):
            _burn_cpu(0.1)
            raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        failing_step()
    got = read_steps(run_dir)["govern"]
    assert got.status == "failed"
    assert got.cpu_seconds is not None
    assert got.cpu_seconds >= 0.05


def test_records_written_before_usage_was_measured_still_read(run_dir: Path) -> None:
    import json

    (run_dir / "steps").mkdir(parents=True)
    old = {"name": "train", "status": "succeeded", "started": 1.0, "ended": 5.0, "figures": {}, "reports": {}}
    (run_dir / "steps" / "train.json").write_text(json.dumps(old))
    got = read_steps(run_dir)["train"]
    assert got.duration_s == 4.0
    assert got.cpu_seconds is None
    assert got.peak_memory_bytes is None
