"""Argo CD Applications as the repository declares them: each Application, and the ones a list
or matrix ApplicationSet generates (its Go templates evaluated offline), with the chart and
environment each one deploys."""

from __future__ import annotations

import re
from typing import Any

import yaml

from infrastructure.validation.core import Layout, one_line
from infrastructure.validation.manifests import ARGOCD_GROUP, Manifest, manifests_from_file, yaml_files
from infrastructure.validation.values import coalesce
from mlops.errors import TemplateError

_GO_ACTION = re.compile(r"\{\{(-)?\s*(.*?)\s*(-)?\}\}", re.DOTALL)
_GO_FIELD = r"\.?([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)"
_GO_STRING = r'"((?:[^"\\]|\\.)*)"'


def _param(params: dict[str, Any], name: str) -> Any:
    if name in params:
        return params[name]
    node: Any = params
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise TemplateError(f"parameter {name!r} is not set by the generator")
        node = node[part]
    return node


def _go_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_condition(action: str, params: dict[str, Any]) -> bool:
    negate = action.startswith("not ")
    action = action.removeprefix("not ").strip()
    if match := re.fullmatch(rf"(eq|ne)\s+{_GO_FIELD}\s+{_GO_STRING}", action):
        result = (_go_text(_param(params, match[2])) == match[3]) == (match[1] == "eq")
    elif match := re.fullmatch(_GO_FIELD, action):
        result = bool(_param(params, match[1]))
    else:
        raise TemplateError(f"cannot evaluate {{{{ if {action} }}}} offline")
    return result != negate


