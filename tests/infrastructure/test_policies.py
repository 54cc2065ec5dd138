"""The Rego policies in infrastructure/policies: each rule denies a crafted bad manifest, names the
object, the container and the rule, and lets a compliant manifest through.

The policies run in the same engine wrapper as `make validate-infra` (regorus, Rego v1).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infrastructure.validation.checks.policies import PolicyEngine

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "infrastructure" / "policies"
VAULT_ANNOTATIONS = {
    "vault.hashicorp.com/agent-inject": "true",
    "vault.hashicorp.com/role": "serving",
    # Vault's CA for the agent (tests/infrastructure/test_vault_ca.py drops it).
    "vault.hashicorp.com/tls-secret": "vault-ca",  # pragma: allowlist secret
    "vault.hashicorp.com/ca-cert": "/vault/tls/ca.crt",
}
RULE_IDS = {
    "pod-security/run-as-non-root",
    "pod-security/allow-privilege-escalation",
    "pod-security/capabilities",
    "pod-security/seccomp",
    "pod-security/privileged",
    "pod-security/host-namespaces",
    "pod-security/host-path",
    "pod-security/host-ports",
    "pod-security/volume-types",
    "pod-security/proc-mount",
    "pod-security/sysctls",
    "pod-security/selinux",
    "pod-security/apparmor",
    "pod-security/host-process",
    "resources/requests-limits",
    "images/pinned",
    "secrets/literal-env",
    "secrets/vault-annotations",
}


@pytest.fixture(scope="module")
def engine() -> Any:
    return PolicyEngine(POLICIES)


def deny(engine: Any, *objects: dict[str, Any]) -> list[str]:
    """Deny messages for objects rendered together (a release), flattened."""
    return [message for messages in engine.deny(list(objects)) for message in messages]


def container(name: str = "model", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "image": "registry.example.com:5000/mlops/platform:1.4.2",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "env": [
            {"name": "MLOPS_ENV", "value": "prod"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "VAULT_CACERT", "value": "/vault/tls/ca.crt"},
        ],
        "volumeMounts": [{"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True}],
    }
    spec.update(overrides)
    return spec


def deployment(**pod_overrides: Any) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "serviceAccountName": "serving",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [container("migrate")],
        "containers": [container("model")],
        "volumes": [{"name": "vault-ca", "secret": {"secretName": "vault-ca"}}],  # pragma: allowlist secret
    }
    pod_spec.update(pod_overrides)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "serving", "namespace": "serving"},
        "spec": {
            "selector": {"matchLabels": {"app": "serving"}},
            "template": {"metadata": {"labels": {"app": "serving"}}, "spec": pod_spec},
        },
    }


def reads_vault_file(obj: dict[str, Any]) -> dict[str, Any]:
    pod = obj["spec"]["template"]["spec"]
    pod["containers"][0]["env"].append({"name": "MLOPS_SECRETS_FILE", "value": "file:///vault/secrets/serving.env"})
    return obj


def with_container(mutate: Callable[[dict[str, Any]], None], index: int = 0, field: str = "containers") -> Any:
    def apply(obj: dict[str, Any]) -> dict[str, Any]:
        mutate(obj["spec"]["template"]["spec"][field][index])
        return obj

    return apply


def with_pod(mutate: Callable[[dict[str, Any]], None]) -> Any:
    def apply(obj: dict[str, Any]) -> dict[str, Any]:
        mutate(obj["spec"]["template"]["spec"])
        return obj

    return apply


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(target: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(target: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


# (case id, mutation of the compliant Deployment, rule id, text the message must contain)
BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str, str]] = [
    (
        "privileged",
        with_container(_set("securityContext.privileged", True)),
        "pod-security/privileged",
        "container model",
    ),
    (
        "privilege-escalation-unset",
        with_container(_drop("securityContext.allowPrivilegeEscalation")),
        "pod-security/allow-privilege-escalation",
        "container model",
    ),
    (
        "privilege-escalation-true",
        with_container(_set("securityContext.allowPrivilegeEscalation", True)),
        "pod-security/allow-privilege-escalation",
        "container model",
    ),
    (
        "capabilities-not-dropped",
        with_container(_set("securityContext.capabilities", {"drop": ["NET_RAW"]})),
        "pod-security/capabilities",
        "drop must include ALL",
    ),
    (
        "capability-added",
        with_container(_set("securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
        "pod-security/capabilities",
        "SYS_ADMIN",
    ),
    ("run-as-non-root-unset", with_pod(_drop("securityContext.runAsNonRoot")), "pod-security/run-as-non-root", "model"),
    (
        "run-as-non-root-overridden",
        with_container(_set("securityContext.runAsNonRoot", False)),
        "pod-security/run-as-non-root",
        "container model",
    ),
    ("run-as-root-uid", with_container(_set("securityContext.runAsUser", 0)), "pod-security/run-as-non-root", "0"),
    ("seccomp-unset", with_pod(_drop("securityContext.seccompProfile")), "pod-security/seccomp", "container model"),
    (
        "seccomp-unconfined",
        with_container(_set("securityContext.seccompProfile", {"type": "Unconfined"})),
        "pod-security/seccomp",
        "container model",
    ),
    ("host-network", with_pod(_set("hostNetwork", True)), "pod-security/host-namespaces", "hostNetwork"),
    ("host-pid", with_pod(_set("hostPID", True)), "pod-security/host-namespaces", "hostPID"),
    ("host-ipc", with_pod(_set("hostIPC", True)), "pod-security/host-namespaces", "hostIPC"),
    (
        "host-path",
        with_pod(_set("volumes", [{"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock"}}])),
        "pod-security/host-path",
        "volume docker-sock",
    ),
    (
        "host-port",
        with_container(_set("ports", [{"containerPort": 8080, "hostPort": 8080}])),
        "pod-security/host-ports",
        "hostPort 8080",
    ),
    (
        "nfs-volume",
        with_pod(_set("volumes", [{"name": "shared", "nfs": {"server": "nfs.internal", "path": "/data"}}])),
        "pod-security/volume-types",
        "volume shared is a nfs volume",
    ),
    (
        "unmasked-proc",
        with_container(_set("securityContext.procMount", "Unmasked")),
        "pod-security/proc-mount",
        "container model",
    ),
    (
        "unsafe-sysctl",
        with_pod(_set("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "65536"}])),
        "pod-security/sysctls",
        "kernel.msgmax",
    ),
    (
        "selinux-user",
        with_container(_set("securityContext.seLinuxOptions", {"user": "system_u"})),
        "pod-security/selinux",
        "container model: seLinuxOptions.user",
    ),
    (
        "selinux-type",
        with_pod(_set("securityContext.seLinuxOptions", {"type": "spc_t"})),
        "pod-security/selinux",
        "spc_t",
    ),
    (
        "apparmor-unconfined",
        with_container(_set("securityContext.appArmorProfile", {"type": "Unconfined"})),
        "pod-security/apparmor",
        "container model",
    ),
    (
        "windows-host-process",
        with_container(_set("securityContext.windowsOptions", {"hostProcess": True})),
        "pod-security/host-process",
        "container model",
    ),
    (
        "limits-missing",
        with_container(_drop("resources.limits")),
        "resources/requests-limits",
        "limits.cpu, limits.memory",
    ),
    (
        "init-container-requests-missing",
        with_container(_drop("resources.requests"), field="initContainers"),
        "resources/requests-limits",
        "initContainer migrate: resources requests.cpu, requests.memory",
    ),
    (
        "latest-tag",
        with_container(_set("image", "registry.example.com/mlops/platform:latest")),
        "images/pinned",
        "latest",
    ),
    ("untagged", with_container(_set("image", "registry.example.com:5000/mlops/platform")), "images/pinned", "no tag"),
    (
        "literal-secret-env",
        with_container(lambda c: c["env"].append({"name": "FEAST_REDIS_PASSWORD", "value": "not-a-real-value"})),
        "secrets/literal-env",
        "env FEAST_REDIS_PASSWORD",
    ),
    (
        "literal-token-in-init-container",
        with_container(lambda c: c["env"].append({"name": "API_TOKEN", "value": ""}), field="initContainers"),
        "secrets/literal-env",
        "initContainer migrate: env API_TOKEN",
    ),
    ("vault-annotation-missing", reads_vault_file, "secrets/vault-annotations", "agent-inject"),
    (
        "vault-args-annotation-missing",
        with_container(_set("args", ["--secrets", "file:///vault/secrets/serving.env"])),
        "secrets/vault-annotations",
        "agent-inject",
    ),
]


def test_compliant_deployment_passes(engine: Any) -> None:
    assert deny(engine, deployment()) == []


def test_compliant_workload_reading_vault_secrets_passes(engine: Any) -> None:
    obj = reads_vault_file(deployment())
    obj["spec"]["template"]["metadata"]["annotations"] = dict(VAULT_ANNOTATIONS)
    # A reference is not a secret value, even under a secret-looking name.
    assert deny(engine, obj) == []


def test_non_workloads_are_not_judged(engine: Any) -> None:
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"DB_PASSWORD": "x"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
    ]
    assert deny(engine, *objects) == []


@pytest.mark.parametrize(("mutate", "rule", "text"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_each_rule_denies_a_bad_manifest(engine: Any, mutate: Any, rule: str, text: str) -> None:
    messages = deny(engine, mutate(copy.deepcopy(deployment())))
    matching = [m for m in messages if m.startswith(f"{rule}: Deployment/serving") and text in m]
    assert matching, f"expected a {rule} deny mentioning {text!r}, got {messages}"


def test_every_rule_is_exercised() -> None:
    assert {rule for _, _, rule, _ in BAD_CASES} == RULE_IDS


def test_messages_name_kind_object_container_and_rule(engine: Any) -> None:
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0] = {"name": "sidecar", "image": "busybox"}
    messages = deny(engine, bad)
    pattern = re.compile(r"^(?P<rule>[a-z-]+/[a-z-]+): Deployment/serving container sidecar: .+")
    assert {match.group("rule") for m in messages if (match := pattern.match(m))} == {
        "pod-security/allow-privilege-escalation",
        "pod-security/capabilities",
        "resources/requests-limits",
        "images/pinned",
    }


def test_vault_role_is_required_with_injection(engine: Any) -> None:
    obj = reads_vault_file(deployment())
    obj["spec"]["template"]["metadata"]["annotations"] = {
        k: v for k, v in VAULT_ANNOTATIONS.items() if k != "vault.hashicorp.com/role"
    }
    lacks_role = "reads secrets but the pod template lacks a vault.hashicorp.com/role"
    assert deny(engine, obj) == [f"secrets/vault-annotations: Deployment/serving: {lacks_role}"]


def test_secrets_read_through_a_mounted_configmap_need_vault(engine: Any) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "serving-config"},
        "data": {"feature_store.yaml": "online_store:\n  connection_string: file:///vault/secrets/redis.env\n"},
    }
    obj = deployment()
    obj["spec"]["template"]["spec"]["volumes"].append({"name": "config", "configMap": {"name": "serving-config"}})
    assert any(m.startswith("secrets/vault-annotations: Deployment/serving") for m in deny(engine, obj, config))
    # The same Deployment next to a ConfigMap that references no secret is fine.
    config["data"] = {"feature_store.yaml": "online_store:\n  type: sqlite\n"}
    assert deny(engine, obj, config) == []


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("labels", "mlops.platform/reads-secrets"),
        ("annotations", "mlops.platform/reads-secrets"),
        ("annotations", "vault.hashicorp.com/agent-inject-secret-db"),
    ],
)
def test_declared_secret_readers_need_vault(engine: Any, where: str, key: str) -> None:
    obj = deployment()
    obj["spec"]["template"]["metadata"].setdefault(where, {})[key] = "true"
    messages = deny(engine, obj)
    assert any(m.startswith("secrets/vault-annotations: Deployment/serving") for m in messages), messages


def test_pods_and_cronjobs_are_workloads_too(engine: Any) -> None:
    template = deployment()["spec"]["template"]
    template["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug"}, "spec": template["spec"]}
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "materialize"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    messages = deny(engine, pod, cronjob)
    assert "pod-security/privileged: Pod/debug container model: securityContext.privileged must not be true" in messages
    assert (
        "pod-security/privileged: CronJob/materialize container model: securityContext.privileged must not be true"
        in messages
    )


def test_digest_pins_an_image(engine: Any) -> None:
    digest = "sha256:" + "a" * 64
    obj = with_container(_set("image", f"registry.example.com/mlops/platform@{digest}"))(deployment())
    assert deny(engine, obj) == []


def test_namespaces_must_enforce_restricted(engine: Any) -> None:
    def namespace(labels: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tools", "labels": labels}}

    assert deny(engine, namespace({"pod-security.kubernetes.io/enforce": "restricted"})) == []
    assert deny(engine, namespace({"pod-security.kubernetes.io/enforce": "baseline"})) == [
        "pod-security/namespace-enforce: Namespace/tools: pod-security.kubernetes.io/enforce is baseline; "
        "it must be restricted"
    ]
    assert any("enforce is <unset>" in m for m in deny(engine, namespace({})))


# --------------------------------------------------------------------------- NetworkPolicies per environment
def network_policy(name: str, selector: dict[str, Any], namespace: str = "serving", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": selector, **spec},
    }


DEFAULT_DENY = network_policy("default-deny", {}, policyTypes=["Ingress", "Egress"])
ALLOW_DNS = network_policy(
    "dns", {"matchLabels": {"app": "serving"}}, policyTypes=["Egress"], egress=[{"ports": [{"port": 53}]}]
)


def network_denies(engine: Any, environment: str, policies: list[dict[str, Any]], **inventory: Any) -> list[str]:
    messages = engine.deny([deployment()], environment=environment, networkpolicies=policies, **inventory)[0]
    return [m for m in messages if m.startswith("network/")]


def test_staging_and_prod_workloads_need_default_deny_and_allow_rules(engine: Any) -> None:
    for environment in ("staging", "prod"):
        assert network_denies(engine, environment, [DEFAULT_DENY, ALLOW_DNS]) == []
        assert network_denies(engine, environment, []) == [
            f"network/default-deny: Deployment/serving in {environment}: no NetworkPolicy rendered for "
            f"{environment} selects its pods for Ingress and Egress"
        ]
        assert network_denies(engine, environment, [DEFAULT_DENY]) == [
            f"network/allow-rules: Deployment/serving in {environment}: the NetworkPolicies selecting its pods "
            "deny everything; it needs an allow rule (DNS at least)"
        ]
    # Dev, and manifests outside any environment, are not held to it.
    assert network_denies(engine, "dev", []) == []
    assert network_denies(engine, "", []) == []


def test_network_policies_must_select_the_pods_in_their_namespace(engine: Any) -> None:
    elsewhere = network_policy("default-deny", {}, namespace="other", policyTypes=["Ingress", "Egress"])
    other_pods = network_policy("deny", {"matchLabels": {"app": "other"}}, policyTypes=["Ingress", "Egress"])
    not_in = network_policy(
        "deny",
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["serving"]}]},
        policyTypes=["Ingress", "Egress"],
    )
    for policies in ([elsewhere, ALLOW_DNS], [other_pods, ALLOW_DNS], [not_in, ALLOW_DNS]):
        assert any("selects its pods for Ingress" in m for m in network_denies(engine, "prod", policies)), policies
    exists = network_policy(
        "deny", {"matchExpressions": [{"key": "app", "operator": "Exists"}]}, policyTypes=["Ingress", "Egress"]
    )
    assert network_denies(engine, "prod", [exists, ALLOW_DNS]) == []
    # No policyTypes: Ingress, plus Egress when there are egress rules.
    implicit = network_policy("allow", {}, ingress=[{}], egress=[{"ports": [{"port": 53}]}])
    assert network_denies(engine, "prod", [implicit]) == []
    ingress_only = network_policy("allow", {}, ingress=[{}])
    assert "for Egress" in " ".join(network_denies(engine, "prod", [ingress_only]))


def test_the_values_file_that_disabled_network_policies_is_named(engine: Any) -> None:
    values = [
        {"key": "networkPolicy.enabled", "value": False, "file": "infrastructure/helm/serving/values-prod.yaml"},
        {"key": "replicas", "value": 2, "file": "infrastructure/helm/serving/values.yaml"},
    ]
    (message,) = network_denies(engine, "prod", [], values=values)
    assert message.endswith(
        "for Ingress and Egress (infrastructure/helm/serving/values-prod.yaml sets networkPolicy.enabled: false)"
    )
