"""``argocd-projects``: every Application, and each one an ApplicationSet's list/matrix generators
make, against its AppProject (sourceRepos, destinations, resource whitelists for what its chart
renders, and what may go to a namespace other than its own); no control-plane namespace; namespaces
it creates enforce Pod Security restricted."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import yaml

from infrastructure.validation.applications import application_chart, application_sources, expand_applications
from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, Layout, one_line
from infrastructure.validation.manifests import Manifest, manifests_from_file, plain_manifest_files, yaml_files
from infrastructure.validation.render import Render, unrendered_failures

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
# AppProject annotation: namespace -> the kinds ("group/Kind") an Application may put there when it
# is not the Application's own namespace. Argo CD's whitelists hold for every destination of a
# project; this narrows the extra ones (velero, kubeflow) to the objects that belong there.
NAMESPACE_KINDS = "mlops-platform/namespace-kinds"
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


def namespace_kinds(project_manifest: Manifest) -> tuple[dict[str, set[str]] | None, list[str]]:
    """The project's :data:`NAMESPACE_KINDS` (None when it declares none) and what is wrong with it."""
    annotations = (project_manifest.body.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(NAMESPACE_KINDS)
    if text is None:
        return None, []
    try:
        parsed = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        return None, [f"annotation {NAMESPACE_KINDS}: not YAML: {one_line(str(exc))}"]
    if not isinstance(parsed, dict) or not all(
        isinstance(kinds, list) and all(isinstance(k, str) and "/" in k for k in kinds) for kinds in parsed.values()
    ):
        return None, [
            f"annotation {NAMESPACE_KINDS}: expected a mapping of namespace to a list of group/Kind "
            "(core kinds as core/Kind)"
        ]
    return {str(ns): set(kinds) for ns, kinds in parsed.items()}, []


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
    chart_env = application_chart(source)
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
    allowed_elsewhere, problems = namespace_kinds(project_manifest)
    problems = [f"project {project_name}: {p}" for p in problems]
    for source in application_sources(app):
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
    for source in application_sources(app):
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
                kinds = (allowed_elsewhere or {}).get(object_namespace, set())
                if allowed_elsewhere is not None and f"{group or 'core'}/{manifest.kind}" not in kinds:
                    problems.append(
                        f"{where}: namespace {object_namespace} takes only {', '.join(sorted(kinds)) or 'nothing'} "
                        f"from an Application of project {project_name} (annotation {NAMESPACE_KINDS}), "
                        f"not {group or 'core'}/{manifest.kind}"
                    )
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
    result.failures += unrendered_failures(outcome)
    return result
