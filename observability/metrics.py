"""The gauges the observability commands publish, and how they reach Prometheus.

Commands such as ``mlops monitor drift`` run, measure and exit, so their figures cannot be
scraped from the process itself. Each writes its gauges to a text file under
``<state>/metrics/`` (node-exporter's textfile format: what a sidecar or the serving process
exposes for scraping) and, only when asked, pushes them to a Pushgateway. Writing the file
never depends on Prometheus; a push that was asked for and fails raises (the caller names the
gateway in its error).

Metric names (the alert rules and dashboards depend on them; change both together):

``mlops_drift_share{model,version}``                 share of drifted feature columns (0-1)
``mlops_feature_drift_score{model,version,feature}``  per-feature test statistic / p-value
``mlops_prediction_drift_score{model,version}``       drift score of the model's output
``mlops_feature_freshness_seconds{feature_view}``     age of the newest materialised value
``mlops_data_quality_score{dataset}``                 row pass rate of the latest run (0-1)
``mlops_rows_quarantined{dataset}``                   rows quarantined by the latest run
``mlops_cost_month_to_date_usd{environment}``         measured spend this month
``mlops_cost_budget_usd{environment}``                the monthly budget
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile


def metrics_dir(state_dir: Path) -> Path:
    return state_dir / "metrics"


def write_textfile(registry: CollectorRegistry, state_dir: Path, name: str) -> Path:
    """Write ``registry`` atomically to ``<state>/metrics/<name>.prom``; return the path."""
    folder = metrics_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.prom"
    # write_to_textfile already renames a temp file into place; the temp file must be on the
    # same filesystem, which it is (same folder).
    write_to_textfile(str(target), registry)
    return target


def push(registry: CollectorRegistry, gateway: str, job: str, *, timeout_s: float = 5.0) -> None:
    """Push ``registry`` to a Pushgateway (replacing the job's previous group). Raises OSError."""
    push_to_gateway(gateway, job=job, registry=registry, timeout=timeout_s)


def read_textfiles(state_dir: Path) -> str:
    """Every ``*.prom`` file under ``<state>/metrics/``, concatenated (what a scrape returns)."""
    folder = metrics_dir(state_dir)
    if not folder.is_dir():
        return ""
    return "".join(p.read_text() for p in sorted(folder.glob("*.prom")))


__all__ = ["metrics_dir", "push", "read_textfiles", "write_textfile"]
