"""``vault-ca``: Vault serves TLS from a private CA, and every client is given that CA.

The rendered pods are checked by the Rego policy ``infrastructure/policies/vault_ca.rego``
(``policies`` check). This check covers what no chart renders:

- ``secrets/vault/helm-values.yaml``, the documented values of the Vault chart: TLS on
  (``global.tlsDisable: false``), the listener's certificate and key from a mounted Secret, HA
  Raft with one ``retry_join`` per replica, each an https peer verified with a CA file from a
  mounted Secret.
- ``secrets/vault/kfp-workflow-defaults.yaml``, which gives the Kubeflow Pipelines step pods the
  CA: VAULT_CACERT points into the mounted Secret, and the Secret and path are the ones the
  charts' pods use (``vault.caSecret`` / ``vault.caCertPath``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infrastructure.validation.checks.terraform import hcl_loads
from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, one_line
from mlops.errors import MissingToolError

VAULT_VALUES = Path("vault") / "helm-values.yaml"
KFP_DEFAULTS = Path("vault") / "kfp-workflow-defaults.yaml"
TLS_SECRET = "vault.hashicorp.com/tls-secret"  # pragma: allowlist secret (an annotation name)
CA_CERT = "vault.hashicorp.com/ca-cert"


def _unquote(value: Any) -> Any:
    # python-hcl2 keeps the quotes of string literals.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(config: dict[str, Any], kind: str, label: str) -> list[dict[str, Any]]:
    """The bodies of ``kind "label" { … }`` blocks of a parsed HCL file."""
    found: list[dict[str, Any]] = []
    for entry in config.get(kind) or []:
        if isinstance(entry, dict):
            found += [body for name, body in entry.items() if _unquote(name) == label and isinstance(body, dict)]
    return found


def _secret_mounts(volumes: Any, mounts: Any) -> dict[str, str]:
    """mountPath -> Secret name, for the mounts of Secret volumes."""
    secrets = {
        v.get("name"): v["secret"].get("secretName")
        for v in volumes or []
        if isinstance(v, dict) and isinstance(v.get("secret"), dict)
    }
    return {
        str(m.get("mountPath", "")).rstrip("/"): str(secrets[m.get("name")])
        for m in mounts or []
        if isinstance(m, dict) and m.get("name") in secrets
    }


def _under_secret(path: Any, mounts: dict[str, str]) -> str | None:
    """The Secret whose mount holds ``path``, if any."""
    if not isinstance(path, str):
        return None
    return next((secret for folder, secret in mounts.items() if folder and path.startswith(folder + "/")), None)


def vault_values_problems(values: Any) -> list[str]:
    """What keeps Vault (chart values ``values``) from serving TLS with HA Raft peers that join."""
    if not isinstance(values, dict):
        return ["expected a mapping of the Vault chart's values"]
    problems: list[str] = []
    if (values.get("global") or {}).get("tlsDisable") is not False:
        problems.append("global.tlsDisable: expected false (the chart's default, true, serves plain http)")
    server = values.get("server") or {}
    mounts = _secret_mounts(server.get("volumes"), server.get("volumeMounts"))
    ha = server.get("ha") or {}
    raft = ha.get("raft") or {}
    if ha.get("enabled") is not True or raft.get("enabled") is not True:
        problems.append("server.ha.enabled and server.ha.raft.enabled: expected true (HA Raft)")
        return problems
    replicas = ha.get("replicas", 3)
    try:
        config = hcl_loads(str(raft.get("config") or ""))
    except MissingToolError:
        raise
    except Exception as exc:  # the parser raises lark's many error types
        return [*problems, f"server.ha.raft.config: not valid HCL: {one_line(str(exc))}"]
    listeners = _blocks(config, "listener", "tcp")
    if not listeners:
        problems.append('server.ha.raft.config: no listener "tcp" block')
    for listener in listeners:
        if listener.get("tls_disable") not in (None, False, "false", '"false"'):
            problems.append('server.ha.raft.config: listener "tcp" sets tls_disable')
        for key in ("tls_cert_file", "tls_key_file"):
            if not _under_secret(_unquote(listener.get(key)), mounts):
                problems.append(
                    f'server.ha.raft.config: listener "tcp" {key} = {_unquote(listener.get(key))!r}: '
                    "expected a file under a Secret in server.volumes/volumeMounts"
                )
    storages = _blocks(config, "storage", "raft")
    joins = [j for s in storages for j in s.get("retry_join") or [] if isinstance(j, dict)]
    if len(joins) != replicas:
        problems.append(
            f'server.ha.raft.config: storage "raft" has {len(joins)} retry_join blocks, expected one per '
            f"replica ({replicas}): without them the standbys never join"
        )
    for join in joins:
        address = str(_unquote(join.get("leader_api_addr", "")))
        if not address.startswith("https://"):
            problems.append(f"server.ha.raft.config: retry_join leader_api_addr {address!r}: expected https://")
        ca = _unquote(join.get("leader_ca_cert_file"))
        if not _under_secret(ca, mounts):
            problems.append(
                f"server.ha.raft.config: retry_join {address}: leader_ca_cert_file {ca!r}: "
                "expected a file under a Secret in server.volumes/volumeMounts"
            )
    return problems


def kfp_step_patch(patch: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(podSpecPatch, its ``main`` container or None) of the KFP workflow-controller patch."""
    defaults = yaml.safe_load(((patch or {}).get("data") or {}).get("workflowDefaults") or "") or {}
    pod_patch = yaml.safe_load(((defaults.get("spec") or {}).get("podSpecPatch")) or "") or {}
    main = next((c for c in pod_patch.get("containers") or [] if c.get("name") == "main"), None)
    return pod_patch, main