def go_template(text: str, params: dict[str, Any]) -> str:
    """The Go-template subset ApplicationSets mostly use: ``{{ .key }}`` (``{{key}}`` in the
    older syntax), ``if`` [``not``] ``.key`` / ``eq .key "x"``, ``else``, ``end``, comments and
    ``{{-``/``-}}`` trimming. Anything else raises TemplateError rather than guessing."""
    out: list[str] = []
    emitting: list[bool] = []
    pos = 0
    trim_next = False
    for match in _GO_ACTION.finditer(text):
        literal = text[pos : match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        if all(emitting):
            out.append(literal)
        action, trim_next, pos = match.group(2), bool(match.group(3)), match.end()
        if action.startswith("/*"):
            continue
        if action.startswith("if "):
            emitting.append(all(emitting) and _go_condition(action[3:].strip(), params))
        elif action == "else" and emitting:
            emitting[-1] = all(emitting[:-1]) and not emitting[-1]
        elif action == "end" and emitting:
            emitting.pop()
        elif field_match := re.fullmatch(_GO_FIELD, action):
            if all(emitting):
                out.append(_go_text(_param(params, field_match[1])))
        else:
            raise TemplateError(f"cannot evaluate {{{{ {action} }}}} offline")
    tail = text[pos:]
    out.append(tail.lstrip() if trim_next else tail)
    if emitting:
        raise TemplateError("an {{ if }} is not closed")
    return "".join(out)


def _render_template(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return go_template(value, params) if "{{" in value else value
    if isinstance(value, dict):
        return {key: _render_template(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_template(item, params) for item in value]
    return value


def _generator_params(generator: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameter sets of list and matrix generators; the other kinds need a cluster or Git."""
    if "list" in generator:
        spec = generator["list"] or {}
        elements = spec.get("elements") or []
        if spec.get("elementsYaml"):
            if "{{" in str(spec["elementsYaml"]):
                raise TemplateError("elementsYaml built from parameters cannot be expanded offline")
            elements = yaml.safe_load(str(spec["elementsYaml"])) or []
        return [dict(e) for e in elements if isinstance(e, dict)]
    if "matrix" in generator:
        combined: list[dict[str, Any]] = [{}]
        for child in (generator["matrix"] or {}).get("generators") or []:
            params = _generator_params(child)
            combined = [{**left, **right} for left in combined for right in params]
        return combined
    kind = next((key for key in generator if key not in ("template", "selector")), "unknown")
    raise TemplateError(f"a {kind} generator needs a cluster or Git to expand")


def _element_label(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}: {_go_text(value)}" for key, value in params.items()) + "}"


def expand_applications(manifest: Manifest) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The Applications an object stands for, each with a label saying where it comes from: the
    Application itself, or one per element of an ApplicationSet's list/matrix generators (with
    its template, the generator's template and templatePatch applied). The second item says
    what could not be expanded."""
    if manifest.kind == "Application":
        return [(manifest.ref, manifest.body)], []
    if manifest.kind != "ApplicationSet":
        return [], []
    spec = manifest.body.get("spec") or {}
    apps: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for index, generator in enumerate(spec.get("generators") or [], start=1):
        try:
            elements = _generator_params(generator)
        except (TemplateError, yaml.YAMLError) as exc:
            problems.append(f"{manifest.ref} generator {index}: {one_line(str(exc))}, so its Applications go unchecked")
            continue
        template = coalesce(spec.get("template") or {}, generator.get("template") or {})
        for params in elements:
            label = f"{manifest.ref} element {_element_label(params)}"
            try:
                app = _render_template(template, params)
                if spec.get("templatePatch"):
                    patch = yaml.safe_load(go_template(str(spec["templatePatch"]), params))
                    if isinstance(patch, dict):
                        app = coalesce(app, patch)
            except (TemplateError, yaml.YAMLError) as exc:
                problems.append(f"{label}: {one_line(str(exc))}")
                continue
            apps.append((label, {"apiVersion": manifest.api_version, "kind": "Application", **app}))
    return apps, problems


def application_chart(source: dict[str, Any]) -> tuple[str, str] | None:
    """(chart, env) for a Helm source of infrastructure/helm/<chart> with one values-<env>.yaml."""
    chart_path = str(source.get("path") or "").rstrip("/")
    helm = source.get("helm") or {}
    envs = [
        m.group(1)
        for value_file in helm.get("valueFiles") or []
        if (m := re.search(r"values-([\w.-]+)\.ya?ml$", str(value_file)))
    ]
    if "/helm/" not in f"/{chart_path}" or len(envs) != 1:
        return None
    return chart_path.rsplit("/", 1)[-1], envs[0]


def application_sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    """An Application's sources: ``spec.sources``, else its one ``spec.source``."""
    spec = app.get("spec") or {}
    sources = spec.get("sources") or [spec.get("source") or {}]
    return [s for s in sources if isinstance(s, dict)]


def chart_releases(layout: Layout) -> dict[tuple[str, str], tuple[str, str]]:
    """(chart, env) -> (release, namespace) as Argo CD deploys them, read from the Applications
    and list/matrix ApplicationSets in infrastructure/argocd; charts not found there render
    with their own name as release and namespace."""
    releases: dict[tuple[str, str], tuple[str, str]] = {}
    for path in yaml_files(layout.argocd):
        manifests, _ = manifests_from_file(path, layout)
        for manifest in (m for m in manifests if m.group == ARGOCD_GROUP):
            for _, app in expand_applications(manifest)[0]:
                namespace = str(((app.get("spec") or {}).get("destination") or {}).get("namespace") or "")
                app_name = str((app.get("metadata") or {}).get("name") or "")
                for source in application_sources(app):
                    chart_env = application_chart(source)
                    if chart_env is None or not namespace:
                        continue
                    release = str((source.get("helm") or {}).get("releaseName") or app_name)
                    releases[chart_env] = (release, namespace)
    return releases


def chart_value_files(layout: Layout) -> dict[tuple[str, str], list[str]]:
    """(chart, env) -> the Helm valueFiles its Application lists, in order, as written (relative to
    the chart's folder, like ``../environments/prod.yaml``), read like :func:`chart_releases`."""
    files: dict[tuple[str, str], list[str]] = {}
    for path in yaml_files(layout.argocd):
        manifests, _ = manifests_from_file(path, layout)
        for manifest in (m for m in manifests if m.group == ARGOCD_GROUP):
            for _, app in expand_applications(manifest)[0]:
                for source in application_sources(app):
                    chart_env = application_chart(source)
                    if chart_env is not None:
                        files[chart_env] = [str(f) for f in (source.get("helm") or {}).get("valueFiles") or []]
    return files
