"""The platform's status at a glance (``mlops monitor status``) and its service-level objectives.

The caller gathers what other rooms know (registered versions, feature freshness) into the
typed rows below; this module reads what the observability room itself keeps (the latest drift
summary, the serving latency from a ``/metrics`` scrape) and judges the objectives:

    feature freshness   newest online value of each served view no older than 1 h
    data quality        latest validation of each dataset passed at least 95 % of its rows
    serving latency     p95 of serving_request_latency_seconds at most 250 ms

Each is ``met``, ``violated`` or ``unknown`` (nothing measured). A value exactly at its
threshold is met, as the alert rules (which fire on ``>`` and ``<``) have it.

The p95 comes from the histogram's cumulative buckets as Prometheus's ``histogram_quantile``
computes it: the bucket holding the rank ``0.95 x count`` is found and the value interpolated
linearly inside it; a rank in the ``+Inf`` bucket gives the highest finite bound. One scrape
holds counters since the process started, so this p95 covers the process's lifetime, not a
recent window (the alert rule's ``rate()`` over 5 minutes does that). Series are summed by
endpoint over every other label (several pods in one text), as the alert rule's
``sum by (endpoint, le)``; the worst endpoint decides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops.config import StrictModel
from mlops.errors import MonitoringError
from observability.quality import QualityPoint

LATENCY_METRIC = "serving_request_latency_seconds"
LATENCY_QUANTILE = 0.95
DRIFT_SUMMARY_FILE = "latest.json"

SloState = Literal["met", "violated", "unknown"]


class SloConfig(StrictModel):
    """The objectives ``mlops monitor status`` checks; defaults match the charts' alert rules."""

    # Age of the newest online value of a served feature view (feature-store alerts.freshness).
    max_feature_age_s: float = Field(default=3600.0, gt=0)
    # Row pass rate of each dataset's latest validation (pipelines alerts.dataQuality.minScore).
    min_data_quality_score: float = Field(default=0.95, ge=0, le=1)
    # p95 of the primary request time (serving alerts.latencyP95.thresholdSeconds).
    max_serving_p95_s: float = Field(default=0.25, gt=0)


class SloResult(BaseModel):
    name: str
    objective: str
    state: SloState
    value: float | None
    detail: str


# --------------------------------------------------------------------------- serving latency
def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram given as ``(upper bound, cumulative count)`` pairs.

    Prometheus's ``histogram_quantile``: buckets sorted by bound, equal bounds merged, counts
    made monotonic; None where Prometheus gives NaN (no ``+Inf`` bucket, fewer than two
    buckets, no observations).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1 (got {q})")
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return None
    bounds = [b for b, _ in ordered]
    counts: list[float] = []
    for _, count in ordered:  # a scrape taken mid-update can be non-monotonic: Prometheus evens it out
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, in_bucket = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        in_bucket -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / in_bucket)


class EndpointLatency(BaseModel):
    endpoint: str
    requests: float
    p95_s: float | None
    # The rank fell in the +Inf bucket: the value is the highest finite bound, a lower limit.
    beyond_buckets: bool = False


class LatencySummary(BaseModel):
    source: str
    endpoints: list[EndpointLatency]

    @property
    def worst(self) -> EndpointLatency | None:
        measured = [e for e in self.endpoints if e.p95_s is not None]
        return max(measured, key=lambda e: e.p95_s or 0.0, default=None)


