"""The backups chart's alerts and blackbox Probes, beyond what test_alerts.py checks for every chart.

The alerts lead SREs to the disaster-recovery playbooks (backup/playbooks/*.md): each links the
page of its area, BackupJobFailed the page of the CronJob that failed. The job alerts select the
CronJobs the chart renders, the availability alerts the series of the Probes it renders
(job="probe/<namespace>/<Probe name>", the Prometheus Operator's scrape job), and the Probes pass
the operator's Probe CRD schema (infrastructure/validation/crds/monitoring.coreos.com_probe.json),
through the same check ``make validate-infra`` runs. promtool's unit tests of the rules are
alert_tests/backups*.yaml.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from infrastructure.validation import render_chart
from infrastructure.validation.checks.kubernetes_schema import CrdSchemas, kubernetes_version, validate_manifests
from infrastructure.validation.core import CheckResult, Layout
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, release_values
from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS
from tests.observability.test_alerts import (
    CRDS,
    HELM_DIR,
    ROOT,
    alerting_rules,
    chart_values,
    namespace,
    prometheus_rules,
    render,
)

CHART = HELM_DIR / "backups"
PLAYBOOKS = ROOT / "backup" / "playbooks"
PROBES_SOURCE = "infrastructure/helm/backups/templates/probes.yaml"
# alert -> the playbooks its runbook_url may name (BackupJobFailed: by CronJob).
BACKUP_PLAYBOOKS = {
    "BackupJobFailed": {"environment", "registry-database"},
    "BackupTooOld": {"environment"},
    "BackupVerifyFailed": {"environment"},
    "RegistryUnavailable": {"registry-database"},
    "OnlineStoreUnavailable": {"online-store"},
    "VaultUnavailable": {"openbao"},
    "VaultSealed": {"openbao"},
}
# Probe name -> (what the alert probes, blackbox module, alert); {env} is the environment.
PROBES = {
    "backups-registry": ("http://mlflow.mlops-{env}.svc:5000/health", "http_2xx", "RegistryUnavailable"),
    "backups-online-store": ("redis-master.feature-store.svc:6379", "tcp_connect", "OnlineStoreUnavailable"),
    "backups-vault": ("https://vault.vault.svc:8200/v1/sys/health?standbyok=true", "http_2xx", "VaultUnavailable"),
}


def render_with(env: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    values = coalesce(release_values(CHART, env), overrides)
    rendered = render_chart(CHART, values, release="backups", namespace=namespace(env))
    return [
        doc
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt")
        for doc in load_yaml_documents(text)
        if isinstance(doc, dict)
    ]


def backup_alerts(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    return {a["alert"]: a for a in alerting_rules(rule["spec"]["groups"])}


def selected_cronjobs(expr: str) -> set[str]:
    """The CronJob names a job alert's kube_job_owner selector matches (an alternation)."""
    (alternation,) = re.findall(r'owner_name=~"([^"]+)"', expr)
    return set(alternation.split("|"))


@pytest.fixture(scope="module")
def crd_schemas() -> CrdSchemas:
    return CrdSchemas(CRDS, kubernetes_version(None))


# --------------------------------------------------------------------------- playbooks
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backup_alerts_link_the_sre_playbook_of_their_area(env: str) -> None:
    base = chart_values("backups", env)["alerts"]["runbookBaseUrl"].rstrip("/")
    assert base.endswith("/backup/playbooks"), f"backups: alerts.runbookBaseUrl is {base}"
    linked: dict[str, set[str]] = {}
    for alert in alerting_rules(prometheus_rules(env)["backups"]["spec"]["groups"]):
        url = alert["annotations"]["runbook_url"]
        assert url.startswith(base + "/"), url
        assert url.endswith(".md"), url
        page = url.removeprefix(base + "/").removesuffix(".md")
        if page == "{{ $labels.playbook }}":
            # The page depends on the series: the expression sets label playbook (promtool's unit
            # tests check the expanded link).
            pages = set(re.findall(r'"playbook", "([a-z-]+)"', alert["expr"]))
        else:
            assert alert["labels"]["playbook"] == page, alert["alert"]
            pages = {page}
        linked.setdefault(alert["alert"], set()).update(pages)
    assert linked == BACKUP_PLAYBOOKS


def test_the_linked_playbooks_exist_and_name_their_alerts() -> None:
    """The SRE follows the alert's link: the page is there and says it handles that alert."""
    missing = []
    for alert, playbooks in BACKUP_PLAYBOOKS.items():
        for name in sorted(playbooks):
            page = PLAYBOOKS / f"{name}.md"
            if not page.is_file():
                missing.append(f"{alert} links {page.relative_to(ROOT)}, which does not exist")
            elif f"`{alert}`" not in page.read_text(encoding="utf-8"):
                missing.append(f"{page.relative_to(ROOT)} does not name `{alert}`")
    assert not missing, "\n".join(missing)


