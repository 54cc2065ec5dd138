"""Argo CD manifests under infrastructure/argocd: CRD-schema validation and GitOps policy.

Schemas come from the npm package @kubernetes-models/argo-cd (infrastructure/validation), run
by infrastructure/validation/argocd-validate.mjs. The ApplicationSet is expanded into the
Applications Argo CD would generate by the validator (:mod:`infrastructure.validation`), and
those are validated and checked too.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.validation import Context, Layout, MissingToolError
from infrastructure.validation.applications import expand_applications
from infrastructure.validation.checks.argocd_projects import application_problems
from infrastructure.validation.manifests import Manifest
from infrastructure.validation.tools import node_command
from mlops.config import CLUSTER_ENVIRONMENTS, ENVIRONMENTS

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "infrastructure" / "argocd"
APPLICATION_SET = ARGOCD / "applicationset.yaml"
REPO_URL = "https://github.com/mlops-platform/mlops-platform.git"
CHARTS = ("mlflow", "feature-store", "serving", "pipelines", "backups")
IN_CLUSTER = "https://kubernetes.default.svc"


# --------------------------------------------------------------------------- loading
@cache
def documents() -> tuple[tuple[Path, dict[str, Any]], ...]:
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(ARGOCD.glob("*.yaml")):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return tuple(found)


def environments() -> list[str]:
    """The env elements of the ApplicationSet's generator, in order."""
    (generator,) = application_set()["spec"]["generators"]
    return [
        e["env"] for g in generator["matrix"]["generators"] if "list" in g for e in g["list"]["elements"] if "env" in e
    ]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def projects() -> dict[str, dict[str, Any]]:
    return by_kind("AppProject")


def application_set() -> dict[str, Any]:
    sets = by_kind("ApplicationSet")
    assert list(sets) == ["mlops-workloads"]
    return sets["mlops-workloads"]


