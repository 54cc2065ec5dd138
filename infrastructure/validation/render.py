"""Rendering every chart for every environment with the Helm engine (helm-python-sdk), as Argo CD
does: ``helm dependency build``, values.schema.json, ``helm lint --strict``, ``helm template``.

The rendered files go to ``<out>/rendered/<chart>/<env>.yaml``; each document keeps the chart
template and values file it came from, which is what failures about it name.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infrastructure.validation.applications import chart_releases, chart_value_files
from infrastructure.validation.core import MAKE_INSTALL, Layout, one_line
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, helm_error, load_values, values_schema_problems
from mlops.errors import MissingToolError


@dataclass
class Render:
    """One chart rendered with one environment's values file, and what it rendered."""

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
        """The template and values file behind a line of the rendered file."""
        return next((source for first, last, source in self.spans if first <= line <= last), None)


@dataclass
class RenderOutcome:
    """Every render of a run, the failures met on the way and the labels that did not render."""

    renders: list[Render] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)
    charts: int = 0


def helm_engine() -> Any:
    """``helm_python``: the Helm v4 engine, no ``helm`` binary needed."""
    try:
        import helm_python
    except ImportError as exc:
        raise MissingToolError("helm-python-sdk (import helm_python)", MAKE_INSTALL) from exc
    return helm_python


def build_dependencies(helm: Any, chart_dir: Path) -> list[str]:
    """``helm dependency build``: pack the charts Chart.yaml depends on (at the versions Chart.lock
    pins) into the chart's ``charts/``, as Argo CD does before it renders. Returns them as
    ``<name> <version>``; Helm's error propagates (an unknown chart, a lock out of date)."""
    declared: list[dict[str, Any]] = helm.dependency_list(str(chart_dir))
    if declared:
        helm.dependency_build(str(chart_dir))
    return [f"{d.get('name')} {d.get('version')}" for d in declared]


def render_chart(chart_dir: Path, values: dict[str, Any], *, release: str, namespace: str) -> dict[str, str]:
    """``helm dependency build`` and ``helm template`` for one chart: template path -> rendered text.

    ``values`` go over the chart's values.yaml, as ``-f`` files do. Helm's errors propagate
    (``HelmValuesError`` for values.schema.json, ``HelmRenderError`` for a template's ``fail``).
    """
    helm = helm_engine()
    build_dependencies(helm, chart_dir)
    with helm.Chart.load(str(chart_dir)) as loaded:
        return _render_templates(loaded, values, release=release, namespace=namespace)


def _render_templates(loaded: Any, values: dict[str, Any], *, release: str, namespace: str) -> dict[str, str]:
    templates: dict[str, str] = loaded.render(values=values, name=release, namespace=namespace, is_install=True)
    return templates


def render_charts(layout: Layout) -> RenderOutcome:
    """Lint and render every chart under infrastructure/helm with each of its values-<env>.yaml
    (library charts aside), under the release name and namespace Argo CD gives it."""
    helm = helm_engine()
    outcome = RenderOutcome()
    shutil.rmtree(layout.rendered, ignore_errors=True)
    charts = sorted(p.parent for p in layout.helm.glob("*/Chart.yaml"))
    if not charts:
        outcome.failures.append(f"no Helm chart under {layout.rel(layout.helm)}")
        return outcome
    releases = chart_releases(layout)
    value_files = chart_value_files(layout)
    outcome.notes.append(f"release names and namespaces from Argo CD for {len(releases)} chart/env pairs")
    dependencies: list[str] = []
    for chart_dir in charts:
        chart = chart_dir.name
        try:
            metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            outcome.failures.append(f"{chart}: Chart.yaml does not parse: {one_line(str(exc))}")
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
            built = build_dependencies(helm, chart_dir)
        except helm.HelmError as exc:
            outcome.failures.append(f"{chart}: helm dependency build: {one_line(str(exc))}")
            outcome.unrendered.append(chart)
            continue
        if built:
            dependencies.append(f"{chart} ({', '.join(built)})")
        try:
            loaded = helm.Chart.load(str(chart_dir))
        except helm.HelmError as exc:
            outcome.failures.append(f"{chart}: does not load: {one_line(str(exc))}")
            outcome.unrendered.append(chart)
            continue
        with loaded:
            for env, values_file in targets or [("default", None)]:
                files = environment_value_files(chart_dir, env, values_file, value_files.get((chart, env)))
                render = _render_one(helm, layout, loaded, chart_dir, env, files, releases, outcome)
                if render is not None:
                    outcome.renders.append(render)
    if dependencies:
        outcome.notes.append(f"helm dependency build: {'; '.join(dependencies)}")
    return outcome


def environment_value_files(
    chart_dir: Path, env: str, values_file: Path | None, application_files: list[str] | None
) -> list[Path]:
    """The values files a chart renders with for ``env``, lowest precedence first: those its Argo CD
    Application lists (relative to the chart, e.g. ``../environments/<env>.yaml``, the Terraform
    outputs), else values.yaml and values-<env>.yaml."""
    if application_files:
        return [(chart_dir / name).resolve() for name in application_files]
    return [chart_dir / "values.yaml"] + ([values_file] if values_file is not None else [])


def _render_one(
    helm: Any,
    layout: Layout,
    loaded: Any,
    chart_dir: Path,
    env: str,
    files: list[Path],
    releases: dict[tuple[str, str], tuple[str, str]],
    outcome: RenderOutcome,
) -> Render | None:
    """Lint and render one chart with one environment's values files (values.yaml first)."""
    chart = chart_dir.name
    label = f"{chart}/{env}"
    release, namespace = releases.get((chart, env), (chart, chart))
    layers: list[tuple[str, dict[str, Any]]] = []
    defaults = (chart_dir / "values.yaml").resolve()
    for path in files:
        if not path.is_file():
            if path.resolve() != defaults:
                # Argo CD fails the sync on a listed values file that does not exist.
                outcome.failures.append(
                    f"{label}: values file {layout.rel(path)} (listed by its Application) does not exist"
                )
                outcome.unrendered.append(label)
                return None
            continue
        try:
            layers.append((layout.rel(path), load_values(path)))
        except (yaml.YAMLError, ValueError) as exc:
            outcome.failures.append(f"{label}: {layout.rel(path)}: {one_line(str(exc))}")
            outcome.unrendered.append(label)
            return None
    # values.yaml is the chart's own; the files over it are what `-f` passes.
    values: dict[str, Any] = {}
    for path_label, tree in layers:
        if path_label != layout.rel(defaults):
            values = coalesce(values, tree)
    values_file = files[-1] if len(files) > 1 else None
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
        f"{label}: lint {m.get('path', '')}: {helm_error(str(m.get('error', '')), layers)}"
        for m in lint.get("messages", [])
        if int(m.get("severity", 0)) >= 2
    ]
    try:
        templates = _render_templates(loaded, values, release=release, namespace=namespace)
    except helm.HelmError as exc:
        outcome.failures.append(f"{label}: render: {helm_error(str(exc), layers)}")
        outcome.unrendered.append(label)
        return None
    values_label = layout.rel(values_file) if values_file is not None else "the chart's default values"
    return _write_render(layout, chart_dir, env, templates, outcome, layers, values_label)


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
                outcome.failures.append(f"{source}: rendered YAML does not parse: {one_line(str(exc))}")
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


def unrendered_failures(outcome: RenderOutcome) -> list[str]:
    """What a check that reads renders says about each chart/env it could not check."""
    return [f"{label}: not checked, the chart did not render (see helm-render)" for label in outcome.unrendered]
