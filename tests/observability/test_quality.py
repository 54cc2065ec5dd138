"""Data quality over time from run folders, and the quality and freshness gauges.

The run folders are written as the pipeline writes them: ``run.json`` through
``mlops.state.write_run_meta`` and ``steps/validate_data.json`` through ``record_step`` in this
process, with the run folder in ``MLOPS_RUN_DIR`` (as the local runner sets it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlops.errors import MonitoringError
from mlops.state import RUN_DIR_ENV, StateLayout, record_step, write_run_meta
from observability.quality import (
    QualityPoint,
    latest_by_dataset,
    quality_history,
    write_freshness_gauges,
    write_quality_gauges,
)


def record_run(
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_id: str,
    dataset: str | None,
    figures: dict[str, Any] | None,
    *,
    blocked: bool = False,
    crash: bool = False,
) -> None:
    """A run folder with its meta and (unless ``figures`` is None) a validate_data record."""
    run_dir = StateLayout(state).run_dir(run_id)
    write_run_meta(run_dir, {"run_id": run_id, **({"dataset": dataset} if dataset else {}), "environment": "dev"})
    monkeypatch.setenv(RUN_DIR_ENV, str(run_dir))
    if crash:
        with pytest.raises(RuntimeError), record_step("validate_data"):
            raise RuntimeError("suite not found")
    elif figures is not None:
        with record_step("validate_data") as rec:
            rec.figures.update(figures)
            if blocked:
                rec.block("row pass rate under the gate")
    else:
        with record_step("ingest") as rec:
            rec.figures["rows"] = 10


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, next(iter(s.labels.values()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Six runs recorded in this order (run ids deliberately not in time order)."""
    folder = tmp_path / "state"
    figures = {"rows": 1000, "gate": 0.95, "expectations": 9, "suite": "baseline"}
    record_run(folder, monkeypatch, "r-5", "credit_risk", {**figures, "row_pass_rate": 0.99, "quarantined": 10})
    record_run(
        folder, monkeypatch, "r-1", "credit_risk", {**figures, "row_pass_rate": 0.9, "quarantined": 100}, blocked=True
    )
    record_run(folder, monkeypatch, "r-3", "loans", {**figures, "rows": 200, "row_pass_rate": 0.975, "quarantined": 5})
    record_run(folder, monkeypatch, "r-2", "loans", None, crash=True)  # validation raised: no score
    record_run(folder, monkeypatch, "r-4", "loans", None)  # stopped before validation
    record_run(folder, monkeypatch, "r-0", None, {**figures, "row_pass_rate": 0.5, "quarantined": 500})  # no dataset
    return folder


def test_history_is_newest_first_with_each_runs_figures(state: Path) -> None:
    history = quality_history(state)
    assert [(p.run_id, p.dataset, p.score, p.quarantined, p.passed) for p in history] == [
        ("r-3", "loans", 0.975, 5, True),
        ("r-1", "credit_risk", 0.9, 100, False),
        ("r-5", "credit_risk", 0.99, 10, True),
    ]
    assert [p.rows for p in history] == [200, 1000, 1000]
    assert all(p.gate == 0.95 for p in history)
    times = [p.measured_at for p in history]
    assert times == sorted(times, reverse=True)
    assert all(t.tzinfo is not None for t in times)


def test_history_by_dataset_and_since(state: Path) -> None:
    assert [p.run_id for p in quality_history(state, dataset="credit_risk")] == ["r-1", "r-5"]
    assert quality_history(state, dataset="nope") == []
    middle = quality_history(state)[1].measured_at
    assert [p.run_id for p in quality_history(state, since=middle)] == ["r-3", "r-1"]
    assert [p.run_id for p in quality_history(state, dataset="loans", since=middle)] == ["r-3"]


def test_since_must_be_timezone_aware(state: Path) -> None:
    with pytest.raises(MonitoringError, match="timezone-aware"):
        quality_history(state, since=datetime(2025, 1, 1))


def test_latest_by_dataset_takes_the_newest_run(state: Path) -> None:
    latest = latest_by_dataset(quality_history(state))
    assert {d: p.run_id for d, p in latest.items()} == {"credit_risk": "r-1", "loans": "r-3"}


def test_quality_gauges_hold_the_latest_run_of_each_dataset(state: Path) -> None:
    path = write_quality_gauges(quality_history(state), state)
    assert path == state / "metrics" / "data_quality.prom"
    assert samples(path.read_text()) == {
        ("mlops_data_quality_score", "credit_risk"): 0.9,
        ("mlops_data_quality_score", "loans"): 0.975,
        ("mlops_rows_quarantined", "credit_risk"): 100.0,
        ("mlops_rows_quarantined", "loans"): 5.0,
    }


def test_without_runs_the_history_and_the_gauges_are_empty(tmp_path: Path) -> None:
    assert quality_history(tmp_path) == []
    path = write_quality_gauges([], tmp_path)
    assert samples(path.read_text()) == {}
    assert "# TYPE mlops_data_quality_score gauge" in path.read_text()


def test_freshness_gauges_skip_views_without_an_age(tmp_path: Path) -> None:
    path = write_freshness_gauges({"orders_features_1": 600.0, "refunds_features_2": None}, tmp_path)
    assert path == tmp_path / "metrics" / "feature_freshness.prom"
    assert samples(path.read_text()) == {("mlops_feature_freshness_seconds", "orders_features_1"): 600.0}


def test_a_point_is_json_ready(state: Path) -> None:
    point: QualityPoint = quality_history(state)[0]
    data = point.to_dict()
    assert data["run_id"] == "r-3"
    assert datetime.fromisoformat(data["measured_at"]) == point.measured_at
