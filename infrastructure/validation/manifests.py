"""Kubernetes objects as the checks see them: YAML documents with apiVersion and kind, and the
file, or chart template and values file, each one comes from."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infrastructure.validation.core import Layout, one_line

ARGOCD_GROUP = "argoproj.io"
ARGOCD_KINDS = frozenset({"Application", "AppProject", "ApplicationSet"})


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


def plain_data(value: Any) -> Any:
    """YAML timestamps become strings, as they do on their way to the API server."""
    if isinstance(value, dict):
        return {str(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def load_yaml_documents(text: str) -> list[Any]:
    """The non-empty documents of a YAML stream, dates as strings."""
    return [plain_data(doc) for doc in yaml.safe_load_all(text) if doc is not None]


# Folders of installed or cached third-party content, never the repository's own files.
NOT_OURS = frozenset({"node_modules", ".terraform", ".git"})


def yaml_files(directory: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under a folder, third-party folders aside, sorted."""
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
        return [], f"{layout.rel(path)}: does not parse: {one_line(str(exc))}"
    source = layout.rel(path)
    return [
        Manifest(source, doc) for doc in docs if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc
    ], None


def plain_manifest_files(layout: Layout) -> list[Path]:
    """Manifests kept as plain YAML: under infrastructure/ (charts, Terraform and tooling aside) and secrets/."""
    skipped = {layout.helm, layout.terraform, layout.validation, layout.policies}
    files = [p for p in yaml_files(layout.infrastructure) if not any(p.is_relative_to(s) for s in skipped)]
    return files + yaml_files(layout.secrets)