def serving_latency(text: str, *, source: str = "metrics") -> LatencySummary:
    """The p95 request latency per endpoint from Prometheus text holding
    ``serving_request_latency_seconds`` (see the module docstring). Text that is not Prometheus
    format, or has no such histogram, is a :class:`MonitoringError` naming ``source``."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name != LATENCY_METRIC:
                continue
            for sample in family.samples:
                if sample.name != f"{LATENCY_METRIC}_bucket":
                    continue
                endpoint = sample.labels.get("endpoint", "")
                bound = float(sample.labels["le"])
                per = buckets.setdefault(endpoint, {})
                per[bound] = per.get(bound, 0.0) + sample.value
    except (ValueError, KeyError) as exc:
        raise MonitoringError(f"{source}: not Prometheus text format ({exc})") from None
    if not buckets:
        raise MonitoringError(f"{source}: no {LATENCY_METRIC} histogram (is it the serving process's /metrics?)")
    endpoints = []
    for endpoint, per in sorted(buckets.items()):
        pairs = sorted(per.items())
        p95 = histogram_quantile(LATENCY_QUANTILE, pairs)
        requests = pairs[-1][1] if pairs[-1][0] == math.inf else 0.0
        # The rank lies in the +Inf bucket when the last finite bucket holds too few observations.
        beyond = p95 is not None and pairs[-2][1] < LATENCY_QUANTILE * requests
        endpoints.append(EndpointLatency(endpoint=endpoint, requests=requests, p95_s=p95, beyond_buckets=beyond))
    return LatencySummary(source=source, endpoints=endpoints)


# --------------------------------------------------------------------------- drift
class DriftSnapshot(BaseModel):
    """The latest drift comparison of a model, as ``mlops monitor drift`` summarised it."""

    model_config = ConfigDict(extra="ignore")

    model: str
    version: str = ""
    computed_at: datetime | None = None
    drift_share: float | None = None
    drift_share_threshold: float | None = None
    dataset_drift: bool | None = None
    summary: str = ""


def drift_summary_path(state_dir: Path, model: str) -> Path:
    """``<state>/monitoring/drift/<model>/latest.json``: the newest summary of a model's drift."""
    return state_dir / "monitoring" / "drift" / model / DRIFT_SUMMARY_FILE