# --------------------------------------------------------------------------- the validator
def run_validator(*paths: Path) -> subprocess.CompletedProcess[str]:
    try:
        command = node_command(
            Layout(REPO, REPO / "build" / "infra"), "argocd-validate.mjs", "@kubernetes-models/argo-cd"
        )
    except MissingToolError as exc:
        pytest.skip(str(exc))
    return subprocess.run(
        [*command, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MLOPS_PYTHON": sys.executable},
    )


def test_manifests_are_valid_against_the_crd_schemas() -> None:
    files = sorted(ARGOCD.glob("*.yaml"))
    result = run_validator(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(documents())} Argo CD document(s) in {len(files)} file(s): valid" in result.stdout


def write_yaml(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_validator_names_misspelt_fields_and_wrong_types(tmp_path: Path) -> None:
    root = copy.deepcopy(by_kind("Application")["mlops-root"])
    root["spec"]["syncPolicy"]["automatd"] = root["spec"]["syncPolicy"].pop("automated")
    root["spec"]["source"]["targetRevision"] = 7
    appset = copy.deepcopy(application_set())
    appset["spec"]["template"]["spec"]["source"]["helm"]["valuesFiles"] = ["values.yaml"]
    appset["spec"]["goTemplate"] = "yes"
    project = copy.deepcopy(projects()["mlops-prod"])
    project["spec"]["sourceRepos"] = REPO_URL
    project["spec"]["syncWindows"][0]["manualSynk"] = True
    broken = write_yaml(tmp_path / "broken.yaml", [root, appset, project])

    result = run_validator(broken)

    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    expected = [
        'Application/mlops-root: /spec/syncPolicy/automatd: unknown field (did you mean "automated"?)',
        "Application/mlops-root: /spec/source/targetRevision: must be string",
        "ApplicationSet/mlops-workloads: /spec/template/spec/source/helm/valuesFiles: unknown field",
        "ApplicationSet/mlops-workloads: /spec/goTemplate: must be boolean",
        "AppProject/mlops-prod: /spec/sourceRepos: must be array",
        "AppProject/mlops-prod: /spec/syncWindows/0/manualSynk: unknown field",
    ]
    for fragment in expected:
        assert any(line.startswith(f"{broken}: ") and fragment in line for line in lines), (fragment, lines)
    assert lines[-1].endswith(f"{len(expected)} problem(s)"), lines[-1]


def test_validator_rejects_unreadable_yaml_and_foreign_kinds(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: Application\nmetadata: {name: x\n")
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}))
    result = run_validator(bad_yaml, deployment)
    assert result.returncode == 1
    assert f"{bad_yaml}: cannot read:" in result.stdout
    assert f"{deployment}: Deployment/d: /kind: not an Argo CD kind" in result.stdout


def test_validator_usage() -> None:
    assert run_validator().returncode == 2


# --------------------------------------------------------------------------- ApplicationSet expansion
@cache
def generated() -> dict[str, dict[str, Any]]:
    """name → the Application the ApplicationSet generates, as the validator expands it."""
    appset = application_set()
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    assert "missingkey=error" in spec["goTemplateOptions"]
    expanded, problems = expand_applications(Manifest(APPLICATION_SET.relative_to(REPO).as_posix(), appset))
    assert not problems, problems
    apps: dict[str, dict[str, Any]] = {}
    for _, application in expanded:
        name = application["metadata"]["name"]
        assert name not in apps, f"duplicate Application {name}"
        apps[name] = application
    return apps


def app(chart: str, env: str) -> dict[str, Any]:
    return generated()[f"{chart}-{env}"]


def test_every_environment_is_declared_everywhere() -> None:
    """An environment is a Terraform live/environments/<env>, a platform config overlay, an
    AppProject and an ApplicationSet element (docs/platform/adding-an-environment.md); the
    local reference deployment (`local-stack`) has a platform config overlay only."""
    envs = set(environments())
    assert {"dev", "staging", "prod"} <= envs
    assert set(CLUSTER_ENVIRONMENTS) == envs
    live = REPO / "infrastructure" / "terraform" / "live" / "environments"
    assert {p.name for p in live.iterdir() if p.is_dir()} == envs
    assert {p.stem for p in (REPO / "config" / "environments").glob("*.yaml")} == envs | {"local-stack"}
    assert set(ENVIRONMENTS) == envs | {"local-stack"}
    assert {name.removeprefix("mlops-") for name in projects()} - {"bootstrap"} == envs


def test_every_chart_in_every_environment_is_generated(tmp_path: Path) -> None:
    (generator,) = application_set()["spec"]["generators"]
    keys = [{key for element in g["list"]["elements"] for key in element} for g in generator["matrix"]["generators"]]
    assert not set.intersection(*keys), "the matrix generators share parameters: one would hide the other"
    assert set(generated()) == {f"{chart}-{env}" for chart in CHARTS for env in environments()}
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(list(generated().values())))
    result = run_validator(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_applications_render_the_chart_with_its_environment_values() -> None:
    for chart, env in itertools.product(CHARTS, environments()):
        spec = app(chart, env)["spec"]
        source = spec["source"]
        assert source["repoURL"] == REPO_URL
        assert source["path"] == f"infrastructure/helm/{chart}"
        # The chart's defaults, what Terraform built for the environment, the environment's patch.
        assert source["helm"]["valueFiles"] == ["values.yaml", f"../environments/{env}.yaml", f"values-{env}.yaml"]
        assert source["helm"]["releaseName"] == chart
        for values in source["helm"]["valueFiles"]:
            assert (REPO / source["path"] / values).is_file(), f"{source['path']}/{values} does not exist"
        assert spec["project"] == f"mlops-{env}"
        assert spec["destination"] == {"name": f"mlops-{env}", "namespace": f"mlops-{env}"}
        assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]


