"""Cluster wiring that schemas and checkov accept but a running cluster would not honour.

``terraform-cluster`` (the Terraform code, parsed with python-hcl2):

- every EKS cluster gets the ``vpc-cni`` add-on with ``enableNetworkPolicy: "true"`` in its
  ``configuration_values`` (otherwise every NetworkPolicy is accepted and silently not
  enforced) and the ``metrics-server`` add-on (otherwise no HorizontalPodAutoscaler scales);
- no Terraform root both creates the cluster and configures the ``vault`` provider: Vault runs
  in that cluster, so the root's first plan would need a Vault that does not exist yet.

``monitoring-labels`` (the rendered charts): every ServiceMonitor, PodMonitor, PrometheusRule
and Probe carries a label beyond the chart's own identity labels (the one the Prometheus
operator's selectors match: kube-prometheus-stack selects ``release: <its release>``), and the
objects of one environment all carry the same such labels, so one Prometheus selects them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.validation.checks.terraform import _blocks, _unwrap, parse_hcl, provider_needs
from infrastructure.validation.context import Context
from infrastructure.validation.core import MAKE_INSTALL, CheckResult, one_line
from infrastructure.validation.render import unrendered_failures
from mlops.errors import MissingToolError

CLUSTER_RESOURCE = "aws_eks_cluster"
ADDON_RESOURCE = "aws_eks_addon"
REQUIRED_ADDONS = ("vpc-cni", "metrics-server")
# `jsonencode({enableNetworkPolicy = "true"})` as python-hcl2 gives it back, or a JSON string.
NETWORK_POLICY_ON = re.compile(r"""\\?["']?enableNetworkPolicy\\?["']?\s*[=:]\s*\\?["']true\\?["']""")

# Prometheus Operator kinds -> the chart value that sets their labels (one per object kind).
MONITORING_KINDS = {
    "ServiceMonitor": "metrics.serviceMonitor.labels",
    "PodMonitor": "the PodMonitor's labels value",
    "PrometheusRule": "alerts.ruleLabels",
    "Probe": "probes.labels",
}
# Labels every chart object carries (platform.labels): they name the chart, not a Prometheus.
IDENTITY_LABEL_PREFIXES = ("app.kubernetes.io/", "helm.sh/", "mlops-platform/")


@dataclass(frozen=True)
class Resource:
    """One ``resource`` block: its type, name, body and the file that declares it."""

    type: str
    name: str
    body: dict[str, Any]
    path: Path


def _text(value: Any) -> str:
    return str(_unwrap(value)).strip('"')


def own_resources(module: Path) -> list[Resource]:
    """The resources a module's own files declare."""
    found: list[Resource] = []
    for tf in sorted(module.glob("*.tf")):
        for block in _blocks(parse_hcl(tf), "resource"):
            for rtype in (k for k in block if not k.startswith("__")):
                for name, body in (_unwrap(block[rtype]) or {}).items():
                    if not name.startswith("__") and isinstance(body, dict):
                        found.append(Resource(rtype.strip('"'), name.strip('"'), body, tf))
    return found


def module_resources(module: Path, seen: frozenset[Path] = frozenset()) -> list[Resource]:
    """The resources of a module and of the local modules it calls, transitively."""
    found = own_resources(module)
    for tf in sorted(module.glob("*.tf")):
        for block in _blocks(parse_hcl(tf), "module"):
            for key in (k for k in block if not k.startswith("__")):
                source = _text((block[key] or {}).get("source", ""))
                child = (module / source).resolve()
                if source.startswith(("./", "../")) and child not in seen and child.is_dir():
                    found += module_resources(child, seen | {module.resolve()})
    return found


def is_root(module: Path) -> bool:
    """A root module configures providers or a backend; a child module does neither."""
    for tf in module.glob("*.tf"):
        parsed = parse_hcl(tf)
        if _blocks(parsed, "provider"):
            return True
        if any(_blocks(block, "backend") for block in _blocks(parsed, "terraform")):
            return True
    return False


