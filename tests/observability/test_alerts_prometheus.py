"""A real Prometheus scraping a real ``mlops serve``, with the charts' alert rules loaded.

The serving process is ``mlops serve`` on the registry and Feast store of
tests/serving/test_online_server.py's ``platform`` fixture (champion 1.0.0, challenger 1.1.0 in
shadow). The observability gauges are written with :func:`observability.metrics.write_textfile`
and served as a static file, as a text-file collector would expose them. Prometheus scrapes both
every second with the labels the Prometheus Operator gives the ServiceMonitor's targets
(namespace, service, endpoint) and the ServiceMonitor's own relabelings, and evaluates the dev
render of the alert rules every second.

Then: the request histogram and error counter appear with the app's ``endpoint`` label intact,
every rule evaluates without error, the alerts whose gauges are bad go pending while the serving
error alert stays quiet (the errors sent are 422s), and every dashboard panel's query returns
data. Every process started here is stopped at the end of the module.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from performance.servers import HOST, free_port, http_ok, running
from tests.observability.test_alerts import ALERTS, ROOT, prometheus_binary, render, rules_file
from tests.observability.test_alerts_dashboard import load_dashboard, query_panels, substitute
from tests.serving import test_online_server as online

# The registry and Feast store `mlops serve` serves from (a module fixture of that test file).
platform = online.platform

NAMESPACE = "mlops-dev"
SERVICE = "serving-champion"
WAIT_S = 45.0
GAUGES_FILE = "alerts-test"
# Observability gauges, each bad enough for its alert (dev thresholds).
BAD_GAUGES: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {
    "mlops_drift_share": ("share of drifted feature columns", [({"model": "credit_risk", "version": "1.0.0"}, 0.6)]),
    "mlops_feature_drift_score": (
        "per-feature drift score",
        [({"model": "credit_risk", "version": "1.0.0", "feature": "income"}, 0.01)],
    ),
    "mlops_feature_freshness_seconds": ("age of the newest value", [({"feature_view": "credit_risk_features"}, 7200)]),
    "mlops_data_quality_score": ("row pass rate", [({"dataset": "credit_risk"}, 0.9)]),
    "mlops_rows_quarantined": ("rows quarantined", [({"dataset": "credit_risk"}, 12)]),
    "mlops_cost_month_to_date_usd": ("spend this month", [({"environment": "dev"}, 450)]),
    "mlops_cost_budget_usd": ("monthly budget", [({"environment": "dev"}, 500)]),
}
PENDING = {"ModelDriftShareHigh", "FeatureFreshnessStale", "DataQualityScoreLow", "CostBudgetBurnHigh"}
GOOD_REQUESTS = 12
BAD_REQUESTS = 5

T = TypeVar("T")


@dataclass
class Stack:
    serving: str
    prometheus: str
    sent: dict[str, int]


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            found = check()
        except AssertionError as exc:  # a check's own message: keep it for the failure
            found, last = None, exc
        if found is not None:
            return found
        time.sleep(0.5)
    pytest.fail(f"after {timeout_s:g} s: {what}" + (f" ({last})" if last else ""))


def api(prometheus: str, path: str, **params: str) -> Any:
    """Prometheus' HTTP API: the ``data`` of a success, AssertionError with its error otherwise."""
    response = httpx.get(f"{prometheus}/api/v1/{path}", params=params, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
    return body["data"]


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    data = api(prometheus, "query", query=expr)
    result: list[dict[str, Any]] = data["result"]
    return result


def servicemonitor_relabelings() -> list[dict[str, Any]]:
    """The serving ServiceMonitor's relabelings as Prometheus relabel_configs (the operator's translation)."""
    monitor = next(d for d in render("serving", "dev") if d["kind"] == "ServiceMonitor")
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return [
        {keys.get(k, k): v.lower() if k == "action" else v for k, v in relabel.items()}
        for endpoint in monitor["spec"]["endpoints"]
        for relabel in endpoint.get("relabelings", [])
    ]


def write_gauges(state_dir: Path) -> Path:
    from prometheus_client import CollectorRegistry, Gauge

    from observability.metrics import write_textfile

    registry = CollectorRegistry()
    for name, (help_text, samples) in BAD_GAUGES.items():
        gauge = Gauge(name, help_text, sorted(samples[0][0]), registry=registry)
        for labels, value in samples:
            gauge.labels(**labels).set(value)
    return write_textfile(registry, state_dir, GAUGES_FILE)


def send_traffic(url: str) -> dict[str, int]:
    sent = {"ok": 0, "invalid": 0}
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(GOOD_REQUESTS):
            response = client.post("/predict", json={"entity_id": f"APP-{i + 1:07d}"})
            assert response.status_code == 200, response.text
            sent["ok"] += 1
        rows = [{"entity_id": "APP-0000100"}, {"entity_id": "APP-0000101"}]
        batch = client.post("/predict/batch", json={"rows": rows})
        assert batch.status_code == 200, batch.text
        sent["ok"] += 1
        for _ in range(BAD_REQUESTS):
            response = client.post("/predict", json={"entity_id": "APP-0000005", "credit_score": "very high"})
            assert response.status_code == 422, response.text
            sent["invalid"] += 1
    return sent


@pytest.fixture(scope="module")
def stack(platform: online.Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus")
    # `mlops serve` reads config/ from its working folder; state_dir (.mlops) is the fixture's.
    project = platform.config.state_dir.parent
    assert platform.config.state_dir.name == ".mlops"
    shutil.copytree(ROOT / "config", project / "config", dirs_exist_ok=True)
    gauges = write_gauges(platform.config.state_dir)
    serving_port, files_port, prometheus_port = free_port(), free_port(), free_port()
    serving = f"http://{HOST}:{serving_port}"
    files = f"http://{HOST}:{files_port}"
    prometheus = f"http://{HOST}:{prometheus_port}"
    rules_file(work, "dev")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {
                "job_name": "serving",
                "static_configs": [
                    {
                        "targets": [f"{HOST}:{serving_port}"],
                        # What the operator sets on a ServiceMonitor's target (endpoint = port name).
                        "labels": {"namespace": NAMESPACE, "service": SERVICE, "endpoint": "http"},
                    }
                ],
                "relabel_configs": servicemonitor_relabelings(),
            },
            {
                "job_name": "observability",
                "metrics_path": f"/{gauges.name}",
                "static_configs": [{"targets": [f"{HOST}:{files_port}"]}],
            },
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    serve = [sys.executable, "-m", "mlops_cli", "serve", "--model", online.NAME, "--port", str(serving_port),
             "--config-dir", "config", "--env", "dev"]  # fmt: skip
    file_server = [sys.executable, "-m", "http.server", str(files_port), "--bind", HOST,
                   "--directory", str(gauges.parent)]  # fmt: skip
    prometheus_cmd = [
        prometheus_binary("prometheus"),
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address={HOST}:{prometheus_port}",
    ]
    with ExitStack() as stack:
        stack.enter_context(
            running(serve, http_ok(f"{serving}/readyz"), work / "serve.log", name="mlops serve", cwd=project,
                    timeout_s=120, grace_s=15)
        )  # fmt: skip
        stack.enter_context(
            running(file_server, http_ok(f"{files}/{gauges.name}"), work / "files.log", name="the file server")
        )
        stack.enter_context(
            running(prometheus_cmd, http_ok(f"{prometheus}/-/ready"), work / "prometheus.log", name="Prometheus",
                    cwd=work, timeout_s=30)
        )  # fmt: skip
        sent = send_traffic(serving)
        yield Stack(serving, prometheus, sent)


def test_prometheus_scrapes_request_latency_and_errors(stack: Stack) -> None:
    def latency() -> list[dict[str, Any]] | None:
        return query(stack.prometheus, "serving_request_latency_seconds_bucket") or None

    buckets = wait_for(latency, "no serving_request_latency_seconds_bucket series in Prometheus")
    labels = [series["metric"] for series in buckets]
    # The ServiceMonitor's labeldrop keeps the route in `endpoint` (not exported_endpoint).
    assert {m.get("endpoint") for m in labels} == {"/predict", "/predict/batch"}, labels[:3]
    assert not any("exported_endpoint" in m for m in labels)
    assert {(m["namespace"], m["service"]) for m in labels} == {(NAMESPACE, SERVICE)}

    def invalid() -> list[dict[str, Any]] | None:
        found = query(stack.prometheus, 'sum(serving_errors_total{kind="validation"})')
        return found if found and float(found[0]["value"][1]) >= stack.sent["invalid"] else None

    errors = wait_for(invalid, f"serving_errors_total{{kind='validation'}} never reached {stack.sent['invalid']}")
    assert float(errors[0]["value"][1]) == stack.sent["invalid"]
    served = query(stack.prometheus, 'sum(serving_request_latency_seconds_count{endpoint="/predict"})')
    assert float(served[0]["value"][1]) == GOOD_REQUESTS


def test_the_chart_rules_evaluate_on_live_series(stack: Stack) -> None:
    expected = set().union(*ALERTS.values())

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in api(stack.prometheus, "rules")["groups"] for r in g["rules"]]
        assert {r["name"] for r in rules} == expected, sorted(r["name"] for r in rules)
        waiting = [r for r in rules if r["lastEvaluation"].startswith("0001-")]
        return None if waiting else rules

    rules = wait_for(evaluated, "the alert rules were not all evaluated")
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken

    def pending() -> set[str] | None:
        names = {a["labels"]["alertname"] for a in api(stack.prometheus, "alerts")["alerts"]}
        return names if names >= PENDING else None

    active = wait_for(pending, f"alerts {sorted(PENDING)} did not all go pending")
    # Only 422s were sent: client errors never count as server errors.
    assert "ServingErrorRateHigh" not in active


def test_every_dashboard_panel_returns_live_data(stack: Stack) -> None:
    # The query API reports a PromQL syntax error as an error, which query() turns into a failure.
    with pytest.raises(AssertionError, match="bad_data"):
        query(stack.prometheus, "sum(serving_errors_total")
    panels = query_panels(load_dashboard())
    variables = {"namespace": NAMESPACE, "model": ".*", "environment": ".*", "__rate_interval": "1m"}

    def every_panel_has_data() -> bool:
        empty = [
            panel["title"]
            for panel in panels
            if not any(query(stack.prometheus, substitute(t["expr"], variables)) for t in panel["targets"])
        ]
        assert not empty, f"no data in {empty}"
        return True

    wait_for(every_panel_has_data, "dashboard panels without data")
