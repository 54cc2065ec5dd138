"""The alert rules the Helm charts ship, checked with the real promtool.

Each chart's PrometheusRule is rendered through the validator's Helm engine (what
``make validate-infra`` and Argo CD render), its groups go into one Prometheus rules file,
``promtool check rules`` parses it (PromQL, durations, annotation templates) for every
environment, and ``promtool test rules`` runs the unit tests in ``alert_tests/`` on the dev
render: each alert fires on bad series, and stays quiet on good series and on no traffic.

promtool comes from Debian's prometheus package, which ``make system-tools`` installs (``make
test`` runs it first). Without it these tests fail and say so: a skip would pass silently.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.validation import render_chart
from infrastructure.validation.checks.kubernetes_schema import CrdSchemas, kubernetes_version
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, load_values, release_values, values_schema_problems
from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS
from mlops.config import load_model

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "infrastructure" / "helm"
RUNBOOKS = ROOT / "observability" / "runbooks"
UNIT_TESTS = Path(__file__).resolve().parent / "alert_tests"
CRDS = ROOT / "infrastructure" / "validation" / "crds"
# The charts that ship alerts, and the alerts each one ships.
ALERTS = {
    "serving": {"ServingLatencyHigh", "ServingErrorRateHigh", "ServingShadowDropRateHigh"},
    "feature-store": {"FeatureFreshnessStale"},
    "pipelines": {"ModelDriftShareHigh", "DataQualityScoreLow", "CostBudgetBurnHigh"},
    "backups": {
        "BackupJobFailed",
        "BackupTooOld",
        "BackupVerifyFailed",
        "RegistryUnavailable",
        "OnlineStoreUnavailable",
        "VaultUnavailable",
        "VaultSealed",
    },
}
# Charts whose alerts link the SRE playbooks in backup/playbooks/ (one page per area, shared by
# several alerts; test_alerts_backups.py) rather than one runbook per alert in observability/runbooks/.
PLAYBOOK_CHARTS = {"backups"}
SEVERITIES = {"critical", "warning", "info"}
INSTALL_TARGET = "make system-tools"
PROMTOOL_TIMEOUT_S = 120


def prometheus_binary(name: str, search_path: str | None = None) -> str:
    """``promtool`` or ``prometheus`` from Debian's prometheus package; a clear failure without it."""
    found = shutil.which(name, path=search_path) or (
        None if search_path is not None else shutil.which(name, path="/usr/bin:/usr/local/bin")
    )
    if found is None:
        pytest.fail(
            f"{name} is not installed: run `{INSTALL_TARGET}` (Debian's prometheus package; `make test` runs it first)",
            pytrace=False,
        )
    return found


def namespace(env: str) -> str:
    return f"mlops-{env}"


@functools.cache
def _rendered(chart: str, env: str) -> tuple[tuple[str, str], ...]:
    values = release_values(HELM_DIR / chart, env)
    return tuple(sorted(render_chart(HELM_DIR / chart, values, release=chart, namespace=namespace(env)).items()))


def render(chart: str, env: str) -> list[dict[str, Any]]:
    """The objects ``chart`` renders for ``env``, as Argo CD releases it (fresh
    objects each call: the Helm render is done once per chart and environment)."""
    return [
        doc
        for template, text in _rendered(chart, env)
        if not template.endswith("NOTES.txt")
        for doc in load_yaml_documents(text)
        if isinstance(doc, dict)
    ]


def chart_values(chart: str, env: str) -> dict[str, Any]:
    """values.yaml with the environment's files over it (what the templates see)."""
    chart_dir = HELM_DIR / chart
    return coalesce(load_values(chart_dir / "values.yaml"), release_values(chart_dir, env))


def prometheus_rules(env: str) -> dict[str, dict[str, Any]]:
    """chart -> its one PrometheusRule, rendered for ``env``."""
    found: dict[str, dict[str, Any]] = {}
    for chart in ALERTS:
        rules = [doc for doc in render(chart, env) if doc["kind"] == "PrometheusRule"]
        assert len(rules) == 1, f"{chart}/{env} renders {len(rules)} PrometheusRule objects"
        found[chart] = rules[0]
    return found