def latest_drift(state_dir: Path, model: str) -> DriftSnapshot | None:
    """The model's latest drift summary, or None when there is none; an unreadable one is a
    :class:`MonitoringError` naming the file."""
    path = drift_summary_path(state_dir, model)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        data.setdefault("model", model)
        if data.get("computed_at") == "":
            data["computed_at"] = None
        snapshot = DriftSnapshot.model_validate({**data, "summary": str(path)})
    except (OSError, ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MonitoringError(f"{path}: not a readable drift summary ({first})") from None
    if snapshot.computed_at is None:  # an older summary without the time: the file's
        snapshot.computed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    elif snapshot.computed_at.tzinfo is None:
        snapshot.computed_at = snapshot.computed_at.replace(tzinfo=UTC)
    return snapshot


# --------------------------------------------------------------------------- the status rows
class VersionRef(BaseModel):
    semver: str
    aliases: list[str]
    created: datetime | None
    gates_passed: bool
    run_status: str = ""
    feature_view: str | None = None


class ModelStatus(BaseModel):
    name: str
    versions: int
    latest: VersionRef | None = None
    champion: VersionRef | None = None
    challenger: VersionRef | None = None
    drift: DriftSnapshot | None = None
    drift_error: str = ""
    message: str = ""

    @property
    def served_views(self) -> set[str]:
        return {v.feature_view for v in (self.champion, self.challenger) if v is not None and v.feature_view}


class FeatureViewStatus(BaseModel):
    feature_view: str
    materialized: bool
    basis: str
    age_s: float | None
    newest_value: datetime | None
    materialized_until: datetime | None
    # "<model> <alias>" of each served version that reads this view.
    served_by: list[str] = []
    note: str = ""


class RunSummary(BaseModel):
    run_id: str
    dataset: str
    started: datetime | None
    status: str
    dq_score: float | None = None
    quarantined: int | None = None


class PlatformStatus(BaseModel):
    """Everything ``mlops monitor status`` shows; its ``--json`` is this model."""

    environment: str
    generated_at: datetime
    models: list[ModelStatus]
    models_error: str = ""
    features: list[FeatureViewStatus]
    features_error: str = ""
    last_run: RunSummary | None
    quality: list[QualityPoint]
    latency: LatencySummary | None = None
    slos: list[SloResult]
    gauges: list[str] = []


# --------------------------------------------------------------------------- the objectives
def _hours(seconds: float) -> str:
    if abs(seconds) < 3600:
        return f"{seconds / 60:.0f} min"
    if abs(seconds) < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _freshness_slo(
    config: SloConfig, ages: Mapping[str, float | None], served: Collection[str], error: str
) -> SloResult:
    limit = config.max_feature_age_s
    objective = f"newest online value <= {_hours(limit)} old"
    name = "feature freshness"
    if error:
        return SloResult(name=name, objective=objective, state="unknown", value=None, detail=error)
    # The views the champion/challenger read, when known: a view of an older dataset shape kept
    # for an older version says nothing about what is served now.
    scope = sorted(served) if served else sorted(ages)
    which = "served views" if served else "all views"
    if not scope:
        return SloResult(name=name, objective=objective, state="unknown", value=None, detail="no feature views")
    known = {v: ages[v] for v in scope if ages.get(v) is not None}
    unknown = [v for v in scope if ages.get(v) is None]
    stale = {v: a for v, a in known.items() if a is not None and a > limit}
    oldest = max(known.items(), key=lambda kv: kv[1] or 0.0, default=None)
    value = oldest[1] if oldest else None
    if stale:
        views = ", ".join(f"{v} ({_hours(a)})" for v, a in sorted(stale.items(), key=lambda kv: -kv[1]))
        return SloResult(name=name, objective=objective, state="violated", value=value, detail=f"stale: {views}")
    if unknown or oldest is None:
        missing = ", ".join(f"{v} ({'not in the store' if v not in ages else 'never materialised'})" for v in unknown)
        return SloResult(name=name, objective=objective, state="unknown", value=value, detail=f"no age for {missing}")
    detail = f"{which}: oldest {oldest[0]} at {_hours(oldest[1] or 0.0)}"
    return SloResult(name=name, objective=objective, state="met", value=value, detail=detail)


def _quality_slo(config: SloConfig, scores: Mapping[str, float]) -> SloResult:
    floor = config.min_data_quality_score
    objective = f"row pass rate >= {floor:.0%}"
    name = "data quality"
    if not scores:
        return SloResult(name=name, objective=objective, state="unknown", value=None, detail="no validated runs")
    dataset, worst = min(scores.items(), key=lambda kv: kv[1])
    low = {d: s for d, s in scores.items() if s < floor}
    if low:
        detail = "below: " + ", ".join(f"{d} {s:.2%}" for d, s in sorted(low.items()))
        return SloResult(name=name, objective=objective, state="violated", value=worst, detail=detail)
    return SloResult(name=name, objective=objective, state="met", value=worst, detail=f"lowest: {dataset} {worst:.2%}")


def _latency_slo(config: SloConfig, latency: LatencySummary | None, note: str) -> SloResult:
    limit = config.max_serving_p95_s
    objective = f"p95 request latency <= {limit * 1000:g} ms"
    name = "serving latency"
    if latency is None:
        detail = note or "no serving metrics given (--metrics URL|FILE)"
        return SloResult(name=name, objective=objective, state="unknown", value=None, detail=detail)
    worst = latency.worst
    if worst is None or worst.p95_s is None:
        return SloResult(
            name=name,
            objective=objective,
            state="unknown",
            value=None,
            detail=f"no requests observed in {latency.source}",
        )
    shown = f"{'> ' if worst.beyond_buckets else ''}{worst.p95_s * 1000:.1f} ms"
    detail = f"worst endpoint {worst.endpoint or '(none)'}: {shown} over {worst.requests:,.0f} requests (since start)"
    state: SloState = "violated" if worst.p95_s > limit else "met"
    return SloResult(name=name, objective=objective, state=state, value=worst.p95_s, detail=detail)


def evaluate_slos(
    config: SloConfig,
    *,
    feature_ages: Mapping[str, float | None],
    served_views: Collection[str] = (),
    features_error: str = "",
    quality_scores: Mapping[str, float],
    latency: LatencySummary | None,
    latency_note: str = "",
) -> list[SloResult]:
    """The three objectives, each met, violated or unknown.

    ``feature_ages``: age in seconds of each view's newest online value (None: never
    materialised); ``served_views``: the views the served versions read (empty: judge every
    view); ``quality_scores``: each dataset's latest score; ``latency``: from
    :func:`serving_latency`, or None (``latency_note`` says why).
    """
    return [
        _freshness_slo(config, feature_ages, served_views, features_error),
        _quality_slo(config, quality_scores),
        _latency_slo(config, latency, latency_note),
    ]


__all__ = [
    "DRIFT_SUMMARY_FILE",
    "LATENCY_METRIC",
    "DriftSnapshot",
    "EndpointLatency",
    "FeatureViewStatus",
    "LatencySummary",
    "ModelStatus",
    "PlatformStatus",
    "RunSummary",
    "SloConfig",
    "SloResult",
    "SloState",
    "VersionRef",
    "drift_summary_path",
    "evaluate_slos",
    "histogram_quantile",
    "latest_drift",
    "serving_latency",
]
