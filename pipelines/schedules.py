"""Recurring runs kept in step with a schedules spec, through the Kubeflow Pipelines API (v2beta1).

The pipelines chart renders the spec (a ConfigMap, from ``schedules:`` in its values) and an
Argo CD PostSync Job running ``mlops pipelines sync-schedules``, which calls :func:`sync_schedules`.
Recurring runs are not Kubernetes objects Argo CD could apply: the ScheduledWorkflow controller
starts each run with the recurring run's id, which must be a row KFP's API created, so they are
created through that API, by name:

- the pipeline and its version are looked up by name (the chart's ``Pipeline`` and
  ``PipelineVersion`` objects, which Kubernetes-native KFP serves through the same API);
- every parameter is encoded as the compiled pipeline's input type says (:func:`encode_parameters`);
- a schedule with no recurring run of its name in its experiment is created; one whose recurring
  run differs is replaced (the v2beta1 API has no update: delete, then create); an identical one
  is kept, and only its mode is switched when ``enabled`` changed. Re-running the sync is a no-op.
  Recurring runs of other names are left alone.

Everything is checked before anything changes: an unknown pipeline, version or parameter stops the
sync with the schedule and key named, and no recurring run is touched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mlops.config import StrictModel, load_model
from mlops.errors import PipelineError

__all__ = [
    "Action",
    "RecurringRunRequest",
    "ScheduleSpec",
    "SchedulesSpec",
    "describe",
    "encode_parameters",
    "input_definitions",
    "load_spec",
    "recurring_run_request",
    "sync_schedules",
]

# Page size for the list calls (KFP's API caps pages; every page is read).
PAGE_SIZE = 100
# The recurring run's description says where it comes from: edit the values, not the run.
DESCRIPTION = "Managed by the pipelines chart (values: schedules.{name}); changes are made there."


class ScheduleSpec(StrictModel):
    """One recurring run: what the chart writes for each ``schedules.<name>`` of its values."""

    pipeline: str = Field(min_length=1)
    # The PipelineVersion's name (``<pipeline>-<appVersion>``): each release schedules its own version.
    pipeline_version: str = Field(min_length=1)
    # Experiment the recurring run and its runs are filed under (created when missing).
    experiment: str = Field(min_length=1)
    # KFP cron (robfig/cron): six fields, seconds first.
    cron: str = Field(pattern=r"^\S+( \S+){5}$")
    enabled: bool = True
    max_concurrency: int = Field(default=1, ge=1, le=10)
    # True: a missed interval is not backfilled run by run.
    no_catchup: bool = True
    # Kubernetes service account of the runs; empty: KFP's default.
    service_account: str = ""
    # Pipeline inputs, as written in the values (native YAML types); encoded by input type.
    parameters: dict[str, Any] = Field(default_factory=dict)


class SchedulesSpec(StrictModel):
    """The spec file: KFP's namespace (used as the API namespace only when KFP is multi-user)."""

    namespace: str = Field(default="kubeflow", min_length=1)
    schedules: dict[str, ScheduleSpec] = Field(default_factory=dict)


def load_spec(path: Path) -> SchedulesSpec:
    """The schedules spec at ``path`` (YAML or JSON); a bad one is a ConfigError naming file and key."""
    return load_model(path, SchedulesSpec)


# --------------------------------------------------------------------------- parameters
# The IR's parameterType values (pipeline_spec.proto ParameterType.ParameterTypeEnum).
ParameterType = Literal["STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN", "STRUCT", "LIST", "TASK_FINAL_STATUS"]


