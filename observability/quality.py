"""Data quality over time, and the freshness and quality gauges.

Each training run's ``validate_data`` step records its figures under
``<state>/runs/<run_id>/steps/validate_data.json``: ``row_pass_rate`` (the data-quality score:
the share of rows that passed every row-level expectation), ``quarantined`` and ``rows``. The
run's meta (``run.json``) names the dataset. :func:`quality_history` reads them back, newest
first; :func:`write_quality_gauges` publishes the latest run of each dataset as
``mlops_data_quality_score{dataset}`` and ``mlops_rows_quarantined{dataset}``.

:func:`write_freshness_gauges` publishes ``mlops_feature_freshness_seconds{feature_view}`` from
ages the caller measured (the feature store room measures them; this room never reads Feast).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from mlops.errors import MonitoringError
from mlops.state import StateLayout, StepRecord, read_run_meta, read_steps
from observability.metrics import write_textfile

VALIDATE_STEP = "validate_data"
QUALITY_GAUGES_FILE = "data_quality"
FRESHNESS_GAUGES_FILE = "feature_freshness"


@dataclass(frozen=True)
class QualityPoint:
    """One run's data-quality figures (``passed``: the step's gate let the rows through)."""

    run_id: str
    dataset: str
    measured_at: datetime
    score: float
    rows: int | None
    quarantined: int | None
    gate: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dataset": self.dataset,
            "measured_at": self.measured_at.isoformat(),
            "score": self.score,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "gate": self.gate,
            "passed": self.passed,
        }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _point(run_dir: Path, rec: StepRecord, meta: dict[str, Any]) -> QualityPoint | None:
    """The point of a run whose validation measured a score and whose meta names its dataset."""
    score = _number(rec.figures.get("row_pass_rate"))
    dataset = meta.get("dataset")
    if score is None or not isinstance(dataset, str) or not dataset:
        return None
    rows, quarantined = _number(rec.figures.get("rows")), _number(rec.figures.get("quarantined"))
    return QualityPoint(
        run_id=run_dir.name,
        dataset=dataset,
        measured_at=datetime.fromtimestamp(rec.ended if rec.ended is not None else rec.started, UTC),
        score=score,
        rows=None if rows is None else int(rows),
        quarantined=None if quarantined is None else int(quarantined),
        gate=_number(rec.figures.get("gate")),
        passed=rec.status == "succeeded",
    )


def quality_history(
    state_dir: Path, *, dataset: str | None = None, since: datetime | None = None
) -> list[QualityPoint]:
    """Every run's data-quality score and quarantined rows, newest first.

    Only runs whose ``validate_data`` step measured a score are included (a run stopped before
    or during validation has none), and only runs whose meta names their dataset. ``dataset``
    keeps one dataset; ``since`` (timezone-aware) keeps validations that ended at or after it.
    """
    if since is not None and since.tzinfo is None:
        raise MonitoringError(f"since must be timezone-aware (got {since.isoformat()})")
    runs = StateLayout(state_dir).runs
    if not runs.is_dir():
        return []
    points: list[QualityPoint] = []
    for run_dir in runs.iterdir():
        if not run_dir.is_dir():
            continue
        rec = read_steps(run_dir).get(VALIDATE_STEP)
        if rec is None:
            continue
        point = _point(run_dir, rec, read_run_meta(run_dir))
        if point is None or (dataset is not None and point.dataset != dataset):
            continue
        if since is not None and point.measured_at < since:
            continue
        points.append(point)
    return sorted(points, key=lambda p: (p.measured_at, p.run_id), reverse=True)


def latest_by_dataset(points: Iterable[QualityPoint]) -> dict[str, QualityPoint]:
    """The newest point of each dataset, by dataset name."""
    latest: dict[str, QualityPoint] = {}
    for point in points:
        known = latest.get(point.dataset)
        if known is None or (point.measured_at, point.run_id) > (known.measured_at, known.run_id):
            latest[point.dataset] = point
    return dict(sorted(latest.items()))


def quality_gauges(points: Iterable[QualityPoint]) -> CollectorRegistry:
    """The data-quality gauges of the latest run of each dataset, in a registry of their own."""
    registry = CollectorRegistry()
    score = Gauge("mlops_data_quality_score", "Row pass rate of the latest run (0-1)", ["dataset"], registry=registry)
    quarantined = Gauge("mlops_rows_quarantined", "Rows quarantined by the latest run", ["dataset"], registry=registry)
    for name, point in latest_by_dataset(points).items():
        score.labels(dataset=name).set(point.score)
        if point.quarantined is not None:
            quarantined.labels(dataset=name).set(point.quarantined)
    return registry


def write_quality_gauges(points: Iterable[QualityPoint], state_dir: Path) -> Path:
    """Write :func:`quality_gauges` to ``<state>/metrics/data_quality.prom``; return the path.

    The file is replaced whole, so it always holds the latest run of each dataset given.
    """
    return write_textfile(quality_gauges(points), state_dir, QUALITY_GAUGES_FILE)


def freshness_gauges(ages_s: Mapping[str, float | None]) -> CollectorRegistry:
    """``mlops_feature_freshness_seconds{feature_view}`` for each view with a measured age.

    A view without one (never materialised) gets no sample: an absent series, not a made-up age.
    """
    registry = CollectorRegistry()
    gauge = Gauge(
        "mlops_feature_freshness_seconds",
        "Age of the newest materialised value of a feature view",
        ["feature_view"],
        registry=registry,
    )
    for view, age in sorted(ages_s.items()):
        if age is not None:
            gauge.labels(feature_view=view).set(age)
    return registry


def write_freshness_gauges(ages_s: Mapping[str, float | None], state_dir: Path) -> Path:
    """Write :func:`freshness_gauges` to ``<state>/metrics/feature_freshness.prom``; return the path."""
    return write_textfile(freshness_gauges(ages_s), state_dir, FRESHNESS_GAUGES_FILE)


__all__ = [
    "FRESHNESS_GAUGES_FILE",
    "QUALITY_GAUGES_FILE",
    "QualityPoint",
    "freshness_gauges",
    "latest_by_dataset",
    "quality_gauges",
    "quality_history",
    "write_freshness_gauges",
    "write_quality_gauges",
]
