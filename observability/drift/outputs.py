"""What a drift comparison leaves behind: Evidently's HTML reports, ``drift.json``, and the gauges.

    <out>/drift.html         Evidently's report (features, prediction), self-contained
    <out>/performance.html   target drift and classification quality (only with labels)
    <out>/drift.json         the summary (:meth:`DriftResult.to_dict` plus the reference's folder)
    <state>/metrics/drift_<model>.prom   the gauges, always written (observability.metrics)

One gauge file per model: it holds the latest comparison of that model, whichever version was
compared, so a retired version's figures do not linger for the alert rules. Pushing to a
Pushgateway happens only when asked, after the file is written, under the job
``mlops_drift_<model>`` (a push replaces its job's group, so each model has its own).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from mlops.errors import MonitoringError
from observability.drift.detect import DriftResult
from observability.metrics import push, write_textfile

HTML_FILE = "drift.html"
PERFORMANCE_HTML_FILE = "performance.html"
SUMMARY_FILE = "drift.json"
JOB_PREFIX = "mlops_drift_"


@dataclass(frozen=True)
class DriftOutputs:
    """Where a comparison's outputs were written (and pushed)."""

    html: Path
    summary: Path
    metrics: Path
    performance_html: Path | None = None
    pushed_to: str | None = None


def _safe(name: str) -> str:
    """A model name as part of a file or job name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def drift_gauges(result: DriftResult) -> CollectorRegistry:
    """The drift gauges of ``result`` in a registry of their own (names: observability.metrics)."""
    registry = CollectorRegistry()
    labels = {"model": result.model, "version": result.version}
    share = Gauge(
        "mlops_drift_share", "Share of drifted feature columns (0-1)", ["model", "version"], registry=registry
    )
    share.labels(**labels).set(result.drift_share)
    feature = Gauge(
        "mlops_feature_drift_score",
        "Per-feature drift score (Evidently: p-value for K-S/chi-square/Z, distance for Wasserstein/Jensen-Shannon)",
        ["model", "version", "feature"],
        registry=registry,
    )
    for column, drift in result.features.items():
        if drift.score is not None:
            feature.labels(**labels, feature=column).set(drift.score)
    if result.prediction is not None and result.prediction.score is not None:
        prediction = Gauge(
            "mlops_prediction_drift_score", "Drift score of the model's output", ["model", "version"], registry=registry
        )
        prediction.labels(**labels).set(result.prediction.score)
    return registry


def write_drift_outputs(
    result: DriftResult, out_dir: Path, *, state_dir: Path, pushgateway: str | None = None
) -> DriftOutputs:
    """Write the HTML report(s), ``drift.json`` and the gauge file; push the gauges when a
    Pushgateway URL is given. A failed push raises :class:`~mlops.errors.MonitoringError`
    naming the gateway, after everything else was written."""
    if not result.model or not result.version:
        raise MonitoringError(
            "the drift result names no model version (load the reference with load_model_reference) "
            "so its gauges could not be labelled"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / HTML_FILE
    if result.snapshot is None:
        raise MonitoringError("the drift result carries no Evidently report to write as HTML")
    result.snapshot.save_html(str(html))
    performance_html = None
    if result.performance_snapshot is not None:
        performance_html = out_dir / PERFORMANCE_HTML_FILE
        result.performance_snapshot.save_html(str(performance_html))

    summary = out_dir / SUMMARY_FILE
    payload = result.to_dict() | {"reports": {"html": str(html), "performance_html": str(performance_html or "")}}
    tmp = summary.with_name(f".{summary.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, summary)

    registry = drift_gauges(result)
    metrics_path = write_textfile(registry, Path(state_dir), f"drift_{_safe(result.model)}")
    if pushgateway:
        try:
            push(registry, pushgateway, JOB_PREFIX + _safe(result.model))
        except (OSError, ValueError) as exc:
            raise MonitoringError(
                f"pushing the drift gauges to the Pushgateway {pushgateway} failed ({exc}); "
                f"they were written to {metrics_path}"
            ) from None
    return DriftOutputs(
        html=html,
        summary=summary,
        metrics=metrics_path,
        performance_html=performance_html,
        pushed_to=pushgateway or None,
    )


__all__ = ["DriftOutputs", "drift_gauges", "write_drift_outputs"]
