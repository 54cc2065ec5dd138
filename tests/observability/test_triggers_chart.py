"""The retraining-triggers CronJob of the pipelines chart, rendered through the validator's Helm engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.validation import render_chart
from infrastructure.validation.manifests import load_yaml_documents
from infrastructure.validation.values import coalesce, release_values
from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infrastructure" / "helm" / "pipelines"
TEMPLATE = "pipelines/templates/retraining-triggers.yaml"


def render(env: str, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    values = coalesce(release_values(CHART, env), overrides or {})
    rendered = render_chart(CHART, values, release="pipelines", namespace=f"mlops-{env}")
    return list(load_yaml_documents(rendered.get(TEMPLATE, "")))


def kind(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == name]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_cronjob_runs_the_triggers_command_against_kfp(env: str) -> None:
    docs = render(env)
    [cron] = kind(docs, "CronJob")
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["retrainingTriggers"]
    assert cron["spec"]["schedule"] == defaults["schedule"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["suspend"] is False
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["mlops"]
    assert container["args"] == [
        "monitor",
        "triggers",
        "--kfp-host=$(KFP_HOST)",
        f"--env={env}",
        "--config-dir=/app/config",
    ]
    env_vars = {e["name"]: e["value"] for e in container["env"]}
    kfp_host = yaml.safe_load((CHART / "values.yaml").read_text())["kfp"]["host"]
    assert env_vars == {"MLOPS_ENV": env, "KFP_HOST": kfp_host}


def test_the_schedule_is_a_valid_cron_and_models_become_options() -> None:
    from croniter import croniter

    docs = render("prod", {"retrainingTriggers": {"schedule": "*/30 * * * *", "models": ["credit_risk", "churn"]}})
    [cron] = kind(docs, "CronJob")
    assert croniter.is_valid(cron["spec"]["schedule"])
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--model=credit_risk", "--model=churn"]


def test_the_pod_is_hardened_and_its_state_outlives_it() -> None:
    docs = render("prod")
    [cron] = kind(docs, "CronJob")
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # prod's platform config says state_dir: /tmp/mlops (the image's /app is read-only).
    assert mounts["/tmp/mlops"] == "state"
    volumes = {v["name"]: v for v in spec["volumes"]}
    [claim] = kind(docs, "PersistentVolumeClaim")
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    token = volumes["kfp-token"]["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == "pipelines.kubeflow.org"
    existing = render("prod", {"retrainingTriggers": {"state": {"existingClaim": "triggers-state"}}})
    assert not kind(existing, "PersistentVolumeClaim")
    spec = kind(existing, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {v["name"]: v for v in spec["volumes"]}["state"]["persistentVolumeClaim"]["claimName"] == "triggers-state"


def test_network_policies_deny_by_default_and_allow_the_apis_it_calls() -> None:
    docs = render("staging")
    [cron] = kind(docs, "CronJob")
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    policies = kind(docs, "NetworkPolicy")
    selecting = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
    deny = [
        p for p in selecting if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny policy selects the job's pods"
    ports = {port["port"] for p in selecting for rule in p["spec"].get("egress", []) for port in rule["ports"]}
    assert ports == {53, 8888, 5000, 443}
    assert not kind(render("staging", {"networkPolicy": {"enabled": False}}), "NetworkPolicy")


def test_disabled_renders_nothing_and_the_schema_refuses_a_bad_schedule() -> None:
    import helm_python as helm

    assert render("dev", {"retrainingTriggers": {"enabled": False}}) == []
    [paused] = kind(render("dev", {"retrainingTriggers": {"suspend": True}}), "CronJob")
    assert paused["spec"]["suspend"] is True
    with pytest.raises(helm.HelmValuesError, match="schedule"):
        render("dev", {"retrainingTriggers": {"schedule": "hourly"}})
    with pytest.raises(helm.HelmValuesError, match="kfpHst"):
        render("dev", {"retrainingTriggers": {"kfpHst": "http://x"}})