def test_namespaces_enforce_pod_security_restricted() -> None:
    """Every workload meets "restricted" (the pod_security policies check the renders), so the
    namespaces Argo CD creates enforce it rather than only warning."""
    for name, application in generated().items():
        labels = application["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", f"{name}: {mode}"


def test_prod_is_never_synced_automatically() -> None:
    appset = application_set()
    assert "automated" not in appset["spec"]["template"]["spec"]["syncPolicy"], "only the patch may add automation"
    for chart in CHARTS:
        assert "automated" not in app(chart, "prod")["spec"]["syncPolicy"], f"{chart}-prod syncs automatically"
    window = projects()["mlops-prod"]["spec"]["syncWindows"]
    assert any(w["kind"] == "deny" and w["applications"] == ["*"] and w["manualSync"] is True for w in window)


def test_dev_and_staging_sync_automatically_with_prune_and_self_heal() -> None:
    for chart, env in itertools.product(CHARTS, ("dev", "staging")):
        policy = app(chart, env)["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, f"{chart}-{env}"
        # The patch adds automation without dropping the template's other sync settings.
        assert policy["syncOptions"]
        assert policy["retry"]["limit"] > 0


def test_sync_waves_put_the_feature_store_first_and_backups_last() -> None:
    for env in environments():
        wave = {}
        for chart in CHARTS:
            metadata = app(chart, env)["metadata"]
            wave[chart] = int(metadata["annotations"]["argocd.argoproj.io/sync-wave"])
            assert metadata["labels"]["mlops-platform/wave"] == str(wave[chart])
            assert metadata["labels"]["mlops-platform/env"] == env
        # The registry and the feature store before the workloads that use them.
        assert wave["mlflow"] == wave["feature-store"] < wave["serving"] == wave["pipelines"] < wave["backups"], wave
    # In the root app's own sync, projects exist before the ApplicationSet that names them.
    for project in projects().values():
        assert int(project["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0


# --------------------------------------------------------------------------- projects
def test_projects_trust_only_this_repository() -> None:
    assert set(projects()) == {"mlops-bootstrap", *(f"mlops-{env}" for env in environments())}
    for name, project in projects().items():
        assert project["spec"]["sourceRepos"] == [REPO_URL], name


def test_project_destinations_are_single_namespaces_on_named_clusters() -> None:
    for env in environments():
        spec = projects()[f"mlops-{env}"]["spec"]
        # velero: the backups chart's Velero Schedules, which Velero reads in its own namespace only;
        # kubeflow: the pipelines chart's Pipeline/PipelineVersion objects, likewise for KFP.
        assert spec["destinations"] == [
            {"name": f"mlops-{env}", "namespace": f"mlops-{env}"},
            {"name": f"mlops-{env}", "namespace": "velero"},
            {"name": f"mlops-{env}", "namespace": "kubeflow"},
        ]
    bootstrap = projects()["mlops-bootstrap"]["spec"]
    assert bootstrap["destinations"] == [{"server": IN_CLUSTER, "namespace": "argocd"}]
    for name, project in projects().items():
        for destination in project["spec"]["destinations"]:
            assert "*" not in json.dumps(destination), f"{name}: wildcard destination {destination}"


def test_projects_allow_only_what_the_workloads_need() -> None:
    bootstrap = projects()["mlops-bootstrap"]["spec"]
    assert bootstrap["clusterResourceWhitelist"] == []
    assert {k["kind"] for k in bootstrap["namespaceResourceWhitelist"]} == {
        "AppProject",
        "ApplicationSet",
        "Application",
    }
    lists = []
    for env in environments():
        spec = projects()[f"mlops-{env}"]["spec"]
        assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
        kinds = spec["namespaceResourceWhitelist"]
        assert "*" not in json.dumps(kinds)
        assert {"group": "", "kind": "Secret"} not in kinds, "secrets come from Vault, never from Git"
        lists.append(kinds)
        for role in spec["roles"]:
            for policy in role["policies"]:
                assert policy.startswith(f"p, proj:mlops-{env}:{role['name']}, ")
                assert f"mlops-{env}/*" in policy
                assert ", delete," not in policy, policy
                assert ", *," not in policy, policy
    assert all(kinds == lists[0] for kinds in lists), "environment projects must allow the same kinds"


def test_generated_applications_stay_inside_their_project() -> None:
    for name, application in generated().items():
        project = projects()[application["spec"]["project"]]["spec"]
        assert application["spec"]["source"]["repoURL"] in project["sourceRepos"], name
        assert application["spec"]["destination"] in project["destinations"], name


def test_what_each_application_renders_is_allowed_by_its_project(repository: Context) -> None:
    """Every generated Application's chart as Argo CD renders it (same path, value files, release
    name and namespace; the validator's render), against its project as the argocd-projects
    check judges it: each object's kind is whitelisted and it stays in the destination
    namespace, otherwise Argo CD would refuse the sync."""
    renders = {(render.chart, render.env): render for render in repository.rendered().renders}
    project_file = (ARGOCD / "projects.yaml").relative_to(REPO).as_posix()
    project_objects = {name: Manifest(project_file, body) for name, body in projects().items()}
    for name, application in generated().items():
        problems, checked = application_problems(repository.layout, application, project_objects, renders)
        assert not problems, f"{name}: {problems}"
        assert checked, f"{name}: its chart rendered nothing"


# --------------------------------------------------------------------------- bootstrap
def test_root_app_manages_this_directory_without_pruning() -> None:
    apps = by_kind("Application")
    assert list(apps) == ["mlops-root"]
    root = apps["mlops-root"]["spec"]
    assert root["project"] == "mlops-bootstrap"
    assert root["source"]["repoURL"] == REPO_URL
    assert root["source"]["path"] == ARGOCD.relative_to(REPO).as_posix()
    assert root["destination"] == {"server": IN_CLUSTER, "namespace": "argocd"}
    assert root["syncPolicy"]["automated"] == {"prune": False, "selfHeal": True}
    assert application_set()["spec"]["syncPolicy"]["applicationsSync"] == "create-update"


def test_yamllint_is_clean() -> None:
    yamllint = Path(sys.executable).parent / "yamllint"
    if not yamllint.exists():
        pytest.skip("yamllint is not installed")
    result = subprocess.run([str(yamllint), "-s", str(ARGOCD)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout
