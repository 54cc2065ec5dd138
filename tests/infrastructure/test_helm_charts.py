"""The Helm charts under infrastructure/helm and the platform image's Dockerfile.

The charts are rendered by the validator behind ``make validate-infra`` (:mod:`infrastructure.validation`:
``helm dependency build``, values.schema.json, ``helm lint --strict`` and ``helm template`` for every
chart x environment, once per session), and these tests read what it rendered. Its other checks
(``kubernetes-validate --strict``, the custom-resource schemas in infrastructure/validation/crds,
checkov, the policies) run on this repository in tests/infrastructure/test_validate_infra.py.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

import mlops
from components.image import PLATFORM_IMAGE, PLATFORM_IMAGE_REPOSITORY
from infrastructure.validation import Context, render_chart
from infrastructure.validation.checks.kubernetes_schema import CrdSchemas, kubernetes_version
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, release_values
from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS
from platform_config import load_platform_config

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "infrastructure" / "helm"
CHARTS = ("serving", "feature-store", "backups", "pipelines", "mlflow")
# The library chart every chart above depends on for the platform.* helpers.
LIBRARY = "platform-lib"
# Charts that run the platform image (the pipelines chart carries it inside the compiled IR).
IMAGE_CHARTS = ("serving", "feature-store", "backups", "mlflow")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
VAULT_TEMPLATES = ROOT / "secrets" / "vault" / "agent" / "templates"
VAULT_POLICIES = ROOT / "secrets" / "vault" / "policies"
# Agent templates only the charts have so far (not yet in secrets/vault/agent/templates).
CHART_ONLY_TEMPLATES = {
    # Feast's SQL registry and Postgres offline store passwords (feature_store/registry/cluster.yaml).
    "feast-postgres.env.ctmpl",
    # A libpq password file the backups chart fills in per database.
    "pgpass.ctmpl",
    # MLflow's backend store URI, with the database Terraform built written in.
    "mlflow.env.ctmpl",
}
# Leaves a values-<env>.yaml may change: environments differ by a small patch.
MAX_ENV_OVERRIDES = 10


def namespace(env: str) -> str:
    return f"mlops-{env}"


def render(chart: str, env: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """``helm template <chart> -f ../environments/<env>.yaml -f values-<env>.yaml`` (with
    overrides on top), as Argo CD renders it, through the validator: template path -> manifest text."""
    values = coalesce(release_values(HELM_DIR / chart, env), overrides or {})
    return render_chart(HELM_DIR / chart, values, release=chart, namespace=namespace(env))


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    return [
        doc
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt")
        for doc in load_yaml_documents(text)
    ]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]
    return doc["spec"]["template"]


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec["containers"]


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted paths (lists are one leaf)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def rendered(repository: Context) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(chart, env) -> the objects `make validate-infra` renders for it (Argo CD's release name
    and namespace)."""
    return {(r.chart, r.env): [m.body for m in r.manifests] for r in repository.rendered().renders}


@pytest.fixture(scope="module")
def crd_schemas(repository: Context) -> CrdSchemas:
    """The custom-resource schemas the kubernetes-schema check validates against."""
    return CrdSchemas(repository.layout.crds, kubernetes_version(repository.kube_version))


