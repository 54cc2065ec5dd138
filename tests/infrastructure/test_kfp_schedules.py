"""The pipelines chart's KFP objects and schedules, as KFP will take them.

- Pipeline/PipelineVersion objects render in KFP's namespace (``kfp.namespace``), not the release's.
- The schedule-sync Job's spec, taken from each environment's render, becomes the exact
  create-recurring-run request (:mod:`pipelines.schedules`), and every parameter in it has the JSON
  type the compiled pipeline's input declares (``files/pipelines/<pipeline>.yaml``,
  ``root.inputDefinitions``): the STRING ``platform_config`` is the environment's config as JSON text.
- The Job is an Argo CD PostSync hook, locked down, allowed to reach the KFP API only.
- ``make validate-infra``'s ``kfp`` check (and ``argocd-projects``' namespace kinds) fail on the
  broken forms: a KFP object outside KFP's namespace, a ScheduledWorkflow, a local ``/data`` path,
  a parameter of the wrong type, another kind sent to KFP's namespace.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from infrastructure.validation import Context, render_chart
from infrastructure.validation.checks.kfp import namespace_problems, schedule_problems
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, load_values, release_values
from mlops.config import CLUSTER_ENVIRONMENTS as ENVIRONMENTS
from pipelines.schedules import SchedulesSpec, recurring_run_request
from platform_config import PlatformConfig, load_platform_config
from tests.infrastructure.validator import ROOT, failures, run_checks

CHART = ROOT / "infrastructure" / "helm" / "pipelines"
IR_DIR = CHART / "files" / "pipelines"
NIGHTLY = "batch-inference-nightly"
SPEC_KEY = "schedules.json"
# The JSON type the API's runtime_config.parameters must carry for each IR parameter type.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (float,),
    "BOOLEAN": (bool,),
    "STRUCT": (dict,),
    "LIST": (list,),
}


def render(env: str, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The pipelines chart for ``env`` as Argo CD renders it (Terraform's values, the env file, overrides)."""
    values = coalesce(release_values(CHART, env), overrides or {})
    rendered = render_chart(CHART, values, release="pipelines", namespace=f"mlops-{env}")
    return [
        doc
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt")
        for doc in load_yaml_documents(text)
    ]


@pytest.fixture(scope="module")
def renders(repository: Context) -> dict[str, list[dict[str, Any]]]:
    """env -> the pipelines chart's objects, as `make validate-infra` renders them."""
    return {r.env: [m.body for m in r.manifests] for r in repository.rendered().renders if r.chart == "pipelines"}


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def sync_spec(docs: list[dict[str, Any]]) -> SchedulesSpec:
    [config_map] = [
        d
        for d in of_kind(docs, "ConfigMap")
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "sync-schedules"
    ]
    return SchedulesSpec.model_validate(json.loads(config_map["data"][SPEC_KEY]))


# --------------------------------------------------------------------------- the API request
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_request_from_the_values_matches_the_compiled_inputs(
    renders: dict[str, list[dict[str, Any]]], env: str
) -> None:
    from pipelines.batch_inference import SCHEDULE, recurring_run_arguments

    spec = sync_spec(renders[env])
    assert spec.namespace == "kubeflow"
    assert set(spec.schedules) == {NIGHTLY}
    for name, schedule in spec.schedules.items():
        ir = yaml.safe_load((IR_DIR / f"{schedule.pipeline}.yaml").read_text())
        body = recurring_run_request(
            name, schedule, pipeline_spec=ir, experiment_id="e", pipeline_id="p", pipeline_version_id="v"
        ).body()
        inputs = ir["root"]["inputDefinitions"]["parameters"]
        parameters = body["runtime_config"]["parameters"]
        for key, value in parameters.items():
            kind = inputs[key]["parameterType"]
            assert isinstance(value, JSON_TYPES[kind]), f"{env}: {name}.{key}: {value!r} is not a {kind}"
            assert not (kind != "BOOLEAN" and isinstance(value, bool)), f"{env}: {name}.{key}"
        required = {k for k, d in inputs.items() if "defaultValue" not in d and not d.get("isOptional")}
        assert required <= set(parameters), f"{env}: {name} misses {required - set(parameters)}"
        # The step parses the STRING platform_config: the environment's own config, as JSON text.
        passed = PlatformConfig.model_validate_json(parameters["platform_config"])
        assert passed == load_platform_config(ROOT / "config", env)
        # Data comes from the environment's artifacts bucket, never a path inside the pod.
        terraform = load_values(ROOT / "infrastructure" / "helm" / "environments" / f"{env}.yaml")
        bucket = terraform["global"]["platform"]["buckets"]["artifacts"]
        assert parameters["input_path"].startswith(f"s3://{bucket}/")
        assert parameters["output_root"].startswith(f"s3://{bucket}/")
        # pipelines/batch_inference.py's schedule: the cron and the one-at-a-time, no-catch-up policy.
        expected = recurring_run_arguments(Path("x.yaml"), experiment_id="x", params={})
        assert body["trigger"] == {"cron_schedule": {"cron": SCHEDULE}}
        assert body["max_concurrency"] == expected["max_concurrency"]
        assert body["no_catchup"] == expected["no_catchup"]
        assert body["service_account"] == "pipeline-runner"
        # The Job schedules this release's version: the one the chart renders, with the same IR.
        [version] = [
            v for v in of_kind(renders[env], "PipelineVersion") if v["metadata"]["name"] == schedule.pipeline_version
        ]
        assert version["spec"]["pipelineSpec"] == ir