# --------------------------------------------------------------------------- job alerts
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_job_alerts_select_the_cronjobs_the_chart_renders(env: str) -> None:
    docs = render("backups", env)
    cronjobs = {d["metadata"]["name"] for d in docs if d["kind"] == "CronJob"}
    alerts = backup_alerts(docs)
    assert selected_cronjobs(alerts["BackupVerifyFailed"]["expr"]) == {"backups-verify"}
    # verify has its own alert: one failure, one page.
    assert selected_cronjobs(alerts["BackupJobFailed"]["expr"]) == cronjobs - {"backups-verify"}
    too_old = alerts["BackupTooOld"]["expr"]
    assert set(re.findall(r'cronjob="([^"]+)"', too_old)) == {"backups-nightly"}
    assert "backups-nightly" in cronjobs
    assert re.search(r"> 93600\b", too_old), too_old  # 26 h
    assert set(re.findall(r'namespace="([^"]+)"', alerts["BackupJobFailed"]["expr"])) == {namespace(env)}


def test_a_disabled_strategy_leaves_the_job_alert_and_cannot_be_the_age_alert() -> None:
    docs = render_with("staging", {"strategies": {"disabled": ["hourly"]}})
    alerts = backup_alerts(docs)
    assert selected_cronjobs(alerts["BackupJobFailed"]["expr"]) == {
        "backups-nightly",
        "backups-prune",
        "backups-retention",
    }
    with pytest.raises(helm.HelmRenderError, match=r'alerts.tooOld.strategy: "nightly" is not a strategy'):
        render_with("staging", {"strategies": {"disabled": ["nightly"]}})
    older = backup_alerts(render_with("staging", {"alerts": {"tooOld": {"strategy": "hourly", "maxAgeHours": 2}}}))
    assert 'cronjob="backups-hourly"' in older["BackupTooOld"]["expr"]
    assert re.search(r"> 7200\b", older["BackupTooOld"]["expr"])


def test_a_playbook_for_an_unknown_cronjob_fails_the_render() -> None:
    with pytest.raises(helm.HelmRenderError, match=r'alerts.jobFailed.playbooks: no CronJob "weekly"'):
        render_with("dev", {"alerts": {"jobFailed": {"playbooks": {"weekly": "environment"}}}})
    with pytest.raises(helm.HelmValuesError, match="playbook"):
        render_with("dev", {"alerts": {"jobFailed": {"playbooks": {"prune": "restic"}}}})


# --------------------------------------------------------------------------- Probes
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_probes_render_where_the_blackbox_exporter_runs(env: str, crd_schemas: CrdSchemas) -> None:
    enabled = chart_values("backups", env)["probes"]["enabled"]
    assert enabled == (env in ("staging", "prod")), f"backups/values-{env}.yaml: probes.enabled"
    probes = {d["metadata"]["name"]: d for d in render("backups", env) if d["kind"] == "Probe"}
    if not enabled:
        assert probes == {}
        return
    assert set(probes) == set(PROBES)
    alerts = backup_alerts(render("backups", env))
    for name, (target, module, alert) in PROBES.items():
        probe = probes[name]
        assert probe["metadata"]["namespace"] == namespace(env)
        assert probe["spec"]["targets"]["staticConfig"]["static"] == [target.format(env=env)], name
        assert probe["spec"]["module"] == module, name
        assert probe["spec"]["prober"]["url"] == "prometheus-blackbox-exporter.monitoring.svc:9115"
        assert crd_schemas.errors(Manifest(PROBES_SOURCE, probe)) == [], name
        # The operator's scrape job of this Probe is what the alert selects.
        assert f'job="probe/{namespace(env)}/{name}"' in alerts[alert]["expr"], alert


def test_probes_can_be_turned_on_in_dev_with_the_dev_registry() -> None:
    docs = render_with("dev", {"probes": {"enabled": True}})
    probes = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Probe"}
    assert probes["backups-registry"]["spec"]["targets"]["staticConfig"]["static"] == [
        "http://mlflow.mlops-dev.svc:5000/health"
    ]


def test_a_probe_with_a_bad_field_fails_the_schema_check(crd_schemas: CrdSchemas, tmp_path: Path) -> None:
    probe = next(d for d in render("backups", "prod") if d["kind"] == "Probe")
    broken = copy.deepcopy(probe)
    statics = broken["spec"]["targets"]["staticConfig"]
    statics["targets"] = statics.pop("static")
    broken["spec"]["interval"] = "30 seconds"
    errors = crd_schemas.errors(Manifest(PROBES_SOURCE, broken)) or []
    assert any("'targets' was unexpected" in e and e.startswith("spec.targets.staticConfig") for e in errors), errors
    assert any(e.startswith("spec.interval:") for e in errors), errors
    # Through the kubernetes-schema check itself: the kind maps to crds/monitoring.coreos.com_probe.json.
    result = CheckResult("kubernetes-schema")
    validate_manifests(Layout(ROOT, tmp_path), [Manifest(PROBES_SOURCE, broken)], None, result)
    assert result.counts.get("custom_resources") == 1
    assert result.failures
    assert all("(schema monitoring.coreos.com_probe.json)" in f for f in result.failures), result.failures


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"probes": {"prober": {"url": "http://blackbox:9115"}}}, "url"),
        ({"probes": {"targets": {"vault": {"modul": "http_2xx"}}}}, "modul"),
        ({"probes": {"interval": "30 s"}}, "interval"),
    ],
)
def test_bad_probe_values_are_refused_naming_the_key(override: dict[str, Any], key: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=key):
        render_with("prod", override)