def workloads(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for (chart, env), docs in rendered.items():
        for doc in docs:
            if doc["kind"] in WORKLOAD_KINDS:
                yield f"{chart}/{env}: {doc['kind']} {doc['metadata']['name']}", doc


# --------------------------------------------------------------------------- version and image
def test_one_version_for_package_image_and_charts() -> None:
    for chart in CHARTS:
        meta = yaml.safe_load((HELM_DIR / chart / "Chart.yaml").read_text())
        assert meta["apiVersion"] == "v2", chart
        assert meta["appVersion"] == mlops.__version__, f"{chart}: appVersion differs from mlops.__version__"
        defaults = yaml.safe_load((HELM_DIR / chart / "values.yaml").read_text())
        if chart in IMAGE_CHARTS:
            assert defaults["image"]["repository"] == PLATFORM_IMAGE_REPOSITORY, chart
            # The tag comes from appVersion; a tag in values would be a second place to bump.
            assert defaults["image"]["tag"] == "", chart
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == mlops.__version__
    assert f"{PLATFORM_IMAGE_REPOSITORY}:{mlops.__version__}" == PLATFORM_IMAGE
    for env in ENVIRONMENTS:
        assert load_platform_config(ROOT / "config", env).kfp.image == PLATFORM_IMAGE, f"config kfp.image ({env})"


def test_workloads_run_the_platform_image_at_the_package_version(
    rendered: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    seen = 0
    for where, doc in workloads(rendered):
        for container in containers(pod_template(doc)["spec"]):
            if container["image"].startswith(PLATFORM_IMAGE_REPOSITORY):
                assert container["image"] == PLATFORM_IMAGE, where
                seen += 1
    assert seen


def test_image_tag_and_digest_overrides() -> None:
    digest = "sha256:" + "a" * 64
    tagged = manifests(render("serving", "dev", {"image": {"tag": "0.2.0-rc1"}}))
    pinned = manifests(render("serving", "dev", {"image": {"digest": digest}}))
    assert by_kind(tagged, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0-rc1")
    image = by_kind(pinned, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{PLATFORM_IMAGE_REPOSITORY}@{digest}"


# --------------------------------------------------------------------------- rendering and lint
def test_every_chart_renders_and_lints_in_every_environment(repository: Context) -> None:
    outcome = repository.rendered()
    assert not outcome.failures, "\n".join(outcome.failures)
    assert {(r.chart, r.env) for r in outcome.renders} == {(chart, env) for chart in CHARTS for env in ENVIRONMENTS}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("chart", CHARTS)
def test_chart_renders(rendered: dict[tuple[str, str], list[dict[str, Any]]], chart: str, env: str) -> None:
    docs = rendered.get((chart, env))
    assert docs, f"{chart}/{env} rendered nothing"
    for doc in docs:
        # Velero reads its Schedules only in its own namespace (the backups chart's velero.namespace);
        # KFP its Pipeline/PipelineVersion objects only in its own (the pipelines chart's kfp.namespace),
        # where its step pods also read their environment's ConfigMap.
        expected = {"Schedule": "velero", "Pipeline": "kubeflow", "PipelineVersion": "kubeflow"}.get(
            doc["kind"], namespace(env)
        )
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "mlops-pipeline-steps":
            expected = "kubeflow"
        assert doc["metadata"].get("namespace") == expected, f"{chart}/{env}: {doc['kind']} not in namespace {expected}"
        assert doc["metadata"]["labels"]["mlops-platform/environment"] == env


def test_the_shared_helpers_come_from_the_library_chart() -> None:
    library = yaml.safe_load((HELM_DIR / LIBRARY / "Chart.yaml").read_text())
    assert library["type"] == "library"
    helpers = set(
        re.findall(r'define "(platform\.[\w.]+)"', (HELM_DIR / LIBRARY / "templates" / "_platform.tpl").read_text())
    )
    assert helpers
    for chart in CHARTS:
        meta = yaml.safe_load((HELM_DIR / chart / "Chart.yaml").read_text())
        dependency = {"name": LIBRARY, "version": library["version"], "repository": f"file://../{LIBRARY}"}
        assert dependency in meta.get("dependencies", []), f"{chart}: Chart.yaml does not depend on {LIBRARY}"
        lock = yaml.safe_load((HELM_DIR / chart / "Chart.lock").read_text())
        assert {"name": LIBRARY, "version": library["version"]}.items() <= lock["dependencies"][0].items(), chart
        # A chart's own copy of a helper would silently win over the library's.
        for template in (HELM_DIR / chart / "templates").iterdir():
            copied = helpers & set(re.findall(r'define "([\w.]+)"', template.read_text()))
            assert not copied, f"{chart}/templates/{template.name} defines {sorted(copied)} again"


# --------------------------------------------------------------------------- values schemas
SCHEMA_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # chart: (misspelt nested key, wrong type)
    "serving": ({"autoscaling": {"maxReplica": 4}}, {"replicas": "two"}),
    "feature-store": ({"materialize": {"schedul": "0 1 * * *"}}, {"featureServer": {"enabled": "yes"}}),
    "backups": ({"objectStore": {"buckets": "x"}}, {"velero": {"enabled": "true"}}),
    "mlflow": ({"database": {"nam": "mlflow"}}, {"workers": "two"}),
    "pipelines": ({"kfp": {"serviceAcount": "x"}}, {"schedules": {"batch-inference-nightly": {"maxConcurrency": "1"}}}),
}


def schema_error(chart: str, values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(chart, "dev", values)
    return str(caught.value)


@pytest.mark.parametrize("chart", CHARTS)
def test_schema_rejects_misspelt_keys(chart: str) -> None:
    assert "'environmnt' not allowed" in schema_error(chart, {"environmnt": "prod"})
    nested, _ = SCHEMA_CASES[chart]
    misspelt = next(iter(leaves(nested))).split(".")[-1]
    assert f"'{misspelt}' not allowed" in schema_error(chart, nested)


@pytest.mark.parametrize("chart", CHARTS)
def test_schema_rejects_wrong_types(chart: str) -> None:
    _, wrong = SCHEMA_CASES[chart]
    path = next(iter(leaves(wrong)))
    message = schema_error(chart, wrong)
    assert "/" + path.replace(".", "/") in message, message
    assert "got string" in message, message
    assert "must be one of" in schema_error(chart, {"environment": "production"})


def test_environment_files_are_small_patches() -> None:
    for chart in CHARTS:
        defaults = leaves(yaml.safe_load((HELM_DIR / chart / "values.yaml").read_text()))
        for env in ENVIRONMENTS:
            patch = leaves(yaml.safe_load((HELM_DIR / chart / f"values-{env}.yaml").read_text()))
            assert patch["environment"] == env, f"{chart}/values-{env}.yaml"
            changed = {k for k, v in patch.items() if defaults.get(k) != v}
            assert len(changed) <= MAX_ENV_OVERRIDES, f"{chart}/values-{env}.yaml changes {sorted(changed)}"
            top = {k.split(".")[0] for k in patch}
            assert len(top) <= 5, f"{chart}/values-{env}.yaml touches {sorted(top)}"


# --------------------------------------------------------------------------- custom resources
PIPELINE_VERSION = "infrastructure/helm/pipelines/templates/pipelines.yaml"


def test_custom_resource_schemas_reject_misspelt_fields(
    rendered: dict[tuple[str, str], list[dict[str, Any]]], crd_schemas: CrdSchemas
) -> None:
    version = by_kind(rendered[("pipelines", "prod")], "PipelineVersion")[0]
    assert crd_schemas.errors(Manifest(PIPELINE_VERSION, version)) == []
    broken = copy.deepcopy(version)
    broken["spec"]["pipelineNme"] = broken["spec"].pop("pipelineName")
    errors = crd_schemas.errors(Manifest(PIPELINE_VERSION, broken))
    assert errors
    assert any("pipelineNme" in error for error in errors), errors


# --------------------------------------------------------------------------- Dockerfile
def test_dockerfile_ships_every_room() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    rooms = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]) | {"config"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert copied == rooms, f"Dockerfile copies {sorted(copied)}, the rooms are {sorted(rooms)}"
    allowed = {
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    assert rooms | {"pyproject.toml", "uv.lock", "README.md"} <= allowed
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64} AS base$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["mlops"\]$', dockerfile, re.MULTILINE)
    assert "openjdk-17-jre-headless" in dockerfile


# --------------------------------------------------------------------------- workload policy
def test_workloads_are_locked_down(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    checked = 0
    for where, doc in workloads(rendered):
        spec = pod_template(doc)["spec"]
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == 10001, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for c in containers(spec):
            at = f"{where} container {c['name']}"
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, at
            assert sc["runAsUser"] == 10001, at
            assert sc["readOnlyRootFilesystem"] is True, at
            assert sc["allowPrivilegeEscalation"] is False, at
            assert sc["capabilities"] == {"drop": ["ALL"]}, at
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, at
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"].get(part, {})), f"{at}: resources.{part}"
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]), f"{at}: unpinned {image}"
            assert not image.endswith(":latest"), at
            assert c["imagePullPolicy"] in {"Always", "IfNotPresent"}, at
            if doc["kind"] == "Deployment" and c in spec["containers"]:
                assert c.get("livenessProbe"), f"{at}: livenessProbe"
                assert c.get("readinessProbe"), f"{at}: readinessProbe"
            checked += 1
    assert checked


def test_no_secret_values_in_manifests(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    secretish = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|ACCESS_KEY)", re.IGNORECASE)
    for (chart, env), docs in rendered.items():
        assert not by_kind(docs, "Secret"), f"{chart}/{env} renders a Secret"
        for doc in docs:
            if doc["kind"] not in WORKLOAD_KINDS:
                continue
            for c in containers(pod_template(doc)["spec"]):
                for var in c.get("env", []):
                    # A *_FILE variable naming a Vault-rendered file is a reference, not a value.
                    reference = var["name"].endswith("_FILE") and var.get("value", "").startswith("/vault/secrets/")
                    assert reference or not (secretish.search(var["name"]) and "value" in var), (
                        f"{chart}/{env}: {var['name']}"
                    )


def test_every_pod_is_behind_a_default_deny_policy(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    for (chart, env), docs in rendered.items():
        policies = by_kind(docs, "NetworkPolicy")
        deny = [
            p
            for p in policies
            if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        for doc in docs:
            if doc["kind"] not in WORKLOAD_KINDS:
                continue
            labels = pod_template(doc)["metadata"]["labels"]
            selecting = [p for p in deny if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
            assert selecting, f"{chart}/{env}: {doc['metadata']['name']} has no default-deny policy"
            egress = [rule for p in policies for rule in p["spec"].get("egress", [])]
            assert any(port.get("port") == 53 for rule in egress for port in rule["ports"]), f"{chart}/{env}: DNS"


# --------------------------------------------------------------------------- Vault
def policy_paths(role: str) -> list[re.Pattern[str]]:
    text = (VAULT_POLICIES / f"{role}.hcl").read_text()
    globs = re.findall(r'^path "([^"]+)"', text, flags=re.MULTILINE)
    return [re.compile("^" + re.escape(g).replace(r"\+", "[^/]+").replace(r"\*", ".*") + "$") for g in globs]


ROLE_POLICY = {"serving": "serving", "feature-store": "feature-store", "backup": "backup", "mlflow": "mlflow"}


def test_workloads_read_secrets_through_the_vault_agent(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    for where, doc in workloads(rendered):
        env = doc["metadata"]["labels"]["mlops-platform/environment"]
        template = pod_template(doc)
        annotations = template["metadata"]["annotations"]
        if annotations.get("mlops.platform/reads-secrets") == "false":  # says so, and gets no agent
            assert not any(k.startswith("vault.hashicorp.com/") for k in annotations), where
            continue
        assert annotations["vault.hashicorp.com/agent-inject"] == "true", where
        role = annotations["vault.hashicorp.com/role"]
        allowed = policy_paths(ROLE_POLICY[role])
        secrets = {k.rsplit("-secret-", 1)[1]: v for k, v in annotations.items() if "/agent-inject-secret-" in k}
        assert secrets, f"{where}: no secrets"
        for name, path in secrets.items():
            assert any(p.match(path) for p in allowed), f"{where}: role {role} may not read {path}"
            assert path.startswith(f"secret/data/mlops/{env}/"), f"{where}: {path}"
            body = annotations[f"vault.hashicorp.com/agent-inject-template-{name}"]
            assert f"mlops/{env}/" in body or f'"{env}"' in body, f"{where}: {name} does not name the environment"
            assert 'env "MLOPS_ENV"' not in body, f"{where}: the injected agent has no MLOPS_ENV"
            assert annotations[f"vault.hashicorp.com/agent-inject-perms-{name}"] == "0400", where
        if doc["kind"] in ("Job", "CronJob"):
            assert annotations["vault.hashicorp.com/agent-pre-populate-only"] == "true", (
                f"{where}: a sidecar never ends"
            )
        # The agent logs in with a projected token; the app containers get no token at all.
        token_volume = annotations["vault.hashicorp.com/agent-service-account-token-volume-name"]
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == token_volume)
        assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "vault", where
        for c in containers(template["spec"]):
            assert token_volume not in {m["name"] for m in c.get("volumeMounts", [])}, where


def test_agent_templates_mirror_the_repository() -> None:
    for chart in CHARTS:
        for path in sorted((HELM_DIR / chart / "files" / "vault").glob("*.ctmpl")):
            source = VAULT_TEMPLATES / path.name
            if source.exists():
                assert path.read_text() == source.read_text(), f"{chart}: {path.name} differs from {source}"
            else:
                assert path.name in CHART_ONLY_TEMPLATES, f"{chart}: {path.name} is in neither {VAULT_TEMPLATES}"


# --------------------------------------------------------------------------- serving
def test_serving_shadow_modes() -> None:
    def deployments(mode: str) -> dict[str, list[str]]:
        docs = manifests(render("serving", "staging", {"shadow": {"mode": mode}}))
        return {
            d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["args"]
            for d in by_kind(docs, "Deployment")
        }

    assert {k: "--shadow" in v for k, v in deployments("inProcess").items()} == {"serving-champion": True}
    assert {k: "--shadow" in v for k, v in deployments("off").items()} == {"serving-champion": False}
    assert {k: "--shadow" in v for k, v in deployments("deployment").items()} == {
        "serving-champion": False,
        "serving-shadow": True,
    }
    docs = manifests(render("serving", "staging", {"shadow": {"mode": "deployment"}}))
    mirror = by_kind(docs, "Ingress")[0]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/mirror-target"]
    assert mirror.startswith("http://serving-shadow.mlops-staging.svc:")
    assert {s["metadata"]["name"] for s in by_kind(docs, "Service")} == {"serving-champion", "serving-shadow"}


def test_serving_autoscaling_owns_the_replica_count(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    prod, dev = rendered[("serving", "prod")], rendered[("serving", "dev")]
    assert "replicas" not in by_kind(prod, "Deployment")[0]["spec"]
    assert by_kind(prod, "HorizontalPodAutoscaler")[0]["spec"]["minReplicas"] >= 2
    assert by_kind(dev, "Deployment")[0]["spec"]["replicas"] == 1
    assert not by_kind(dev, "HorizontalPodAutoscaler")
    assert by_kind(dev, "ServiceMonitor")
    assert by_kind(dev, "PodDisruptionBudget")


# --------------------------------------------------------------------------- pipelines chart
PIPELINE_FILES = HELM_DIR / "pipelines" / "files"
REGENERATE = "run `.venv/bin/python tests/infrastructure/test_helm_charts.py --regenerate`"


def regenerate_pipeline_files(out: Path) -> None:
    """Compile the pipelines and dump each environment's platform config into ``out``."""
    from pipelines.batch_inference import compile_batch_inference
    from pipelines.submit import compile_training

    compile_training(out / "pipelines" / "training.yaml")
    compile_batch_inference(out / "pipelines" / "batch-inference.yaml")
    (out / "platform-config").mkdir(parents=True, exist_ok=True)
    for env in ENVIRONMENTS:
        # The keys the config files set (validated): the same config once loaded, and short.
        dumped = load_platform_config(ROOT / "config", env).model_dump(mode="json", exclude_unset=True)
        (out / "platform-config" / f"{env}.json").write_text(json.dumps(dumped, indent=2) + "\n")


def test_pipeline_files_are_current(tmp_path: Path) -> None:
    regenerate_pipeline_files(tmp_path)
    for fresh in sorted(tmp_path.rglob("*.*")):
        carried = PIPELINE_FILES / fresh.relative_to(tmp_path)
        assert carried.exists(), f"{carried} is missing: {REGENERATE}"
        assert carried.read_text() == fresh.read_text(), f"{carried} is stale: {REGENERATE}"


def test_pipeline_versions_carry_the_compiled_ir(rendered: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    docs = rendered[("pipelines", "prod")]
    versions = {d["spec"]["pipelineName"]: d for d in by_kind(docs, "PipelineVersion")}
    assert (
        set(versions) == {p["metadata"]["name"] for p in by_kind(docs, "Pipeline")} == {"training", "batch-inference"}
    )
    for name, doc in versions.items():
        assert doc["metadata"]["name"] == f"{name}-{mlops.__version__}"
        ir = yaml.safe_load((PIPELINE_FILES / "pipelines" / f"{name}.yaml").read_text())
        assert doc["spec"]["pipelineSpec"] == ir, f"{name}: the IR changed on its way through the template"


# The schedules (recurring runs through the KFP API): tests/infrastructure/test_kfp_schedules.py.


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(
            f"usage: {sys.argv[0]} --regenerate  (rewrites {PIPELINE_FILES.relative_to(ROOT)} and backups' strategies)"
        )
    regenerate_pipeline_files(PIPELINE_FILES)
    print(f"regenerated {PIPELINE_FILES.relative_to(ROOT)}")
    from tests.infrastructure.test_backups_chart import COPIES, regenerate_strategy_files

    regenerate_strategy_files(COPIES)
    print(f"regenerated {COPIES.relative_to(ROOT)}")
