"""``monitoring-labels`` in ``make validate-infra``: every ServiceMonitor, PrometheusRule and Probe the
charts render carries the label the Prometheus operator's selectors match, the same in every
chart of an environment.

The tests render copies of the repository's own charts (with the Argo CD manifests that name their
releases): clean, then with one chart's labels emptied or changed in its values.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.infrastructure.validator import failures, run_checks

ROOT = Path(__file__).resolve().parents[2]
SELECTOR = "release: kube-prometheus-stack"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for relative in ("infrastructure/helm", "infrastructure/argocd"):
        shutil.copytree(ROOT / relative, root / relative, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    return root


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r} is not there exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def run(repo: Path) -> tuple[int, list[str], dict[str, int]]:
    code, report = run_checks(repo, "monitoring-labels")
    return code, failures(report, "monitoring-labels").splitlines(), report["checks"]["monitoring-labels"]["counts"]


def test_the_charts_label_every_monitoring_object_for_kube_prometheus_stack(repo: Path) -> None:
    code, found, counts = run(repo)
    assert code == 0, "\n".join(found)
    assert counts["objects"] >= 12
    rendered = yaml.safe_load_all((repo / "build/infra/rendered/serving/prod.yaml").read_text(encoding="utf-8"))
    monitors = [d for d in rendered if d and d["kind"] in {"ServiceMonitor", "PrometheusRule"}]
    assert {d["kind"] for d in monitors} == {"ServiceMonitor", "PrometheusRule"}
    assert all(d["metadata"]["labels"]["release"] == "kube-prometheus-stack" for d in monitors)


def test_a_service_monitor_without_the_selector_labels_fails(repo: Path) -> None:
    replace_once(repo / "infrastructure/helm/serving/values.yaml", f"    labels: {{{SELECTOR}}}\n", "    labels: {}\n")
    code, found, _ = run(repo)
    assert code == 1
    assert len(found) == 3, found  # one per environment
    assert found[0] == (
        "infrastructure/helm/serving/templates/servicemonitor.yaml with infrastructure/helm/serving/values-dev.yaml:"
        " ServiceMonitor serving carries no label for the Prometheus operator's selector"
        " (set metrics.serviceMonitor.labels, e.g. {release: kube-prometheus-stack}): Prometheus would ignore it"
    )


CHART = "infrastructure/helm/feature-store"


def test_a_prometheus_rule_without_the_selector_labels_fails(repo: Path) -> None:
    replace_once(
        repo / "infrastructure/helm/feature-store/values.yaml", f"  ruleLabels: {{{SELECTOR}}}\n", "  ruleLabels: {}\n"
    )
    code, found, _ = run(repo)
    assert code == 1
    assert {line.split(":", 1)[0] for line in found} == {
        f"{CHART}/templates/prometheusrule.yaml with {CHART}/values-{env}.yaml" for env in ("dev", "staging", "prod")
    }
    assert all(
        "PrometheusRule feature-store carries no label" in line and "alerts.ruleLabels" in line for line in found
    )


def test_one_chart_labelled_for_another_prometheus_fails(repo: Path) -> None:
    replace_once(
        repo / "infrastructure/helm/pipelines/values.yaml",
        f"  ruleLabels: {{{SELECTOR}}}\n",
        "  ruleLabels: {release: prometheus}\n",
    )
    code, found, _ = run(repo)
    assert code == 1
    assert len(found) == 3, found
    assert found[0].startswith("environment dev: monitoring objects carry different selector labels")
    assert "{'release': 'prometheus'} on pipelines: PrometheusRule pipelines" in found[0]