def alerting_rules(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


class _RulesDumper(yaml.SafeDumper):
    """Multi-line strings (the expressions) as literal blocks, as a person writes a rules file."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_RulesDumper.add_representer(str, _represent_str)


def write_rules_file(path: Path, groups: list[dict[str, Any]]) -> Path:
    """A Prometheus rules file holding ``groups`` (the PrometheusRule specs' groups, as they are)."""
    path.write_text(yaml.dump({"groups": groups}, Dumper=_RulesDumper, sort_keys=False), encoding="utf-8")
    return path


def rules_file(directory: Path, env: str) -> Path:
    """Every chart's alert groups for ``env`` in ``<directory>/rules.yaml`` (the name the unit tests load)."""
    groups = [group for rule in prometheus_rules(env).values() for group in rule["spec"]["groups"]]
    return write_rules_file(directory / "rules.yaml", groups)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )


# --------------------------------------------------------------------------- the rendered rules
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_chart_renders_its_alerts_with_severity_summary_and_runbook(env: str) -> None:
    for chart, rule in prometheus_rules(env).items():
        assert rule["metadata"]["namespace"] == namespace(env)
        alerts = alerting_rules(rule["spec"]["groups"])
        assert {a["alert"] for a in alerts} == ALERTS[chart], chart
        for alert in alerts:
            where = f"{chart}/{env} {alert['alert']}"
            assert alert["labels"]["severity"] in SEVERITIES, where
            annotations = alert["annotations"]
            assert annotations["summary"].strip(), where
            assert annotations["description"].strip(), where
            assert annotations["runbook_url"].startswith("https://"), where
            # Alerts flap without a hold time: every one waits at least a few evaluations.
            assert re.fullmatch(r"\d+[mh]", alert["for"]), where


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_promtool_accepts_the_rules_of_every_environment(env: str, tmp_path: Path) -> None:
    path = rules_file(tmp_path, env)
    checked = promtool("check", "rules", path.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    total = sum(len(names) for names in ALERTS.values())
    assert f"SUCCESS: {total} rules found" in checked.stdout, checked.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The check above is worth something: one missing parenthesis fails it, naming the rule."""
    groups = [group for rule in prometheus_rules("dev").values() for group in rule["spec"]["groups"]]
    broken = copy.deepcopy(groups)
    first = broken[0]["rules"][0]
    first["expr"] = first["expr"].replace(")", "", 1)
    write_rules_file(tmp_path / "rules.yaml", broken)
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode != 0
    assert "parse error" in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def test_alerts_fire_on_bad_series_and_not_on_good_ones(tmp_path: Path) -> None:
    rules_file(tmp_path, "dev")
    tests = sorted(UNIT_TESTS.glob("*.yaml"))
    for path in tests:
        shutil.copy(path, tmp_path / path.name)
    tested = promtool("test", "rules", *(p.name for p in tests), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(tests), tested.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in sorted(UNIT_TESTS.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert spec["rule_files"] == ["rules.yaml"], path.name
        for case in spec["tests"]:
            for check in case["alert_rule_test"]:
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    every = set().union(*ALERTS.values())
    assert firing == every, f"no firing case for {sorted(every - firing)}"
    assert quiet == every, f"no quiet case for {sorted(every - quiet)}"


def test_missing_promtool_fails_and_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=re.escape(f"run `{INSTALL_TARGET}`")):
        prometheus_binary("promtool", search_path=str(tmp_path))


def test_make_test_installs_prometheus_and_restic_first() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test:([^#\n]*)", makefile, re.MULTILINE)
    assert test_target, "the Makefile has no test target"
    assert "system-tools" in test_target.group(1).split(), test_target.group(0)
    assert re.search(r"^system-tools:", makefile, re.MULTILINE), "the Makefile has no system-tools target"
    programs = re.search(r"^SYSTEM_PROGRAMS := (.*)$", makefile, re.MULTILINE)
    assert programs, "the Makefile names no system programs"
    assert {"promtool", "prometheus", "restic"} <= {pair.split(":")[0] for pair in programs.group(1).split()}


def test_prometheus_rule_schema_rejects_what_prometheus_would_refuse() -> None:
    schemas = CrdSchemas(CRDS, kubernetes_version(None))
    rule = prometheus_rules("prod")["serving"]
    source = "infrastructure/helm/serving/templates/prometheusrule.yaml"
    assert schemas.errors(Manifest(source, rule)) == []
    misspelt = copy.deepcopy(rule)
    first = misspelt["spec"]["groups"][0]["rules"][0]
    first["annotation"] = first.pop("annotations")
    errors = schemas.errors(Manifest(source, misspelt)) or []
    assert any("'annotation' was unexpected" in e for e in errors), errors
    # Prometheus refuses a rule that is both an alert and a recording rule.
    both = copy.deepcopy(rule)
    both["spec"]["groups"][0]["rules"][0]["record"] = "serving:latency:p95"
    assert schemas.errors(Manifest(source, both))


# chart: (a bad override, the start of the problem the validator reports for it)
BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "serving": ({"alerts": {"latencyP95": {"severity": "page"}}}, "alerts.latencyP95.severity: must be one of"),
    "feature-store": ({"alerts": {"freshness": {"for": "1 hour"}}}, 'alerts.freshness.for: "1 hour" does not match'),
    "pipelines": ({"alerts": {"budget": {"alertFraction": 70}}}, "alerts.budget.alertFraction: 70 is greater than"),
    "backups": ({"alerts": {"vaultSealed": {"playbook": "vault"}}}, "alerts.vaultSealed.playbook: must be one of"),
}


@pytest.mark.parametrize("chart", ALERTS)
def test_a_bad_alert_value_is_named_by_file_and_key(chart: str) -> None:
    chart_dir = HELM_DIR / chart
    override, expected = BAD_VALUES[chart]
    layers = [("values.yaml", load_values(chart_dir / "values.yaml")), ("values-prod.yaml", override)]
    problems = values_schema_problems(chart_dir, layers)
    assert any(p.startswith(f"values-prod.yaml: {expected}") for p in problems), problems


# --------------------------------------------------------------------------- runbooks
def test_every_alert_links_its_runbook_and_every_runbook_an_alert() -> None:
    linked: set[str] = set()
    for chart, rule in prometheus_rules("prod").items():
        if chart in PLAYBOOK_CHARTS:
            continue
        base = chart_values(chart, "prod")["alerts"]["runbookBaseUrl"].rstrip("/")
        assert base.endswith("/observability/runbooks"), f"{chart}: alerts.runbookBaseUrl is {base}"
        for alert in alerting_rules(rule["spec"]["groups"]):
            url = alert["annotations"]["runbook_url"]
            assert url.startswith(base + "/"), url
            page = RUNBOOKS / url.removeprefix(base + "/")
            assert page.is_file(), f"{alert['alert']}: {url} names {page.relative_to(ROOT)}, which does not exist"
            text = page.read_text(encoding="utf-8")
            assert text.startswith(f"# {alert['alert']}\n"), f"{page.name} is not titled {alert['alert']}"
            for section in ("**Means:**", "## Check", "## Act"):
                assert section in text, f"{page.name} has no {section}"
            linked.add(page.name)
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages == linked, f"runbooks no alert links: {sorted(pages - linked)}"


# --------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_thresholds_follow_the_platform_config(env: str) -> None:
    from observability.costs import load_cost_config
    from observability.triggers import RetrainingTriggersConfig
    from serving.metrics import LATENCY_BUCKETS

    alerts = chart_values("pipelines", env)["alerts"]
    triggers = load_model(ROOT / "config" / "retraining_triggers.yaml", RetrainingTriggersConfig)
    assert triggers.drift is not None
    assert alerts["drift"]["shareThreshold"] == triggers.drift.share_of_drifted_columns
    budgets = {str(name): budget for name, budget in load_cost_config(ROOT / "config").budgets.items()}
    budget = budgets[env]
    assert alerts["budget"]["alertFraction"] == budget.alert_at_fraction, (
        f"pipelines/values-{env}.yaml: alerts.budget.alertFraction differs from "
        f"config/cost_optimization.yaml budgets.{env}.alert_at_fraction"
    )
    # The chart's copy of the environment's platform config (regenerated from config/).
    platform = json.loads((HELM_DIR / "pipelines" / "files" / "platform-config" / f"{env}.json").read_text())
    assert alerts["dataQuality"]["minScore"] == platform["quality"]["min_row_pass_rate"]
    # histogram_quantile interpolates inside a bucket: at a bucket bound the SLO check is exact.
    slo = chart_values("serving", env)["alerts"]["latencyP95"]["thresholdSeconds"]
    assert slo in LATENCY_BUCKETS, f"latency SLO {slo}s is not one of serving.metrics.LATENCY_BUCKETS"
