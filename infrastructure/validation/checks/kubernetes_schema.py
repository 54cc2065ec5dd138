"""``kubernetes-schema``: ``kubernetes-validate`` (strict) on rendered and plain manifests; custom
resources go to ``crds/<group>_<kind>.json`` or, for Argo CD kinds, ``argocd-validate.mjs``. A
kind nobody has a schema for fails."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import yaml

from infrastructure.validation.checks.argocd import run_argocd_validate
from infrastructure.validation.context import Context
from infrastructure.validation.core import MAKE_INSTALL, CheckResult, Layout, one_line
from infrastructure.validation.manifests import Manifest, manifests_from_file, plain_manifest_files
from infrastructure.validation.render import unrendered_failures
from mlops.errors import MissingToolError

# Client-side build configuration that looks like an object but is never sent to a cluster.
NOT_CLUSTER_GROUPS = frozenset({"kustomize.config.k8s.io"})


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


def kubernetes_version(requested: str | None) -> str:
    """The Kubernetes version (major.minor) the schemas are taken from: the one asked for, else
    the newest kubernetes-validate knows."""
    kv = _kubernetes_validate()
    return str(kv.utils.major_minor(requested or kv.utils.latest_version()))


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
                    return [f"<schema>: {path.name} is not a valid JSON schema: {one_line(str(exc))[:300]}"]
                self._validators[path.name] = self._validator_class(schema, registry=self._registry)
            validator = self._validators[path.name]
        found = sorted(validator.iter_errors(manifest.body), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def validate_manifests(
    layout: Layout, manifests: list[Manifest], kube_version: str | None, result: CheckResult
) -> list[Manifest]:
    """Schema-check each manifest; returns the Argo CD objects, which only argocd-validate knows."""
    kv = _kubernetes_validate()
    version = kubernetes_version(kube_version)
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


def check_kubernetes_schema(ctx: Context) -> CheckResult:
    """Rendered and plain manifests against the Kubernetes, CRD and Argo CD schemas."""
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
    result.failures += unrendered_failures(outcome)
    return result