def kfp_ca(patch: Any) -> tuple[str, str]:
    """(VAULT_CACERT, Secret) the workflow-controller patch gives the KFP ``main`` containers.

    Raises ValueError naming the key that is missing or wrong."""
    pod_patch, main = kfp_step_patch(patch)
    if main is None:
        raise ValueError("data.workflowDefaults spec.podSpecPatch: no container named main (the step's container)")
    path = next((e.get("value") for e in main.get("env") or [] if e.get("name") == "VAULT_CACERT"), None)
    if not path:
        raise ValueError("data.workflowDefaults spec.podSpecPatch: container main has no VAULT_CACERT")
    secret = _under_secret(path, _secret_mounts(pod_patch.get("volumes"), main.get("volumeMounts")))
    if secret is None:
        raise ValueError(f"data.workflowDefaults spec.podSpecPatch: VAULT_CACERT {path} is not under a mounted Secret")
    return str(path), secret


def check_vault_ca(ctx: Context) -> CheckResult:
    """The documented Vault values serve TLS and join their peers; KFP step pods get the charts' CA."""
    result = CheckResult("vault-ca")
    layout = ctx.layout
    values_file = layout.secrets / VAULT_VALUES
    try:
        problems = vault_values_problems(yaml.safe_load(values_file.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        problems = [one_line(str(exc))]
    result.failures += [f"{layout.rel(values_file)}: {p}" for p in problems]
    result.count("vault-values")

    patch_file = layout.secrets / KFP_DEFAULTS
    try:
        kfp = kfp_ca(yaml.safe_load(patch_file.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
        result.failures.append(f"{layout.rel(patch_file)}: {one_line(str(exc))}")
        return result
    outcome = ctx.rendered()
    for render in outcome.renders:
        for manifest in render.manifests:
            template = _pod_template(manifest.body)
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            if annotations.get("vault.hashicorp.com/agent-inject") != "true" or TLS_SECRET not in annotations:
                continue
            result.count("pods")
            chart = (str(annotations.get(CA_CERT)), str(annotations.get(TLS_SECRET)))
            if chart != kfp:
                result.failures.append(
                    f"{layout.rel(patch_file)}: KFP step pods read Vault's CA from {kfp[0]} in Secret {kfp[1]}, "
                    f"but {manifest.source} ({manifest.ref}) from {chart[0]} in Secret {chart[1]}: "
                    "expected the same vault.caCertPath and vault.caSecret"
                )
    return result


def _pod_template(body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("spec") or {}
    if body.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    return spec.get("template") or {}