def input_definitions(pipeline_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``root.inputDefinitions.parameters`` of a compiled pipeline (the IR, or the API's
    ``{pipeline_spec, platform_spec}`` wrapper of it): input name -> its definition."""
    spec = pipeline_spec.get("pipeline_spec", pipeline_spec) if "root" not in pipeline_spec else pipeline_spec
    root = spec.get("root") if isinstance(spec, dict) else None
    if not isinstance(root, dict):
        raise PipelineError("the pipeline spec has no root component (not a compiled KFP v2 pipeline)")
    parameters = (root.get("inputDefinitions") or {}).get("parameters") or {}
    return {str(name): dict(definition or {}) for name, definition in parameters.items()}


def _encode(value: Any, kind: str) -> Any:
    """``value`` as the API's ``runtime_config.parameters`` carries it for an input of type
    ``kind`` (a protobuf Value: JSON). Raises ValueError saying what was expected."""
    if kind == "STRING":
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list):
            # A STRING input receives structured values as their JSON text (the step parses it).
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        raise ValueError(f"expected a string, got {type(value).__name__} {value!r} (quote it in YAML)")
    if kind == "NUMBER_INTEGER":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")
    if kind == "NUMBER_DOUBLE":
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ValueError(f"expected a finite number, got {type(value).__name__} {value!r}")
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {type(value).__name__} {value!r}")
    if kind == "STRUCT":
        if isinstance(value, dict):
            return value
        raise ValueError(f"expected a mapping, got {type(value).__name__}")
    if kind == "LIST":
        if isinstance(value, list):
            return value
        raise ValueError(f"expected a list, got {type(value).__name__}")
    raise ValueError(f"input type {kind or '<none>'} cannot be given by a schedule")


def encode_parameters(schedule: str, parameters: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The schedule's parameters encoded by the pipeline's input types (:func:`input_definitions`).

    An unknown key, a value of the wrong type and a missing required input are PipelineErrors
    naming the schedule and the key."""
    encoded: dict[str, Any] = {}
    for key, value in parameters.items():
        where = f"schedules.{schedule}.parameters.{key}"
        if key not in inputs:
            raise PipelineError(f"{where}: the pipeline has no such input (inputs: {', '.join(sorted(inputs))})")
        kind = str(inputs[key].get("parameterType") or "")
        try:
            encoded[key] = _encode(value, kind)
        except ValueError as exc:
            raise PipelineError(f"{where}: input type {kind}: {exc}") from None
    missing = [
        name
        for name, definition in sorted(inputs.items())
        if name not in parameters and "defaultValue" not in definition and not definition.get("isOptional")
    ]
    if missing:
        raise PipelineError(
            f"schedules.{schedule}.parameters: the pipeline requires {', '.join(missing)}, "
            "which the schedule does not give"
        )
    return encoded


# --------------------------------------------------------------------------- the request
@dataclass(frozen=True)
class RecurringRunRequest:
    """One ``POST /apis/v2beta1/recurringruns``: :meth:`body` is its JSON, :meth:`create` sends it."""

    name: str
    experiment_id: str
    pipeline_id: str
    pipeline_version_id: str
    cron: str
    enabled: bool
    max_concurrency: int
    no_catchup: bool
    service_account: str
    parameters: dict[str, Any]

    @property
    def description(self) -> str:
        return DESCRIPTION.format(name=self.name)

    def body(self) -> dict[str, Any]:
        """The request body as the API receives it (what ``kfp.Client.create_recurring_run`` sends)."""
        body: dict[str, Any] = {
            "display_name": self.name,
            "description": self.description,
            "experiment_id": self.experiment_id,
            "pipeline_version_reference": {
                "pipeline_id": self.pipeline_id,
                "pipeline_version_id": self.pipeline_version_id,
            },
            "runtime_config": {"parameters": self.parameters},
            "trigger": {"cron_schedule": {"cron": self.cron}},
            "mode": "ENABLE" if self.enabled else "DISABLE",
            "max_concurrency": self.max_concurrency,
            "no_catchup": self.no_catchup,
        }
        if self.service_account:
            body["service_account"] = self.service_account
        return body

    def create(self, client: Any) -> str:
        """Create it with ``kfp.Client``; returns the new recurring run's id."""
        created = client.create_recurring_run(
            experiment_id=self.experiment_id,
            job_name=self.name,
            description=self.description,
            cron_expression=self.cron,
            max_concurrency=self.max_concurrency,
            no_catchup=self.no_catchup,
            params=self.parameters,
            pipeline_id=self.pipeline_id,
            version_id=self.pipeline_version_id,
            enabled=self.enabled,
            service_account=self.service_account or None,
        )
        return str(created.recurring_run_id)

    def matches(self, existing: Any) -> bool:
        """Whether a listed recurring run (``V2beta1RecurringRun``) runs this, mode aside.

        The API returns int64 fields as strings and numbers through protobuf (1 comes back as
        1.0), so values are compared as numbers, not as text."""
        reference = getattr(existing, "pipeline_version_reference", None)
        trigger = getattr(existing, "trigger", None)
        cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
        runtime = getattr(existing, "runtime_config", None)
        try:
            concurrency = int(getattr(existing, "max_concurrency", 0) or 0)
        except (TypeError, ValueError):
            return False
        return (
            getattr(reference, "pipeline_id", None) == self.pipeline_id
            and getattr(reference, "pipeline_version_id", None) == self.pipeline_version_id
            and cron == self.cron
            and concurrency == self.max_concurrency
            and bool(getattr(existing, "no_catchup", False)) == self.no_catchup
            and (getattr(existing, "service_account", None) or "") == self.service_account
            and (getattr(runtime, "parameters", None) or {}) == self.parameters
        )


def recurring_run_request(
    name: str,
    schedule: ScheduleSpec,
    *,
    pipeline_spec: dict[str, Any],
    experiment_id: str,
    pipeline_id: str,
    pipeline_version_id: str,
) -> RecurringRunRequest:
    """The recurring run for ``schedule``, its parameters encoded by ``pipeline_spec``'s input types."""
    return RecurringRunRequest(
        name=name,
        experiment_id=experiment_id,
        pipeline_id=pipeline_id,
        pipeline_version_id=pipeline_version_id,
        cron=schedule.cron,
        enabled=schedule.enabled,
        max_concurrency=schedule.max_concurrency,
        no_catchup=schedule.no_catchup,
        service_account=schedule.service_account,
        parameters=encode_parameters(name, schedule.parameters, input_definitions(pipeline_spec)),
    )


# --------------------------------------------------------------------------- the sync
@dataclass(frozen=True)
class Action:
    """What the sync did (or, in a dry run, would do) for one schedule."""

    schedule: str
    # created | replaced | unchanged | enabled | disabled
    verb: str
    recurring_run_id: str = ""
    # Recurring runs of the schedule's name deleted (the replaced one, duplicates).
    deleted: tuple[str, ...] = ()


@dataclass
class _Plan:
    name: str
    request: RecurringRunRequest
    existing: list[Any] = field(default_factory=list)


def _pages(call: Any, items: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paged KFP list call."""
    token = ""
    while True:
        response = call(page_token=token, page_size=PAGE_SIZE, **kwargs)
        yield from getattr(response, items, None) or []
        token = getattr(response, "next_page_token", None) or ""
        if not token:
            return


def _named(obj: Any, name: str) -> bool:
    # Kubernetes-native KFP serves the object's metadata.name as `name` and, without a
    # displayName, as `display_name` too; older servers have display_name only.
    return name in (getattr(obj, "name", None), getattr(obj, "display_name", None))


class _Kfp:
    """The lookups of one sync, on a ``kfp.Client``, each done once."""

    def __init__(self, client: Any, namespace: str | None, host: str) -> None:
        self.client = client
        self.namespace = namespace
        self.host = host
        self._pipelines: list[Any] | None = None
        self._versions: dict[str, list[Any]] = {}
        self._experiments: dict[str, str] = {}

    def pipeline(self, schedule: str, name: str) -> Any:
        if self._pipelines is None:
            kwargs = {"namespace": self.namespace} if self.namespace else {}
            self._pipelines = list(_pages(self.client.list_pipelines, "pipelines", **kwargs))
        found = [p for p in self._pipelines if _named(p, name)]
        if not found:
            known = ", ".join(sorted({str(p.name or p.display_name) for p in self._pipelines})) or "none"
            raise PipelineError(
                f"schedules.{schedule}.pipeline: no pipeline {name!r} on {self.host} (pipelines there: {known}); "
                f"the pipelines chart creates it as a Pipeline object in KFP's namespace, which KFP serves only "
                "in Kubernetes-native mode (docs/platform/bootstrap.md)"
            )
        if len(found) > 1:
            raise PipelineError(
                f"schedules.{schedule}.pipeline: {len(found)} pipelines are named {name!r} on {self.host}"
            )
        return found[0]

    def version(self, schedule: str, pipeline: Any, name: str) -> Any:
        pipeline_id = str(pipeline.pipeline_id)
        if pipeline_id not in self._versions:
            self._versions[pipeline_id] = list(
                _pages(self.client.list_pipeline_versions, "pipeline_versions", pipeline_id=pipeline_id)
            )
        found = [v for v in self._versions[pipeline_id] if _named(v, name)]
        if not found:
            known = ", ".join(sorted(str(v.name or v.display_name) for v in self._versions[pipeline_id])) or "none"
            raise PipelineError(
                f"schedules.{schedule}: pipeline {pipeline.name or pipeline.display_name} has no version {name!r} "
                f"on {self.host} (versions: {known})"
            )
        version = found[0]
        if not version.pipeline_spec:
            version = self.client.get_pipeline_version(pipeline_id, str(version.pipeline_version_id))
        return version

    def experiment_id(self, name: str, *, create: bool) -> str:
        """The experiment's id; created when missing (or "" when ``create`` is false: a dry run)."""
        if name not in self._experiments:
            try:
                found = self.client.get_experiment(experiment_name=name, namespace=self.namespace)
            except ValueError:  # kfp's "No experiment is found with name …"
                if not create:
                    return ""
                found = self.client.create_experiment(name, namespace=self.namespace)
            self._experiments[name] = str(found.experiment_id)
        return self._experiments[name]

    def recurring_runs(self, experiment_id: str, name: str) -> list[Any]:
        if not experiment_id:
            return []
        runs = _pages(self.client.list_recurring_runs, "recurring_runs", experiment_id=experiment_id)
        return [r for r in runs if r.display_name == name]


def sync_schedules(
    client: Any, spec: SchedulesSpec, *, host: str = "the KFP API", dry_run: bool = False
) -> list[Action]:
    """Bring the recurring runs on ``client`` (a ``kfp.Client``) in line with ``spec``.

    Plans every schedule first (lookups and parameter encoding; an error changes nothing), then
    creates, replaces or keeps each one. API and connection errors are PipelineErrors naming the
    schedule."""
    import kfp_server_api

    try:
        multi_user = bool(getattr(client.get_kfp_healthz(), "multi_user", False))
    except (kfp_server_api.ApiException, OSError, TimeoutError) as exc:
        raise PipelineError(f"KFP API at {host} does not answer: {_one_line(exc)}") from None
    kfp = _Kfp(client, spec.namespace if multi_user else None, host)
    plans: list[_Plan] = []
    for name, schedule in spec.schedules.items():
        try:
            pipeline = kfp.pipeline(name, schedule.pipeline)
            version = kfp.version(name, pipeline, schedule.pipeline_version)
            experiment_id = kfp.experiment_id(schedule.experiment, create=not dry_run)
            request = recurring_run_request(
                name,
                schedule,
                pipeline_spec=dict(version.pipeline_spec or {}),
                experiment_id=experiment_id,
                pipeline_id=str(pipeline.pipeline_id),
                pipeline_version_id=str(version.pipeline_version_id),
            )
            plans.append(_Plan(name, request, kfp.recurring_runs(experiment_id, name)))
        except kfp_server_api.ApiException as exc:
            raise PipelineError(f"schedules.{name}: KFP API at {host}: {_api_error(exc)}") from None
    actions: list[Action] = []
    for plan in plans:
        try:
            actions.append(_apply(client, plan, dry_run=dry_run))
        except kfp_server_api.ApiException as exc:
            raise PipelineError(f"schedules.{plan.name}: KFP API at {host}: {_api_error(exc)}") from None
    return actions


def _apply(client: Any, plan: _Plan, *, dry_run: bool) -> Action:
    request = plan.request
    keep = next((r for r in plan.existing if request.matches(r)), None)
    extra = tuple(str(r.recurring_run_id) for r in plan.existing if r is not keep)
    new_id = ""
    if keep is None and not dry_run:
        # Created before the old one goes: a failed create leaves the schedule running as it was.
        new_id = request.create(client)
    if not dry_run:
        for recurring_run_id in extra:
            client.delete_recurring_run(recurring_run_id)
    if keep is None:
        return Action(plan.name, "replaced" if plan.existing else "created", new_id, extra)
    kept_id = str(keep.recurring_run_id)
    enabled = str(getattr(keep, "mode", "") or "").upper() != "DISABLE"
    if enabled == request.enabled:
        return Action(plan.name, "unchanged", kept_id, extra)
    if not dry_run:
        (client.enable_recurring_run if request.enabled else client.disable_recurring_run)(kept_id)
    return Action(plan.name, "enabled" if request.enabled else "disabled", kept_id, extra)


def _api_error(exc: Any) -> str:
    """An ApiException as one line: status and the server's message."""
    message = ""
    try:
        message = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = str(exc.body or "")
    return _one_line(f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else ""))


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())[:500]


def describe(actions: list[Action]) -> list[str]:
    """One line per action, as the CLI prints them."""
    lines = []
    for action in actions:
        line = f"{action.schedule}: {action.verb}"
        if action.recurring_run_id:
            line += f" (recurring run {action.recurring_run_id})"
        if action.deleted:
            line += f"; deleted {', '.join(action.deleted)}"
        lines.append(line)
    return lines
