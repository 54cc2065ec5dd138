"""The retention CronJob of the backups chart: `mlops privacy retention apply --env <env>` on its
schedule, in the same restricted pod as the backup jobs, watched by BackupJobFailed; off by a value."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.test_backups_chart import CHART, ENVS, by_kind, load_values, pod_spec, render, script

NAME = "backups-retention"


@pytest.mark.parametrize("env", ENVS)
def test_the_cronjob_runs_retention_for_its_environment(env: str) -> None:
    docs = render(env)
    job = by_kind(docs, "CronJob")[NAME]
    values = load_values(CHART / "values.yaml")
    assert job["spec"]["schedule"] == values["retention"]["schedule"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert script(job).endswith(f"&& exec mlops privacy retention apply --env {env}")
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"] == values["resources"]["retention"]
    annotations = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/agent-inject"] == "true"
    assert annotations["vault.hashicorp.com/agent-pre-populate-only"] == "true", "a Job's agent must exit"
    # The backup repository the backups policy reads, as the backup jobs have it.
    env_vars = {e["name"]: e.get("value") for e in container["env"]}
    assert env_vars["MLOPS_ENV"] == env
    assert env_vars["RESTIC_REPOSITORY"].startswith("s3:")
    rules = [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
    (failed,) = [r for r in rules if r.get("alert") == "BackupJobFailed"]
    assert NAME in failed["expr"]


def test_retention_can_be_turned_off() -> None:
    docs: list[dict[str, Any]] = render("prod", {"retention": {"enabled": False}})
    assert NAME not in by_kind(docs, "CronJob")
    rules = [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
    assert all(NAME not in str(r.get("expr", "")) for r in rules)
