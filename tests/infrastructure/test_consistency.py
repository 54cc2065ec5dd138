"""Cross-file consistency (``make validate-infra``, check ``consistency``): the charts are wired to
what Terraform builds, and what a workload's config names, its chart provides.

Each rule passes on this repository and fails, naming the file, key or object and what was
expected, on a broken copy of its input: a Terraform output renamed, an egress rule removed, a
role annotation dropped, a variable the Feast config reads left out.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.validation import Context
from infrastructure.validation.checks.consistency import (
    Terraform,
    consent_problems,
    declared_outputs,
    egress_problems,
    env_var_problems,
    role_problems,
    service_problems,
    state_dir_problems,
    terraform_key_problems,
)
from infrastructure.validation.manifests import Manifest
from platform_config import PlatformConfig, load_platform_config
from tests.infrastructure.validator import failures, run_checks

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infrastructure" / "terraform"
ENVIRONMENTS = ROOT / "infrastructure" / "helm" / "environments"
STAGING_FILE = "infrastructure/helm/environments/staging.yaml"


def environment_values(env: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((ENVIRONMENTS / f"{env}.yaml").read_text(encoding="utf-8"))
    return values


@pytest.fixture(scope="module")
def configs() -> dict[str, PlatformConfig]:
    return {env: load_platform_config(ROOT / "config", env) for env in ("dev", "staging", "prod")}


@pytest.fixture(scope="module")
def releases(repository: Context) -> dict[tuple[str, str], list[Manifest]]:
    """(chart, env) -> the manifests make validate-infra renders (with the environment files)."""
    return {(r.chart, r.env): r.manifests for r in repository.rendered().renders}


def changed(manifests: list[Manifest], kind: str, name: str, edit: Callable[[dict[str, Any]], None]) -> list[Manifest]:
    """A copy of a release with ``edit`` applied to one object's body."""
    out = []
    hit = False
    for m in manifests:
        body = copy.deepcopy(m.body)
        if m.kind == kind and m.name == name:
            edit(body)
            hit = True
        out.append(Manifest(m.source, body, m.rendered))
    assert hit, f"no {kind}/{name}: update this test"
    return out


def container(body: dict[str, Any]) -> dict[str, Any]:
    spec = body["spec"]["template"]["spec"]
    found: dict[str, Any] = spec["containers"][0]
    return found


# --------------------------------------------------------------------------- the repository
def test_the_repository_is_consistent(repository: Context) -> None:
    from infrastructure.validation.checks.consistency import check_consistency

    result = check_consistency(repository)
    assert result.ok, "\n".join(result.failures)
    assert result.counts["environments"] == 3
    assert result.counts["releases"] >= 15


def test_every_chart_gets_terraform_values_and_mlflow_runs_on_them(
    releases: dict[tuple[str, str], list[Manifest]],
) -> None:
    platform = environment_values("prod")["global"]["platform"]
    docs = {(m.kind, m.name): m.body for m in releases[("mlflow", "prod")]}
    deployment = docs[("Deployment", "mlflow")]
    main = container(deployment)
    assert f"--artifacts-destination=s3://{platform['buckets']['artifacts']}/mlflow" in main["args"]
    assert "--serve-artifacts" in main["args"]
    template = deployment["spec"]["template"]["metadata"]["annotations"][
        "vault.hashicorp.com/agent-inject-template-mlflow.env"
    ]
    assert f"@{platform['postgres']['host']}:5432/mlflow?sslmode=require" in template
    assert "/vault/secrets/mlflow.env" in main["command"][2]
    account = docs[("ServiceAccount", "mlflow")]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == platform["serviceAccounts"]["mlflow"]
    assert docs[("Service", "mlflow")]["spec"]["ports"][0]["port"] == 5000
    # The registry URL every platform config names is this Service.
    assert load_platform_config(ROOT / "config", "prod").registry.tracking_uri == "http://mlflow.mlops-prod.svc:5000"