def test_schedule_parameters_are_checked_when_rendering() -> None:
    with pytest.raises(
        helm.HelmRenderError,
        match=r"schedules\.batch-inference-nightly\.parameters\.model_nme: pipeline batch-inference has no such input",
    ):
        render("prod", {"schedules": {NIGHTLY: {"parameters": {"model_nme": "x"}}}})
    with pytest.raises(
        helm.HelmRenderError, match=r"schedules\.nightly-training\.parameters\.config: required by pipeline training"
    ):
        render("prod", {"schedules": {"nightly-training": {**_schedule(), "pipeline": "training", "parameters": {}}}})
    with pytest.raises(helm.HelmValuesError, match="pipelineId"):
        render("prod", {"schedules": {NIGHTLY: {"pipelineId": "0b5c7f4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"}}})


def _schedule() -> dict[str, Any]:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["schedules"][NIGHTLY]
    return {k: v for k, v in defaults.items() if k != "parameters"}


# --------------------------------------------------------------------------- where the objects go
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kfp_objects_render_in_kfps_namespace(renders: dict[str, list[dict[str, Any]]], env: str) -> None:
    docs = renders[env]
    kfp_objects = [d for d in docs if d["apiVersion"].startswith("pipelines.kubeflow.org/")]
    assert {d["kind"] for d in kfp_objects} == {"Pipeline", "PipelineVersion"}
    assert {d["metadata"]["namespace"] for d in kfp_objects} == {"kubeflow"}
    assert not of_kind(docs, "ScheduledWorkflow")
    # The step pods' environment goes where KFP creates the step pods; everything else stays in
    # the release's namespace.
    [step_env] = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mlops-pipeline-steps"]
    assert step_env["metadata"]["namespace"] == "kubeflow"
    rest = [d for d in docs if d not in kfp_objects and d is not step_env]
    assert {d["metadata"]["namespace"] for d in rest} == {f"mlops-{env}"}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_step_pods_get_the_feast_variables_with_references_for_passwords(
    renders: dict[str, list[dict[str, Any]]], env: str
) -> None:
    """The build-features step opens the cluster's Feast config from this ConfigMap's variables
    (loaded by KFP's workflow defaults); the database host is Terraform's, the passwords are
    vault:// references the step resolves with its own login."""
    from feature_store.registry.loader import load_template, template_variables

    [step_env] = [d for d in of_kind(renders[env], "ConfigMap") if d["metadata"]["name"] == "mlops-pipeline-steps"]
    data = step_env["data"]
    terraform = load_values(ROOT / "infrastructure" / "helm" / "environments" / f"{env}.yaml")
    assert data["FEAST_POSTGRES_HOST"] == terraform["global"]["platform"]["postgres"]["host"]
    assert template_variables(load_template(env)) - {"FEAST_STATE_DIR", "REDIS_CONNECTION"} <= set(data)
    for name, value in data.items():
        if name.endswith("_PASSWORD"):
            assert value.startswith(f"vault://secret/mlops/{env}/feature-store#"), (name, value)
    defaults = yaml.safe_load((ROOT / "secrets/vault/kfp-workflow-defaults.yaml").read_text())
    assert "name: mlops-pipeline-steps" in defaults["data"]["workflowDefaults"]


