"""``kfp``: the Kubeflow Pipelines objects and schedules every chart renders, as KFP will take them.

- Every KFP object (``pipelines.kubeflow.org`` Pipeline, PipelineVersion) is in the configured KFP
  namespace: the pipelines chart's ``kfp.namespace`` for that environment. Single-user KFP in
  Kubernetes-native mode watches only its own namespace; anywhere else its webhook rejects them
  and its API never serves them.
- No ``ScheduledWorkflow`` is rendered: one applied from Git has no recurring-run row in KFP's
  database, so its runs never start. Recurring runs are created through the KFP API by the
  pipelines chart's schedule-sync Job.
- The schedule-sync Job's spec (the ConfigMap it reads) loads, names a PipelineVersion of the
  same render, and its parameters encode against that version's compiled inputs (as the Job
  does). A parameter holding a local path (``/data/…``) fails: the pipeline pods mount no volume,
  data comes from object storage (``s3://…``).
- The step pods' environment: KFP's workflow defaults (``secrets/vault/kfp-workflow-defaults.yaml``)
  load a ConfigMap the pipelines chart renders into KFP's namespace, and that ConfigMap sets every
  variable the environment's Feast config reads (except those the app fills from the platform
  config), so the build-features step can open the cluster's feature store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infrastructure.validation.checks.vault_ca import kfp_step_patch
from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult
from infrastructure.validation.manifests import Manifest
from infrastructure.validation.render import Render, unrendered_failures
from infrastructure.validation.values import coalesce
from mlops.errors import PipelineError

KFP_GROUP = "pipelines.kubeflow.org"
SCHEDULED_WORKFLOW = ("kubeflow.org", "ScheduledWorkflow")
PIPELINES_CHART = "pipelines"
DEFAULT_NAMESPACE = "kubeflow"
# The schedule-sync Job's ConfigMap: its component label and data key (templates/schedules.yaml).
SYNC_COMPONENT = "sync-schedules"
SPEC_KEY = "schedules.json"
# The step pods' environment ConfigMap (templates/step-environment.yaml) and the patch that loads it.
STEP_ENV_COMPONENT = "step-environment"
WORKFLOW_DEFAULTS = Path("vault") / "kfp-workflow-defaults.yaml"


def kfp_namespace(render: Render) -> str:
    """``kfp.namespace`` of a pipelines-chart render (its values files merged as Helm does)."""
    values: dict[str, Any] = {}
    for _, layer in render.layers:
        values = coalesce(values, layer)
    return str((values.get("kfp") or {}).get("namespace") or DEFAULT_NAMESPACE)


def namespace_problems(manifests: list[Manifest], namespace: str) -> list[str]:
    """KFP objects outside ``namespace`` and ScheduledWorkflows, as failures naming each object."""
    problems: list[str] = []
    for manifest in manifests:
        where = f"{manifest.source}: {manifest.ref}"
        if (manifest.group, manifest.kind) == SCHEDULED_WORKFLOW:
            problems.append(
                f"{where}: a ScheduledWorkflow applied from Git never starts runs (KFP has no recurring run "
                "for it); declare the schedule under the pipelines chart's schedules, which the schedule-sync "
                "Job creates through the KFP API"
            )
        elif manifest.group == KFP_GROUP:
            found = str((manifest.body.get("metadata") or {}).get("namespace") or "")
            if found != namespace:
                problems.append(
                    f"{where}: in namespace {found or '<the release namespace>'}, expected {namespace} "
                    "(kfp.namespace: KFP watches only its own namespace)"
                )
    return problems


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


def schedule_problems(manifests: list[Manifest]) -> tuple[list[str], int]:
    """What the schedule-sync Job would refuse, or would schedule wrongly, in a render's spec;
    and how many schedules were checked."""
    from pipelines.schedules import SchedulesSpec, recurring_run_request

    versions = {
        str((m.body.get("metadata") or {}).get("name")): (m.body.get("spec") or {}).get("pipelineSpec") or {}
        for m in manifests
        if m.group == KFP_GROUP and m.kind == "PipelineVersion"
    }
    problems: list[str] = []
    checked = 0
    for manifest in manifests:
        labels = (manifest.body.get("metadata") or {}).get("labels") or {}
        if manifest.kind != "ConfigMap" or labels.get("app.kubernetes.io/component") != SYNC_COMPONENT:
            continue
        where = f"{manifest.source}: {manifest.ref} data.{SPEC_KEY}"
        try:
            spec = SchedulesSpec.model_validate(json.loads(str((manifest.body.get("data") or {}).get(SPEC_KEY))))
        except (ValueError, ValidationError) as exc:
            problems.append(f"{where}: not a schedules spec: {' '.join(str(exc).split())[:300]}")
            continue
        for name, schedule in spec.schedules.items():
            checked += 1
            for key, value in schedule.parameters.items():
                if _is_local_path(value):
                    problems.append(
                        f"{where}: schedules.{name}.parameters.{key} = {value!r}: a local path, but the pipeline "
                        "pods mount no volume; read and write object storage (s3://…)"
                    )
            ir = versions.get(schedule.pipeline_version)
            if ir is None:
                problems.append(
                    f"{where}: schedules.{name}: pipeline version {schedule.pipeline_version} is not rendered "
                    f"(versions: {', '.join(sorted(versions)) or 'none'})"
                )
                continue
            try:
                recurring_run_request(
                    name, schedule, pipeline_spec=ir, experiment_id="", pipeline_id="", pipeline_version_id=""
                )
            except PipelineError as exc:
                problems.append(f"{where}: {exc}")
    return problems, checked


def step_config_maps(patch: Any) -> set[str]:
    """The ConfigMaps the workflow-controller patch loads (``envFrom``) into the step container."""
    _, main = kfp_step_patch(patch)
    return {
        str(source["configMapRef"].get("name"))
        for source in (main or {}).get("envFrom") or []
        if isinstance(source, dict) and isinstance(source.get("configMapRef"), dict)
    }


def step_environment_problems(manifests: list[Manifest], loaded: set[str], environment: str) -> list[str]:
    """What the KFP step pods of one pipelines-chart render lack to open ``environment``'s feature store."""
    from feature_store.registry.loader import FROM_REDIS_CONNECTION, SET_BY_APP, load_template, template_variables

    found = [
        m
        for m in manifests
        if m.kind == "ConfigMap"
        and ((m.body.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")
        == STEP_ENV_COMPONENT
    ]
    # Every cluster config sets features.redis_connection, so the app fills Redis' host:port too.
    needed = template_variables(load_template(environment)) - SET_BY_APP - {FROM_REDIS_CONNECTION}
    if not found:
        return [
            f"no step-environment ConfigMap (stepEnvironment): the KFP step pods would not get "
            f"{', '.join(sorted(needed))}, which the {environment} Feast config reads"
        ]
    problems: list[str] = []
    for manifest in found:
        where = f"{manifest.source}: {manifest.ref}"
        name = str((manifest.body.get("metadata") or {}).get("name"))
        if name not in loaded:
            problems.append(
                f"{where}: secrets/{WORKFLOW_DEFAULTS} loads {', '.join(sorted(loaded)) or 'no ConfigMap'} "
                f"into the KFP steps (envFrom), not {name}"
            )
        missing = sorted(needed - set(manifest.body.get("data") or {}))
        if missing:
            problems.append(
                f"{where}: does not set {', '.join(missing)}, which the {environment} Feast config "
                "(feature_store/registry) reads in the build-features step"
            )
    return problems


def check_kfp(ctx: Context) -> CheckResult:
    """KFP objects in the configured KFP namespace, no ScheduledWorkflow, and schedules the
    schedule-sync Job can create."""
    result = CheckResult("kfp")
    outcome = ctx.rendered()
    namespaces = {r.env: kfp_namespace(r) for r in outcome.renders if r.chart == PIPELINES_CHART}
    for render in outcome.renders:
        namespace = namespaces.get(render.env, DEFAULT_NAMESPACE)
        result.count("renders")
        result.count("kfp_objects", sum(m.group == KFP_GROUP for m in render.manifests))
        result.failures += namespace_problems(render.manifests, namespace)
        problems, checked = schedule_problems(render.manifests)
        result.failures += problems
        result.count("schedules", checked)
    patch_file = ctx.layout.secrets / WORKFLOW_DEFAULTS
    try:
        loaded = step_config_maps(yaml.safe_load(patch_file.read_text()))
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        result.failures.append(f"{ctx.layout.rel(patch_file)}: {' '.join(str(exc).split())}")
        loaded = set()
    for render in outcome.renders:
        if render.chart == PIPELINES_CHART:
            result.failures += step_environment_problems(render.manifests, loaded, render.env)
    result.failures += unrendered_failures(outcome)
    return result
