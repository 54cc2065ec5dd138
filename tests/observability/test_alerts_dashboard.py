"""The Grafana dashboard the pipelines chart ships (files/dashboards/mlops-platform.json in a
ConfigMap for Grafana's dashboard sidecar).

No Grafana server or dashboard JSON schema is available offline, so this checks what Grafana
needs to load the dashboard (uid, title, schemaVersion, panels with unique ids and a place on
the grid, a Prometheus data source, targets), that every metric a panel queries is one the
platform exports, and parses every panel's PromQL with the real Prometheus parser (``promtool
check rules`` on the expressions as recording rules, Grafana's variables filled in as Grafana
fills them). tests/observability/test_alerts_prometheus.py runs the same expressions against a
live Prometheus scraping ``mlops serve``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS
from tests.observability.test_alerts import HELM_DIR, chart_values, promtool, render, write_rules_file

DASHBOARD_FILE = HELM_DIR / "pipelines" / "files" / "dashboards" / "mlops-platform.json"
SIDECAR_LABEL = ("grafana_dashboard", "1")
PANEL_TYPES = {"timeseries", "table", "gauge", "stat"}
GRID_COLUMNS = 24
# Variables Grafana defines itself.
GRAFANA_GLOBALS = {"__rate_interval", "__interval", "__range"}
# What Grafana puts in place of each variable when the dashboard queries (one namespace, all
# models and environments, $__rate_interval at a 15 s scrape).
SUBSTITUTES = {"namespace": "mlops-dev", "model": ".*", "environment": ".*", "__rate_interval": "1m"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_METRIC = re.compile(r"\b((?:serving|mlops)_[a-z_]+)\b")
# Each area the dashboard must cover, by the metric its panel reads.
REQUIRED_METRICS = {
    "p95 latency": "serving_request_latency_seconds_bucket",
    "error rate": "serving_errors_total",
    "rows per second": "serving_predictions_total",
    "shadow drops": "serving_shadow_dropped_total",
    "shadow rows shed while the server is busy": "serving_shadow_shed_total",
    "drift share": "mlops_drift_share",
    "per-feature drift": "mlops_feature_drift_score",
    "feature freshness": "mlops_feature_freshness_seconds",
    "month-to-date spend": "mlops_cost_month_to_date_usd",
    "budget": "mlops_cost_budget_usd",
}


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana's ``$var`` / ``${var}`` replaced; an unknown variable is a KeyError."""
    chosen = values or SUBSTITUTES
    return _VARIABLE.sub(lambda m: chosen[m.group(1) or m.group(2)], expr)


def exported_metrics() -> set[str]:
    """The series names the serving app and the observability gauges expose."""
    import observability.metrics
    from serving.metrics import ServingMetrics

    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names = {
        family.name + suffix
        for family in ServingMetrics().registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    # observability/metrics.py documents its gauges (the contract with these dashboards).
    names |= set(re.findall(r"``(mlops_[a-z_]+)\{", observability.metrics.__doc__ or ""))
    return names


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_chart_ships_the_dashboard_to_the_grafana_sidecar(env: str) -> None:
    maps = [d for d in render("pipelines", env) if d["kind"] == "ConfigMap"]
    dashboards = [m for m in maps if m["metadata"]["labels"].get(SIDECAR_LABEL[0]) == SIDECAR_LABEL[1]]
    assert len(dashboards) == 1, f"pipelines/{env}: {len(dashboards)} ConfigMaps for the Grafana sidecar"
    data = dashboards[0]["data"]
    assert json.loads(data[DASHBOARD_FILE.name]) == load_dashboard()
    # The sidecar's ConfigMaps live beside the workloads; a ConfigMap over 1 MiB is refused.
    assert len(data[DASHBOARD_FILE.name].encode()) < 1024 * 1024


def test_grafana_can_load_it(dashboard: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"]), dashboard["uid"]
    assert dashboard["title"].strip()
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 36
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) and i > 0 for i in ids), ids
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert min(grid["w"], grid["h"]) >= 1, panel["title"]
        assert min(grid["x"], grid["y"]) >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, f"{panel['title']} runs off the {GRID_COLUMNS}-column grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_panel_queries_the_chosen_prometheus(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert len(variables) == len(dashboard["templating"]["list"]), "variable names repeat"
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    chosen = {"type": "prometheus", "uid": "${datasource}"}
    for panel in query_panels(dashboard):
        title = panel["title"]
        assert panel["type"] in PANEL_TYPES, title
        assert panel["datasource"] == chosen, title
        targets = panel["targets"]
        assert targets, f"{title} has no query"
        assert len({t["refId"] for t in targets}) == len(targets), f"{title}: refIds repeat"
        for target in targets:
            assert target["datasource"] == chosen, title
            assert target["expr"].strip(), title
            used = {a or b for a, b in _VARIABLE.findall(target["expr"])}
            assert used <= set(variables) | GRAFANA_GLOBALS, f"{title}: undefined {sorted(used - set(variables))}"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == chosen, variable["name"]


def test_panels_read_metrics_the_platform_exports(dashboard: dict[str, Any]) -> None:
    exported = exported_metrics()
    used: set[str] = set()
    for panel in query_panels(dashboard):
        for target in panel["targets"]:
            names = set(_METRIC.findall(target["expr"]))
            assert names, f"{panel['title']}: no platform metric in {target['expr']}"
            assert names <= exported, f"{panel['title']}: {sorted(names - exported)} is not exported"
            used |= names
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]["query"])
            assert match, variable["name"]
            assert match.group(1) in exported, variable["name"]
    missing = {area: metric for area, metric in REQUIRED_METRICS.items() if metric not in used}
    assert not missing, f"no panel for {missing}"


def test_promtool_parses_every_panel_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel_{panel['id']}_{target['refId']}", "expr": substitute(target["expr"])}
        for panel in query_panels(dashboard)
        for target in panel["targets"]
    ]
    write_rules_file(tmp_path / "rules.yaml", [{"name": "dashboard", "rules": rules}])
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_threshold_lines_sit_at_the_alert_thresholds(dashboard: dict[str, Any]) -> None:
    """A panel's threshold line (where its colour turns) is where its alert fires (default values)."""
    alerts = {chart: chart_values(chart, "dev")["alerts"] for chart in ("serving", "feature-store", "pipelines")}
    expected = {
        "p95 request latency by endpoint": alerts["serving"]["latencyP95"]["thresholdSeconds"],
        "Server error rate": alerts["serving"]["errorRate"]["threshold"],
        "Drift share by model version": alerts["pipelines"]["drift"]["shareThreshold"],
        "Feature freshness": alerts["feature-store"]["freshness"]["thresholdSeconds"],
        "Data quality score": alerts["pipelines"]["dataQuality"]["minScore"],
    }
    panels = {p["title"]: p for p in query_panels(dashboard)}
    for title, threshold in expected.items():
        steps = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        lines = [s["value"] for s in steps[1:]]  # the first step is the base colour
        assert lines == [threshold], f"{title}: threshold line at {lines}, alert at {threshold}"
        assert steps[0]["color"] != steps[1]["color"], title