def test_another_kfp_namespace_moves_the_objects_and_the_spec() -> None:
    docs = render("staging", {"kfp": {"namespace": "team-ml"}})
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] in ("Pipeline", "PipelineVersion")} == {"team-ml"}
    assert sync_spec(docs).namespace == "team-ml"


# --------------------------------------------------------------------------- the Job
def test_the_sync_job_is_a_locked_down_post_sync_hook(renders: dict[str, list[dict[str, Any]]]) -> None:
    docs = renders["prod"]
    [job] = of_kind(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    pod = job["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["mlops"]
    assert container["args"] == [
        "pipelines",
        "sync-schedules",
        "--spec=/etc/mlops/schedules/schedules.json",
        "--kfp-host=$(KFP_HOST)",
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert set(container["resources"]) == {"requests", "limits"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["spec"] == "/etc/mlops/schedules"
    # Egress: DNS and the KFP API, nothing else; and the release's default deny selects the pod.
    labels = pod["metadata"]["labels"]
    policies = [
        p for p in of_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]
    assert any(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and not p["spec"].get("egress") for p in policies)
    [egress] = [p["spec"]["egress"] for p in policies if p["spec"].get("egress")]
    targets = [rule["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for rule in egress]
    assert targets == ["kube-system", "kubeflow"]
    assert egress[1]["ports"] == [{"protocol": "TCP", "port": 8888}]


def test_without_the_triggers_the_job_keeps_its_service_account_and_default_deny() -> None:
    docs = render("dev", {"retrainingTriggers": {"enabled": False}})
    assert not of_kind(docs, "CronJob")
    [job] = of_kind(docs, "Job")
    [account] = of_kind(docs, "ServiceAccount")
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert any(p["metadata"]["name"].endswith("-default-deny") for p in of_kind(docs, "NetworkPolicy"))


# --------------------------------------------------------------------------- the check's rules
def manifest(body: dict[str, Any]) -> Manifest:
    return Manifest("infrastructure/helm/pipelines/templates/x.yaml with values-prod.yaml", body)


def test_the_namespace_rule() -> None:
    pipeline = {"apiVersion": "pipelines.kubeflow.org/v2beta1", "kind": "Pipeline", "metadata": {"name": "training"}}
    in_kubeflow = {**pipeline, "metadata": {"name": "training", "namespace": "kubeflow"}}
    in_release = {**pipeline, "metadata": {"name": "training", "namespace": "mlops-prod"}}
    swf = {"apiVersion": "kubeflow.org/v1beta1", "kind": "ScheduledWorkflow", "metadata": {"name": "nightly"}}
    assert namespace_problems([manifest(in_kubeflow)], "kubeflow") == []
    [wrong] = namespace_problems([manifest(in_release)], "kubeflow")
    assert wrong.endswith(
        "Pipeline/training: in namespace mlops-prod, expected kubeflow "
        "(kfp.namespace: KFP watches only its own namespace)"
    )
    [unset] = namespace_problems([manifest(pipeline)], "kubeflow")
    assert "in namespace <the release namespace>" in unset
    [never] = namespace_problems([manifest(swf)], "kubeflow")
    assert "ScheduledWorkflow/nightly: a ScheduledWorkflow applied from Git never starts runs" in never


def test_the_schedule_rules(renders: dict[str, list[dict[str, Any]]]) -> None:
    docs = renders["staging"]
    manifests = [manifest(d) for d in docs]
    assert schedule_problems(manifests) == ([], 1)
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap" and SPEC_KEY in d.get("data", {})]
    spec = json.loads(config_map["data"][SPEC_KEY])
    parameters = spec["schedules"][NIGHTLY]["parameters"]
    parameters["input_path"] = "/data/batch/credit_risk/input.parquet"
    parameters["chunk_rows"] = "many"
    broken = {**config_map, "data": {SPEC_KEY: json.dumps(spec)}}
    problems, _ = schedule_problems([manifest(d) if d is not config_map else manifest(broken) for d in docs])
    assert any(
        f"schedules.{NIGHTLY}.parameters.input_path = '/data/batch/credit_risk/input.parquet': a local path" in p
        for p in problems
    ), problems
    assert any(
        f"schedules.{NIGHTLY}.parameters.chunk_rows: input type NUMBER_INTEGER: expected an integer" in p
        for p in problems
    ), problems
    spec = json.loads(config_map["data"][SPEC_KEY])
    spec["schedules"][NIGHTLY]["pipeline_version"] = "batch-inference-9.9.9"
    missing = {**config_map, "data": {SPEC_KEY: json.dumps(spec)}}
    problems, _ = schedule_problems([manifest(missing)])
    assert problems == [
        f"{manifest(missing).source}: ConfigMap/{config_map['metadata']['name']} data.{SPEC_KEY}: "
        f"schedules.{NIGHTLY}: pipeline version batch-inference-9.9.9 is not rendered (versions: none)"
    ]


# --------------------------------------------------------------------------- the checks, end to end
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of infrastructure/ (the npm validators aside) and secrets/ (KFP's workflow defaults)."""
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "infrastructure", root / "infrastructure", ignore=shutil.ignore_patterns("node_modules", ".terraform")
    )
    shutil.copytree(ROOT / "secrets", root / "secrets")
    return root


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{relative} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_checks_pass_on_this_repository_and_fail_on_the_broken_forms(repo: Path) -> None:
    code, report = run_checks(repo, "kfp", "argocd-projects")
    assert code == 0, failures(report, "kfp") + failures(report, "argocd-projects")
    assert report["checks"]["kfp"]["counts"]["kfp_objects"] == 12
    assert report["checks"]["kfp"]["counts"]["schedules"] == 3

    # The defect this check exists for: the objects in the release's namespace.
    template = "infrastructure/helm/pipelines/templates/pipelines.yaml"
    edit(repo, template, "namespace: {{ $.Values.kfp.namespace }}", "namespace: {{ $.Release.Namespace }}")
    # A local path and a string for an integer input in one environment's values.
    values = repo / "infrastructure/helm/pipelines/values-staging.yaml"
    values.write_text(
        values.read_text()
        + f"schedules:\n  {NIGHTLY}:\n    parameters:\n      input_path: /data/in.parquet\n      chunk_rows: many\n"
    )
    # Some other kind sent to KFP's namespace.
    (repo / "infrastructure/helm/pipelines/templates/stray.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: stray\n"
        "  namespace: {{ .Values.kfp.namespace }}\nspec:\n  ports: [{port: 80}]\n"
    )
    # The step pods' environment loses a variable of the Feast config, and the workflow defaults
    # load another ConfigMap.
    edit(repo, "infrastructure/helm/pipelines/templates/step-environment.yaml", "  FEAST_OFFLINE_USER:", "  X_UNUSED:")
    edit(repo, "secrets/vault/kfp-workflow-defaults.yaml", "name: mlops-pipeline-steps", "name: other")
    code, report = run_checks(repo, "kfp", "argocd-projects")
    assert code == 1
    kfp = failures(report, "kfp")
    source = f"{template} with infrastructure/helm/pipelines/values-prod.yaml"
    assert f"{source}: Pipeline/training: in namespace mlops-prod, expected kubeflow" in kfp
    assert f"{source}: PipelineVersion/training-" in kfp
    staging = (
        "infrastructure/helm/pipelines/templates/schedules.yaml with infrastructure/helm/pipelines/values-staging.yaml"
    )
    assert (
        f"{staging}: ConfigMap/pipelines-sync-schedules data.{SPEC_KEY}: "
        f"schedules.{NIGHTLY}.parameters.input_path = '/data/in.parquet': a local path"
    ) in kfp
    assert (
        f"schedules.{NIGHTLY}.parameters.chunk_rows: input type NUMBER_INTEGER: expected an integer, got str 'many'"
        in kfp
    )
    step_env = (
        "infrastructure/helm/pipelines/templates/step-environment.yaml with "
        "infrastructure/helm/pipelines/values-staging.yaml: ConfigMap/mlops-pipeline-steps"
    )
    assert (
        f"{step_env}: secrets/vault/kfp-workflow-defaults.yaml loads other into the KFP steps (envFrom), "
        "not mlops-pipeline-steps"
    ) in kfp
    assert (
        f"{step_env}: does not set FEAST_OFFLINE_USER, which the staging Feast config "
        "(feature_store/registry) reads in the build-features step"
    ) in kfp
    projects = failures(report, "argocd-projects")
    assert (
        "Service/stray: namespace kubeflow takes only core/ConfigMap, pipelines.kubeflow.org/Pipeline, "
        "pipelines.kubeflow.org/PipelineVersion from an Application of project mlops-dev "
        "(annotation mlops-platform/namespace-kinds), not core/Service"
    ) in projects