def addon_failures(resources: list[Resource], rel: Callable[[Path], str]) -> list[str]:
    """The vpc-cni and metrics-server add-ons of one module's clusters (one-line failures)."""
    failures: list[str] = []
    addons: set[str] = set()
    for r in (r for r in resources if r.type == ADDON_RESOURCE):
        where = f"{rel(r.path)}: {r.type}.{r.name}"
        name = _text(r.body.get("addon_name", ""))
        if name != "${each.key}":
            addons.add(name)
            if name == "vpc-cni" and not NETWORK_POLICY_ON.search(str(_unwrap(r.body.get("configuration_values", "")))):
                failures.append(
                    f'{where} (vpc-cni) has no enableNetworkPolicy = "true" in configuration_values:'
                    " NetworkPolicies would be accepted and not enforced"
                )
            continue
        keys = {str(k).strip('"') for k in (_unwrap(r.body.get("for_each")) or {})}
        addons |= keys
        if "vpc-cni" in keys:
            failures.append(
                f"{where} creates vpc-cni from a for_each map, whose configuration is not checked: declare it"
                ' as its own aws_eks_addon with configuration_values = jsonencode({enableNetworkPolicy = "true"})'
            )
    for cluster in (r for r in resources if r.type == CLUSTER_RESOURCE):
        for addon in sorted(set(REQUIRED_ADDONS) - addons):
            why = "NetworkPolicies are not enforced" if addon == "vpc-cni" else "no HorizontalPodAutoscaler can scale"
            failures.append(
                f"{rel(cluster.path)}: {cluster.type}.{cluster.name} has no {addon} aws_eks_addon in its module: {why}"
            )
    return failures


def check_terraform_cluster(ctx: Context) -> CheckResult:
    """EKS add-ons that make NetworkPolicies and the HPA work; no root that needs Vault before the cluster exists."""
    result = CheckResult("terraform-cluster")
    layout = ctx.layout
    try:
        import hcl2  # noqa: F401
    except ImportError as exc:
        raise MissingToolError("python-hcl2 (import hcl2)", MAKE_INSTALL) from exc
    if not layout.terraform.is_dir():
        return result
    modules = sorted({p.parent for p in layout.terraform.rglob("*.tf") if ".terraform" not in p.parts})
    for module in modules:
        name = layout.rel(module)
        try:
            own = own_resources(module)
            result.failures += addon_failures(own, layout.rel)
            result.count("clusters", sum(r.type == CLUSTER_RESOURCE for r in own))
            if not is_root(module):
                continue
            result.count("roots")
            clusters = [r for r in module_resources(module) if r.type == CLUSTER_RESOURCE]
            if clusters and "vault" in provider_needs(module):
                where = ", ".join(sorted({layout.rel(r.path.parent) for r in clusters}))
                result.failures.append(
                    f"{name}: creates the EKS cluster ({where}) and configures the vault provider: Vault runs in"
                    " that cluster, so the first plan would fail; configure Vault in its own root applied after it"
                )
        except Exception as exc:  # python-hcl2 raises lark errors of several types
            result.failures.append(f"{name}: does not parse: {one_line(str(exc))}")
    return result


def selector_labels(body: dict[str, Any]) -> dict[str, str]:
    """An object's labels other than the chart's identity labels."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items() if not any(str(k).startswith(p) for p in IDENTITY_LABEL_PREFIXES)}


def check_monitoring_labels(ctx: Context) -> CheckResult:
    """Every Prometheus Operator object carries the selector labels, the same in one environment."""
    result = CheckResult("monitoring-labels")
    outcome = ctx.rendered()
    by_env: dict[str, dict[tuple[tuple[str, str], ...], list[str]]] = {}
    for render in outcome.renders:
        for manifest in (m for m in render.manifests if m.kind in MONITORING_KINDS):
            result.count("objects")
            labels = selector_labels(manifest.body)
            what = f"{manifest.kind} {manifest.name}"
            if not labels:
                result.failures.append(
                    f"{manifest.source}: {what} carries no label for the Prometheus operator's selector"
                    f" (set {MONITORING_KINDS[manifest.kind]}, e.g. {{release: kube-prometheus-stack}}):"
                    " Prometheus would ignore it"
                )
                continue
            by_env.setdefault(render.env, {}).setdefault(tuple(sorted(labels.items())), []).append(
                f"{render.chart}: {what}"
            )
    for env, variants in sorted(by_env.items()):
        if len(variants) > 1:
            described = "; ".join(
                f"{dict(labels)} on {', '.join(sorted(objects))}" for labels, objects in sorted(variants.items())
            )
            result.failures.append(
                f"environment {env}: monitoring objects carry different selector labels,"
                f" one Prometheus would miss some: {described}"
            )
    result.failures += unrendered_failures(outcome)
    return result