def test_cluster_state_folder_is_a_mounted_writable_volume(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    for env in ("staging", "prod"):
        state_dir = str(configs[env].state_dir)
        assert state_dir.startswith("/tmp/"), f"{env}: state_dir {state_dir} is not under the pods' writable /tmp"
        serving = next(m.body for m in releases[("serving", env)] if m.kind == "Deployment")
        mounts = {v["mountPath"] for v in container(serving)["volumeMounts"]}
        assert state_dir in mounts, f"serving/{env}: nothing mounted at {state_dir}"


def test_serving_gets_the_feature_store_wiring_only_with_features() -> None:
    from tests.infrastructure.test_helm_charts import by_kind, manifests, render

    for features in (True, False):
        docs = manifests(render("serving", "staging", {"features": features}))
        (deployment,) = by_kind(docs, "Deployment")
        names = {e["name"] for e in container(deployment)["env"]}
        assert ({"FEAST_POSTGRES_HOST", "FEAST_REGISTRY_USER", "FEAST_OFFLINE_USER"} <= names) is features
        ports = {
            p["port"] for np in by_kind(docs, "NetworkPolicy") for r in np["spec"].get("egress", []) for p in r["ports"]
        }
        assert ({5432, 6379} <= ports) is features, ports
        assert 443 in ports


# --------------------------------------------------------------------------- terraform-keys
def test_environment_files_match_the_terraform_output() -> None:
    declared = declared_outputs(TERRAFORM)
    assert declared.buckets == {"artifacts", "backups"}
    assert declared.service_accounts == {"serving", "mlflow", "backups"}
    for env in ("dev", "staging", "prod"):
        assert terraform_key_problems(declared, environment_values(env), f"{env}.yaml") == [], env


def test_a_key_the_output_does_not_declare_fails() -> None:
    values = environment_values("staging")
    platform = values["global"]["platform"]
    platform["postgres"]["hostname"] = platform["postgres"].pop("host")
    problems = terraform_key_problems(declared_outputs(TERRAFORM), values, STAGING_FILE)
    assert (
        f"consistency/terraform-keys: {STAGING_FILE}: global.platform.postgres.host is missing: "
        "infrastructure/terraform/live/outputs.tf output helm_values declares it"
    ) in "\n".join(problems)
    assert any(
        "global.platform.postgres.hostname is not in infrastructure/terraform/live/outputs.tf" in p for p in problems
    )


def test_a_renamed_terraform_output_fails(tmp_path: Path) -> None:
    copy_dir = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy_dir, ignore=shutil.ignore_patterns(".terraform"))
    outputs = copy_dir / "live" / "outputs.tf"
    text = outputs.read_text(encoding="utf-8")
    assert "        region = var.region\n" in text
    outputs.write_text(
        text.replace("        region = var.region\n", "        aws_region = var.region\n"), encoding="utf-8"
    )
    problems = "\n".join(terraform_key_problems(declared_outputs(copy_dir), environment_values("prod"), "prod.yaml"))
    assert "global.platform.aws_region is missing" in problems
    assert "global.platform.region is not in infrastructure/terraform/live/outputs.tf" in problems


def test_buckets_roles_and_cidrs_are_checked_against_terraform() -> None:
    values = environment_values("prod")
    platform = values["global"]["platform"]
    del platform["serviceAccounts"]["mlflow"]
    platform["buckets"]["models"] = "mlops-prod-models"
    platform["postgres"]["cidrs"].append("52.0.0.0/16")
    platform["serviceAccounts"]["serving"] = "mlops-prod-serving"
    problems = "\n".join(terraform_key_problems(declared_outputs(TERRAFORM), values, "prod.yaml"))
    assert "global.platform.buckets has artifacts, backups, models; Terraform builds artifacts, backups" in problems
    assert "global.platform.serviceAccounts has backups, serving; Terraform builds backups, mlflow, serving" in problems
    assert "global.platform.postgres.cidrs: 52.0.0.0/16 is not a private range" in problems
    assert "global.platform.serviceAccounts.serving: 'mlops-prod-serving' is not an IAM role ARN" in problems


