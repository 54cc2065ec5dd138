"""``policies``: the Rego policies in ``infrastructure/policies`` (regorus) on every manifest, with
the environment's NetworkPolicies and the values files at hand (per-environment rules)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infrastructure.validation.context import Context
from infrastructure.validation.core import MAKE_INSTALL, CheckResult, one_line
from infrastructure.validation.manifests import Manifest, manifests_from_file, plain_manifest_files
from infrastructure.validation.render import unrendered_failures
from infrastructure.validation.values import values_leaves
from mlops.errors import MissingToolError


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
    """The Rego policies on each release, with its environment's NetworkPolicies and values, and on plain manifests."""
    result = CheckResult("policies")
    layout = ctx.layout
    try:
        engine = PolicyEngine(layout.policies)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        result.failures.append(f"policies do not load: {one_line(str(exc))}")
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
    result.failures += unrendered_failures(outcome)
    return result