# --------------------------------------------------------------------------- egress
def test_workloads_reach_every_host_their_config_names(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    for (chart, env), manifests in releases.items():
        terraform = Terraform.from_values(environment_values(env))
        assert egress_problems(manifests, terraform, configs) == [], f"{chart}/{env}"


def drop_egress(manifests: list[Manifest], policy: str, keep: Callable[[dict[str, Any]], bool]) -> list[Manifest]:
    def edit(body: dict[str, Any]) -> None:
        body["spec"]["egress"] = [rule for rule in body["spec"]["egress"] if keep(rule)]

    return changed(manifests, "NetworkPolicy", policy, edit)


def test_serving_without_the_database_rule_fails(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    terraform = Terraform.from_values(environment_values("staging"))
    broken = drop_egress(
        releases[("serving", "staging")],
        "serving-allow",
        lambda r: not any("ipBlock" in p and p["ipBlock"]["cidr"].startswith("10.20.") for p in r["to"]),
    )
    problems = "\n".join(egress_problems(broken, terraform, configs))
    assert (
        f"consistency/egress: infrastructure/helm/serving/templates/deployment.yaml with "
        f"infrastructure/helm/serving/values-staging.yaml: Deployment/serving-champion: {terraform.postgres_host}:5432"
    ) in problems
    assert "is the registry database, but no egress rule allows port 5432 to its subnets 10.20.64.0/18" in problems
    assert "the staging Feast config" in problems


def test_serving_without_the_mlflow_rule_fails(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    terraform = Terraform.from_values(environment_values("prod"))
    broken = drop_egress(releases[("serving", "prod")], "serving-allow", lambda r: r["ports"][0]["port"] != 5000)
    problems = egress_problems(broken, terraform, configs)
    assert problems == [
        "consistency/egress: infrastructure/helm/serving/templates/deployment.yaml with "
        "infrastructure/helm/serving/values-prod.yaml: Deployment/serving-champion: mlflow.mlops-prod.svc:5000 "
        "(container serving: registry.tracking_uri of the prod config): no egress rule allows port 5000 "
        "to namespace mlops-prod"
    ]


def test_every_own_namespace_service_a_workload_names_is_rendered(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    """The defect behind this rule: every config named mlflow.mlops-<env>.svc:5000, no chart ran it."""
    prod = [m for (_, env), manifests in releases.items() if env == "prod" for m in manifests]
    assert service_problems(prod, configs) == []
    without_mlflow = [m for (chart, env), ms in releases.items() if env == "prod" and chart != "mlflow" for m in ms]
    problems = service_problems(without_mlflow, configs)
    assert problems, "dropping the MLflow chart must fail the rule"
    assert all(
        "names mlflow.mlops-prod.svc:5000, but no chart of this environment renders Service mlflow in mlops-prod" in p
        for p in problems
    ), problems
    assert any("Deployment/serving-champion" in p for p in problems)


def test_mlflow_without_https_egress_fails(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    terraform = Terraform.from_values(environment_values("prod"))
    broken = drop_egress(releases[("mlflow", "prod")], "mlflow-allow", lambda r: r["ports"][0]["port"] != 443)
    problems = "\n".join(egress_problems(broken, terraform, configs))
    bucket = environment_values("prod")["global"]["platform"]["buckets"]["artifacts"]
    assert (
        f"{bucket}.s3.amazonaws.com:443 (container mlflow argument --artifacts-destination): an external host"
        in problems
    )


# --------------------------------------------------------------------------- roles
def by_chart(releases: dict[tuple[str, str], list[Manifest]], env: str) -> dict[str, list[Manifest]]:
    return {chart: manifests for (chart, e), manifests in releases.items() if e == env}


def test_service_accounts_carry_their_terraform_roles(releases: dict[tuple[str, str], list[Manifest]]) -> None:
    for env in ("staging", "prod"):
        terraform = Terraform.from_values(environment_values(env))
        assert set(terraform.service_accounts) == {"serving", "mlflow", "backups"}
        assert role_problems(by_chart(releases, env), env, terraform, f"{env}.yaml") == [], env


def test_a_missing_role_annotation_fails(releases: dict[tuple[str, str], list[Manifest]]) -> None:
    terraform = Terraform.from_values(environment_values("staging"))
    charts = by_chart(releases, "staging")
    charts["backups"] = changed(
        charts["backups"], "ServiceAccount", "backups", lambda body: body["metadata"].pop("annotations")
    )
    problems = "\n".join(role_problems(charts, "staging", terraform, STAGING_FILE))
    arn = terraform.service_accounts["backups"]
    assert (
        "consistency/roles: infrastructure/helm/backups/templates/serviceaccount.yaml with "
        f"infrastructure/helm/backups/values-staging.yaml: ServiceAccount/backups: annotation "
        f"eks.amazonaws.com/role-arn is None, expected {arn}"
    ) in problems
    # The backup jobs name the restic repository in S3, so they need the role too.
    assert "CronJob/backups-nightly: names s3:https://s3.amazonaws.com/" in problems


def test_a_role_without_its_service_account_fails(releases: dict[tuple[str, str], list[Manifest]]) -> None:
    values = environment_values("prod")
    values["global"]["platform"]["serviceAccounts"]["feature-store-sync"] = "arn:aws:iam::111122223333:role/x"
    problems = role_problems(by_chart(releases, "prod"), "prod", Terraform.from_values(values), "prod.yaml")
    assert problems == [
        "consistency/roles: prod.yaml: global.platform.serviceAccounts.feature-store-sync: Terraform gives service "
        "account feature-store-sync a role, but no chart creates it in mlops-prod"
    ]


def test_dev_may_run_without_roles(releases: dict[tuple[str, str], list[Manifest]]) -> None:
    assert role_problems(by_chart(releases, "dev"), "dev", Terraform.from_values({}), "dev.yaml") == []


# --------------------------------------------------------------------------- env-vars
def test_every_variable_the_cluster_config_reads_is_provided(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    for (chart, env), manifests in releases.items():
        assert env_var_problems(manifests, configs) == [], f"{chart}/{env}"


def test_serving_without_the_feast_variables_fails(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    def edit(body: dict[str, Any]) -> None:
        main = container(body)
        main["env"] = [e for e in main["env"] if e["name"] != "FEAST_POSTGRES_HOST"]
        main["command"][2] = main["command"][2].replace(". /vault/secrets/feast-postgres.env && ", "")

    broken = changed(releases[("serving", "prod")], "Deployment", "serving-champion", edit)
    problems = env_var_problems(broken, configs)
    assert [p.split(": container serving does not get ")[1].split(",")[0] for p in problems] == [
        "FEAST_OFFLINE_PASSWORD",
        "FEAST_POSTGRES_HOST",
        "FEAST_REGISTRY_PASSWORD",
    ]
    assert problems[1] == (
        "consistency/env-vars: infrastructure/helm/serving/templates/deployment.yaml with "
        "infrastructure/helm/serving/values-prod.yaml: Deployment/serving-champion: container serving does not get "
        "FEAST_POSTGRES_HOST, which the prod Feast config (serves with --features) reads (its env and "
        "/vault/secrets/feature-store.env do not set it)"
    )


def test_an_env_reference_of_the_platform_config_must_be_provided(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    staging = configs["staging"]
    with_reference = staging.model_copy(
        update={"privacy": staging.privacy.model_copy(update={"hash_key": "env://PII_KEY"})}
    )
    problems = env_var_problems(releases[("serving", "staging")], {**configs, "staging": with_reference})
    assert len(problems) == 1
    assert "does not get PII_KEY, which an env:// reference of the staging platform config reads" in problems[0]


# --------------------------------------------------------------------------- state-dir
def test_state_writers_have_a_writable_state_folder(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    for (chart, env), manifests in releases.items():
        assert state_dir_problems(manifests, configs)[0] == [], f"{chart}/{env}"


def test_a_state_folder_on_the_read_only_root_fails(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    def edit(body: dict[str, Any]) -> None:
        main = container(body)
        main["volumeMounts"] = [m for m in main["volumeMounts"] if m["name"] != "state"]

    broken = changed(releases[("serving", "dev")], "Deployment", "serving-champion", edit)
    problems, _ = state_dir_problems(broken, configs)
    assert problems == [
        "consistency/state-dir: infrastructure/helm/serving/templates/deployment.yaml with "
        "infrastructure/helm/serving/values-dev.yaml: Deployment/serving-champion: container serving runs "
        "`mlops serve` with state_dir /app/.mlops (the dev platform config), but no writable volume is mounted there"
    ]


def test_a_persistent_volume_beside_the_state_folder_is_noted(
    releases: dict[tuple[str, str], list[Manifest]], configs: dict[str, PlatformConfig]
) -> None:
    def edit(body: dict[str, Any]) -> None:
        spec = body["spec"]["template"]["spec"]
        spec["volumes"].append({"name": "keep", "persistentVolumeClaim": {"claimName": "keep"}})
        container(body)["volumeMounts"].append({"name": "keep", "mountPath": "/app/.mlops"})
        container(body)["volumeMounts"] = [m for m in container(body)["volumeMounts"] if m["name"] != "state"]

    broken = changed(releases[("serving", "prod")], "Deployment", "serving-champion", edit)
    problems, notes = state_dir_problems(broken, configs)
    assert problems == []
    assert len(notes) == 1
    assert "persistent volume at /app/.mlops, but state_dir /tmp/mlops is on the emptyDir at /tmp" in notes[0]


# --------------------------------------------------------------------------- through make validate-infra
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of what the validator reads (the npm validators are not needed here)."""
    root = tmp_path / "repo"
    for name in ("infrastructure", "secrets", "config"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("node_modules", ".terraform"))
    return root


def test_a_missing_environment_file_fails_the_render_and_the_check(repo: Path) -> None:
    (repo / STAGING_FILE).unlink()
    code, report = run_checks(repo, "helm-render", "consistency")
    assert code == 1
    render = failures(report, "helm-render")
    assert (
        "mlflow/staging: values file infrastructure/helm/environments/staging.yaml (listed by its Application) "
        "does not exist"
    ) in render
    assert f"consistency/terraform-keys: {STAGING_FILE} does not exist" in failures(report, "consistency")


def test_a_chart_rendered_without_terraform_values_names_the_missing_key(repo: Path) -> None:
    path = repo / STAGING_FILE
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    del values["global"]["platform"]["postgres"]["host"]
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    code, report = run_checks(repo, "helm-render")
    assert code == 1
    assert (
        "global.platform.postgres.host is not set: it comes from infrastructure/helm/environments/staging.yaml "
        "(terraform output helm_values)"
    ) in failures(report, "helm-render")


# --------------------------------------------------------------------------- the environment files
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_environment_files_are_what_the_generator_writes(env: str) -> None:
    """Committed files are the generator's output for Terraform's JSON (no hand edits)."""
    from infrastructure.validation.environment_values import environment_values as generate

    text = (ENVIRONMENTS / f"{env}.yaml").read_text(encoding="utf-8")
    terraform_json = json.loads(json.dumps(yaml.safe_load(text)))
    assert generate(terraform_json, env) == text


def test_the_generator_refuses_other_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from infrastructure.validation.environment_values import main

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"sensitive": False, "value": {}})))
    assert main(["--env", "prod"]) == 2
    assert "expected the helm_values output: an object with a `global` key" in capsys.readouterr().err


def test_cluster_consent_records_are_in_the_environments_database(configs: dict[str, PlatformConfig]) -> None:
    for env in ("staging", "prod"):
        terraform = Terraform.from_values(environment_values(env))
        assert consent_problems(env, configs[env], terraform, f"environments/{env}.yaml") == []
        # No URL: the records would be SQLite in the pods' emptyDir, and training would find no withdrawal.
        privacy = configs[env].privacy
        consent = privacy.consent.model_copy(update={"url": None})
        unset = configs[env].model_copy(update={"privacy": privacy.model_copy(update={"consent": consent})})
        (problem,) = consent_problems(env, unset, terraform, f"environments/{env}.yaml")
        assert problem.startswith(f"consistency/consent: config/environments/{env}.yaml privacy.consent.url is not set")
        assert "training would find no withdrawal" in problem
        # A host that is not the one Terraform built (a stale copy after a rebuilt instance).
        moved = Terraform.from_values({"global": {"platform": {"postgres": {"host": "db.elsewhere"}}}})
        (problem,) = consent_problems(env, configs[env], moved, f"environments/{env}.yaml")
        assert f"names host {terraform.postgres_host!r}, but the environment's database is 'db.elsewhere'" in problem
    # dev keeps them in SQLite under its state folder, as a laptop does.
    assert configs["dev"].privacy.consent.url is None
    assert consent_problems("dev", configs["dev"], Terraform.from_values({}), "environments/dev.yaml") == []
