"""``consistency``: what one file names, the others provide.

Each chart renders fine on its own; these rules read several files together, as the cluster will:

- ``consistency/terraform-keys``: ``infrastructure/helm/environments/<env>.yaml`` (Helm
  ``global.platform``, what Terraform built) exists for every environment a chart renders for and
  has exactly the keys the live root's ``helm_values`` output declares (a renamed output fails),
  the bucket purposes ``modules/platform`` creates and the service accounts it gives an IRSA role.
- ``consistency/egress``: every host and port a workload names (its container's environment and
  arguments, its Vault agent templates and the Vault address, the Feast config its variables
  fill in, the registry its platform config points at) has an egress rule in the NetworkPolicies
  that isolate its pods: an in-cluster service by its namespace, the registry database by the
  subnets Terraform put it in, anything else by an ipBlock outside the cluster.
- ``consistency/roles``: outside dev, every service account Terraform gave a role is created by a
  chart with that ``eks.amazonaws.com/role-arn`` annotation, and every workload that names an S3
  location runs as a service account with a role.
- ``consistency/env-vars``: every variable the app's cluster config reads (``env://`` references of
  the platform config, the Feast config's ``${VARIABLES}``) is set in the container or by a Vault
  env file its command sources.
- ``consistency/services``: every in-cluster service a workload names in the environment's own
  namespace (``mlops-<env>``) is a Service some chart of that environment renders (the MLflow the
  configs pointed at was once deployed by nothing); services of other namespaces (Vault, KFP, the
  feature store's Redis) are prerequisites the bootstrap doc installs.
- ``consistency/consent``: outside dev the platform config keeps ``privacy.consent`` in the
  environment's database: its URL is set (else the records would be SQLite in the pods' state
  folder, lost with each pod, and training would find no withdrawal) and names the host
  Terraform built (``global.platform.postgres.host``).
- ``consistency/state-dir``: an ``mlops`` command that writes the state folder runs with the
  platform config's ``state_dir`` on a writable volume (the image's ``/app`` is root-owned and the
  root filesystem read-only); a persistent volume mounted elsewhere is noted, since the state
  would not outlive the pod.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from infrastructure.validation.checks.terraform import parse_hcl
from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, Layout, one_line
from infrastructure.validation.manifests import Manifest
from infrastructure.validation.render import Render
from mlops.errors import ConfigError

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
VAULT_SERVICE = "vault.hashicorp.com/service"
VAULT_TEMPLATE = "vault.hashicorp.com/agent-inject-template-"
# Environments that may run without cloud identities (the dev cluster's workloads read local files).
ROLE_OPTIONAL_ENVIRONMENTS = frozenset({"dev"})
# `mlops` commands that open the model registry (platform_config.PlatformConfig.open_registry).
REGISTRY_COMMANDS = frozenset({"serve", "monitor", "dr"})
DEFAULT_PORTS = {"http": 80, "https": 443, "s3": 443, "redis": 6379, "rediss": 6379, "postgresql": 5432}
PRIVATE_RANGES = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
# `mlops` commands that write under the platform config's state_dir.
STATE_COMMANDS = frozenset({"serve", "backup", "monitor", "dr"})
# The image's working folder (Dockerfile WORKDIR): a relative state_dir is under it.
IMAGE_WORKDIR = Path("/app")

# What an unset ${VARIABLE} of the Feast config becomes: a host made of it names nothing.
_UNSET = "UNSET"
_TEMPLATE_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://(?:[^@/\s]*@)?([A-Za-z0-9_.-]+)(?::(\d+))?")
_HOST_PORT = re.compile(r"(?<![\w./@-])([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+):(\d{2,5})\b")
_PGPASS_LINE = re.compile(r"^([A-Za-z0-9_.-]+):(\d+):[^:\s]+:[^:\s]+:", re.MULTILINE)
_ENV_FILE_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
_SOURCED = re.compile(r"\.\s+/vault/secrets/([\w.-]+)")


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Terraform:
    """What Terraform built for one environment (global.platform of its environment file)."""

    postgres_host: str
    postgres_cidrs: tuple[str, ...]
    service_accounts: Mapping[str, str]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Terraform:
        platform = ((values.get("global") or {}).get("platform") or {}) if isinstance(values, Mapping) else {}
        postgres = platform.get("postgres") or {}
        return cls(
            postgres_host=str(postgres.get("host") or ""),
            postgres_cidrs=tuple(str(c) for c in postgres.get("cidrs") or []),
            service_accounts={str(k): str(v) for k, v in (platform.get("serviceAccounts") or {}).items()},
        )


@dataclass(frozen=True)
class Endpoint:
    """A host and port a workload names, and where it names it (for the failure message)."""

    host: str
    port: int
    where: str


@dataclass(frozen=True)
class Workload:
    """A rendered workload's pod: what the rules read from it."""

    manifest: Manifest
    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def containers(self) -> list[dict[str, Any]]:
        return [c for c in [*(self.spec.get("initContainers") or []), *(self.spec.get("containers") or [])] if c]

    @property
    def label(self) -> str:
        return f"{self.manifest.source}: {self.manifest.ref}"


def workloads(manifests: Iterable[Manifest]) -> Iterator[Workload]:
    for manifest in manifests:
        if manifest.kind not in WORKLOAD_KINDS:
            continue
        spec = manifest.body.get("spec") or {}
        if manifest.kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = spec.get("template") or {}
        metadata = template.get("metadata") or {}
        yield Workload(
            manifest,
            str((manifest.body.get("metadata") or {}).get("namespace") or ""),
            {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
            {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
            template.get("spec") or {},
        )


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {str(e["name"]): str(e["value"]) for e in container.get("env") or [] if "name" in e and "value" in e}


def _words(container: Mapping[str, Any]) -> list[str]:
    return [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]


def _vault_env_files(workload: Workload, container: Mapping[str, Any]) -> dict[str, set[str]]:
    """Vault env files the container's command sources -> the variables each one sets."""
    files: dict[str, set[str]] = {}
    for name in _SOURCED.findall(" ".join(_words(container))):
        template = workload.annotations.get(VAULT_TEMPLATE + name, "")
        files[name] = set(_ENV_FILE_KEY.findall(_TEMPLATE_ACTION.sub("", template)))
    return files


def _option(words: Sequence[str], name: str) -> str | None:
    for index, word in enumerate(words):
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
        if word == name and index + 1 < len(words):
            return words[index + 1]
    return None


def _mlops_command(words: Sequence[str]) -> str | None:
    """The subcommand of an `mlops` process: ``mlops x …`` in a shell line, else the first plain
    argument after ``mlops`` (``exec mlops "$@"`` with the subcommand in args, or ``["mlops"]``)."""
    joined = " ".join(words)
    if not re.search(r"(^|[\s/\"])mlops(\s|\"|$)", joined):
        return None
    if match := re.search(r"\bmlops\s+([a-z][\w-]*)", joined):
        return match.group(1)
    args = [w for w in words if not w.startswith("-") and w not in ("/bin/sh", "mlops") and " " not in w]
    return args[0] if args else None


def _uses_feast(words: Sequence[str]) -> str | None:
    """Why the container loads the cluster Feast config: `feast -c …`, or `mlops serve --features`."""
    joined = " ".join(words)
    if re.search(r"(^|[\s\"])feast\s+-c\b", joined):
        return "runs the feast CLI"
    if _mlops_command(words) == "serve" and "--features" in words:
        return "serves with --features"
    return None


# --------------------------------------------------------------------------- endpoints
def endpoints_in_text(text: str, where: str) -> list[Endpoint]:
    """URLs (scheme://host[:port]) and host:port pairs named in a value; template actions dropped."""
    text = _TEMPLATE_ACTION.sub("x", text)
    found: list[Endpoint] = []
    for match in _URL.finditer(text):
        scheme, host, port = match.group(1), match.group(2), match.group(3)
        base = scheme.split("+", 1)[0]
        if port is None and base not in DEFAULT_PORTS:
            continue
        if base == "s3":
            # s3://bucket/…: the bucket's regional endpoint, over HTTPS.
            host = f"{host}.s3.amazonaws.com"
        found.append(Endpoint(host, int(port or DEFAULT_PORTS[base]), where))
    rest = _URL.sub(" ", text)
    found += [Endpoint(m.group(1), int(m.group(5)), where) for m in _HOST_PORT.finditer(rest)]
    return found


def feast_endpoints(environment: str, variables: Mapping[str, str], where: str) -> list[Endpoint]:
    """Hosts the cluster Feast config names once ``variables`` fill its ``${VARIABLES}`` (unset
    ones stay unfilled and name nothing; the env-vars rule reports them)."""
    from feature_store.registry.loader import load_template

    text = yaml.safe_dump(load_template(environment))
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    data = yaml.safe_load(re.sub(r"\$\{\w+\}", _UNSET, text)) or {}
    found: list[Endpoint] = []
    for section in ("registry", "online_store", "offline_store"):
        block = data.get(section) or {}
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("host"), str):
            found.append(Endpoint(block["host"], int(block.get("port") or 5432), f"{where} ({section}.host)"))
        for key in ("path", "connection_string"):
            if isinstance(block.get(key), str):
                # Redis connection strings: host:port,option=value,…
                found += endpoints_in_text(block[key].split(",")[0], f"{where} ({section}.{key})")
    return [e for e in found if _UNSET not in e.host]


def workload_endpoints(workload: Workload, platform_configs: Mapping[str, Any]) -> list[Endpoint]:
    """Every host:port the workload's pod names (see the module docstring)."""
    found: list[Endpoint] = []
    if vault := workload.annotations.get(VAULT_SERVICE):
        found += endpoints_in_text(vault, f"annotation {VAULT_SERVICE}")
    for key, template in workload.annotations.items():
        if key.startswith(VAULT_TEMPLATE):
            name = key.removeprefix(VAULT_TEMPLATE)
            text = _TEMPLATE_ACTION.sub("x", template)
            found += [
                Endpoint(m.group(1), int(m.group(2)), f"Vault template {name}") for m in _PGPASS_LINE.finditer(text)
            ]
            found += endpoints_in_text(_PGPASS_LINE.sub("", text), f"Vault template {name}")
    for container in workload.containers:
        cname = container.get("name", "?")
        env = _env(container)
        for name, value in env.items():
            found += endpoints_in_text(value, f"container {cname} env {name}")
        words = _words(container)
        for word in words:
            found += endpoints_in_text(word, f"container {cname} argument {word.split('=', 1)[0]}")
        environment = _option(words, "--env") or env.get("MLOPS_ENV")
        config = platform_configs.get(environment or "")
        if config is not None and _mlops_command(words) in REGISTRY_COMMANDS:
            found += endpoints_in_text(
                str(config.registry.tracking_uri or ""),
                f"container {cname}: registry.tracking_uri of the {environment} config",
            )
        if config is not None and environment and _uses_feast(words):
            variables = dict(env)
            redis = config.features.redis_connection
            if redis and _mlops_command(words):
                variables.setdefault("REDIS_CONNECTION", redis)
            found += feast_endpoints(environment, variables, f"container {cname}: the {environment} Feast config")
    return found


# --------------------------------------------------------------------------- services
def service_problems(manifests: Sequence[Manifest], platform_configs: Mapping[str, Any]) -> list[str]:
    """Own-namespace services the environment's workloads name that no chart of it renders.

    ``manifests`` are every chart's render for one environment."""
    rendered = {
        (str((m.body.get("metadata") or {}).get("namespace") or ""), str((m.body.get("metadata") or {}).get("name")))
        for m in manifests
        if m.kind == "Service"
    }
    problems: list[str] = []
    for workload in workloads(manifests):
        for endpoint in workload_endpoints(workload, platform_configs):
            namespace = _service_namespace(endpoint.host, workload.namespace)
            name = endpoint.host.split(".", 1)[0]
            if namespace != workload.namespace or (namespace, name) in rendered:
                continue
            problems.append(
                f"consistency/services: {workload.label}: {endpoint.where} names {endpoint.host}:{endpoint.port}, "
                f"but no chart of this environment renders Service {name} in {namespace}"
            )
    return sorted(set(problems))


# --------------------------------------------------------------------------- egress
def _selects(policy: Mapping[str, Any], workload: Workload) -> bool:
    if str((policy.get("metadata") or {}).get("namespace") or "") != workload.namespace:
        return False
    selector = (policy.get("spec") or {}).get("podSelector") or {}
    labels = selector.get("matchLabels") or {}
    return all(workload.labels.get(k) == v for k, v in labels.items()) and not selector.get("matchExpressions")


def _isolates_egress(policy: Mapping[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    return "Egress" in types if types else bool(spec.get("egress"))


def egress_rules(workload: Workload, policies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """The egress rules that apply to the workload's pods; None when no policy isolates them."""
    selecting = [p for p in policies if _selects(p, workload) and _isolates_egress(p)]
    if not selecting:
        return None
    return [rule for p in selecting for rule in (p.get("spec") or {}).get("egress") or [] if isinstance(rule, dict)]


def _port_allowed(rule: Mapping[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports)


def _service_namespace(host: str, own: str) -> str | None:
    """The namespace of an in-cluster service name (``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``)."""
    parts = host.split(".")
    if len(parts) == 1:
        return own
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[1]
    return None


def _covered(cidr: str, rules: Sequence[Mapping[str, Any]]) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    for rule in rules:
        for peer in rule.get("to") or []:
            block = peer.get("ipBlock") if isinstance(peer, dict) else None
            if not block:
                continue
            allowed = ipaddress.ip_network(str(block.get("cidr")), strict=False)
            excepted = [ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []]
            if network.subnet_of(allowed) and not any(network.overlaps(e) for e in excepted):  # type: ignore[arg-type]
                return True
    return False


def _public(peer: Any) -> bool:
    """Whether a peer is an ipBlock reaching beyond the private ranges (where S3, STS and other
    external hosts are)."""
    block = peer.get("ipBlock") if isinstance(peer, dict) else None
    if not block:
        return False
    network = ipaddress.ip_network(str(block.get("cidr")), strict=False)
    return not any(network.subnet_of(p) for p in PRIVATE_RANGES)  # type: ignore[arg-type]


def endpoint_problem(
    endpoint: Endpoint, namespace: str, rules: Sequence[Mapping[str, Any]], terraform: Terraform
) -> str | None:
    """Why ``endpoint`` is not reachable through ``rules``, or None when it is."""
    on_port = [r for r in rules if _port_allowed(r, endpoint.port)]
    if any(not r.get("to") for r in on_port):
        return None
    target = f"{endpoint.host}:{endpoint.port} ({endpoint.where})"
    if endpoint.host == terraform.postgres_host and terraform.postgres_host:
        missing = [c for c in terraform.postgres_cidrs if not _covered(c, on_port)]
        if not terraform.postgres_cidrs:
            return f"{target}: the environment file has no global.platform.postgres.cidrs to allow"
        if missing:
            return (
                f"{target} is the registry database, but no egress rule allows port {endpoint.port} to its "
                f"subnets {', '.join(missing)} (global.platform.postgres.cidrs; egress target terraform: postgres)"
            )
        return None
    service_ns = _service_namespace(endpoint.host, namespace)
    if service_ns is not None:
        for rule in on_port:
            for peer in rule.get("to") or []:
                labels = (
                    ((peer.get("namespaceSelector") or {}).get("matchLabels") or {}) if isinstance(peer, dict) else {}
                )
                same_ns = isinstance(peer, dict) and "namespaceSelector" not in peer and "podSelector" in peer
                if labels.get("kubernetes.io/metadata.name") == service_ns or (same_ns and service_ns == namespace):
                    return None
        return f"{target}: no egress rule allows port {endpoint.port} to namespace {service_ns}"
    if not any(_public(peer) for rule in on_port for peer in rule.get("to") or []):
        return (
            f"{target}: an external host, but no egress rule allows port {endpoint.port} to an ipBlock "
            "outside the private ranges"
        )
    return None


def egress_problems(
    manifests: Sequence[Manifest], terraform: Terraform, platform_configs: Mapping[str, Any]
) -> list[str]:
    """``consistency/egress`` on one rendered release (see the module docstring)."""
    policies = [m.body for m in manifests if m.kind == "NetworkPolicy"]
    problems: list[str] = []
    for workload in workloads(manifests):
        rules = egress_rules(workload, policies)
        if rules is None:
            continue
        seen: set[tuple[str, int]] = set()
        for endpoint in workload_endpoints(workload, platform_configs):
            if (endpoint.host, endpoint.port) in seen:
                continue
            seen.add((endpoint.host, endpoint.port))
            if problem := endpoint_problem(endpoint, workload.namespace, rules, terraform):
                problems.append(f"consistency/egress: {workload.label}: {problem}")
    return problems


# --------------------------------------------------------------------------- roles
def names_object_storage(workload: Workload) -> str | None:
    """The first S3 location a workload's containers name (s3://…, restic's s3:…), if any."""
    for container in workload.containers:
        for value in [*_env(container).values(), *_words(container)]:
            if match := re.search(r"\bs3:(//|https?://)\S+", value):
                return match.group(0)
    return None


def role_problems(
    manifests_by_chart: Mapping[str, Sequence[Manifest]], env: str, terraform: Terraform, env_file: str
) -> list[str]:
    """``consistency/roles`` on every chart of one environment."""
    if env in ROLE_OPTIONAL_ENVIRONMENTS:
        return []
    problems: list[str] = []
    accounts: dict[str, Manifest] = {}
    for manifests in manifests_by_chart.values():
        for m in manifests:
            if m.kind == "ServiceAccount":
                accounts[m.name] = m
    for name, arn in sorted(terraform.service_accounts.items()):
        account = accounts.get(name)
        if account is None:
            problems.append(
                f"consistency/roles: {env_file}: global.platform.serviceAccounts.{name}: Terraform gives service "
                f"account {name} a role, but no chart creates it in mlops-{env}"
            )
            continue
        annotations = (account.body.get("metadata") or {}).get("annotations") or {}
        if annotations.get(ROLE_ANNOTATION) != arn:
            problems.append(
                f"consistency/roles: {account.source}: ServiceAccount/{name}: annotation {ROLE_ANNOTATION} is "
                f"{annotations.get(ROLE_ANNOTATION)!r}, expected {arn} "
                f"({env_file}: global.platform.serviceAccounts.{name})"
            )
    for manifests in manifests_by_chart.values():
        for workload in workloads(manifests):
            location = names_object_storage(workload)
            if location is None:
                continue
            account_name = str(workload.spec.get("serviceAccountName") or "default")
            account = accounts.get(account_name)
            annotations = ((account.body.get("metadata") or {}).get("annotations") or {}) if account else {}
            if ROLE_ANNOTATION not in annotations:
                problems.append(
                    f"consistency/roles: {workload.label}: names {location} but runs as service account "
                    f"{account_name}, which has no {ROLE_ANNOTATION} annotation (an IRSA role in "
                    f"global.platform.serviceAccounts.{account_name})"
                )
    return problems


# --------------------------------------------------------------------------- environment variables
def env_references(value: Any) -> set[str]:
    """Names of the ``env://NAME`` references anywhere in a (dumped) config."""
    if isinstance(value, dict):
        return set().union(*(env_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_references(v) for v in value)) if value else set()
    return {value.removeprefix("env://")} if isinstance(value, str) and value.startswith("env://") else set()


def config_env_references(config: Mapping[str, Any]) -> set[str]:
    """The ``env://`` references a platform config (dumped) makes the app read. Vault's own login
    (``vault.auth``) is read only when something is a ``vault://`` reference."""
    sections = dict(config)
    if "vault://" not in yaml.safe_dump({k: v for k, v in sections.items() if k != "vault"}):
        sections.pop("vault", None)
    return env_references(sections)


def env_var_problems(manifests: Sequence[Manifest], platform_configs: Mapping[str, Any]) -> list[str]:
    """``consistency/env-vars`` on one rendered release (see the module docstring)."""
    from feature_store.registry.loader import FROM_REDIS_CONNECTION, SET_BY_APP, load_template, template_variables

    problems: list[str] = []
    for workload in workloads(manifests):
        for container in workload.containers:
            words = _words(container)
            env = _env(container)
            environment = _option(words, "--env") or env.get("MLOPS_ENV")
            config = platform_configs.get(environment or "")
            command = _mlops_command(words)
            feast = _uses_feast(words)
            if config is None or not (command or feast):
                continue
            files = _vault_env_files(workload, container)
            provided = set(env) | {name for keys in files.values() for name in keys}
            needed: dict[str, str] = {}
            if command:
                for name in config_env_references(config.model_dump(mode="json")):
                    needed[name] = f"an env:// reference of the {environment} platform config"
            if feast:
                names = template_variables(load_template(environment or ""))
                if command:
                    # The app fills these itself (feature_store.registry.loader.repo_settings).
                    names -= SET_BY_APP | set(config.features.variables)
                    if config.features.redis_connection:
                        names.discard(FROM_REDIS_CONNECTION)
                for name in names:
                    needed.setdefault(name, f"the {environment} Feast config ({feast})")
            sources = ", ".join(f"/vault/secrets/{f}" for f in sorted(files)) or "no Vault env file"
            for name in sorted(set(needed) - provided):
                problems.append(
                    f"consistency/env-vars: {workload.label}: container {container.get('name')} does not get "
                    f"{name}, which {needed[name]} reads (its env and {sources} do not set it)"
                )
    return problems


# --------------------------------------------------------------------------- state folder
def state_dir_problems(
    manifests: Sequence[Manifest], platform_configs: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """``consistency/state-dir`` on one rendered release: (failures, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    for workload in workloads(manifests):
        volumes = {str(v.get("name")): v for v in workload.spec.get("volumes") or [] if isinstance(v, dict)}
        for container in workload.spec.get("containers") or []:
            words = _words(container)
            environment = _option(words, "--env") or _env(container).get("MLOPS_ENV")
            config = platform_configs.get(environment or "")
            if config is None or _mlops_command(words) not in STATE_COMMANDS:
                continue
            state = IMAGE_WORKDIR / config.state_dir
            # mountPath -> volume, for the writable kinds a pod can keep state on.
            mounted = {
                Path(str(m.get("mountPath"))): volumes.get(str(m.get("name"))) or {}
                for m in container.get("volumeMounts") or []
                if not m.get("readOnly")
            }
            writable = {path: v for path, v in mounted.items() if {"emptyDir", "persistentVolumeClaim"} & set(v)}
            holding = [path for path in writable if state == path or path in state.parents]
            where = f"consistency/state-dir: {workload.label}: container {container.get('name')}"
            if not holding:
                problems.append(
                    f"{where} runs `mlops {_mlops_command(words)}` with state_dir {state} (the {environment} "
                    "platform config), but no writable volume is mounted there"
                )
                continue
            deepest = max(holding, key=lambda p: len(p.parts))
            claims = [p for p, v in writable.items() if "persistentVolumeClaim" in v and p != deepest]
            if claims and "persistentVolumeClaim" not in writable[deepest]:
                notes.append(
                    f"{where}: persistent volume at {', '.join(map(str, claims))}, but state_dir {state} is on "
                    f"the emptyDir at {deepest}: the state does not outlive the pod"
                )
    return problems, notes


# --------------------------------------------------------------------------- Terraform keys
def _hcl_key(key: str) -> str:
    return key.strip('"')


def _hcl_blocks(parsed: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind) or []:
        if isinstance(entry, dict):
            found.update({_hcl_key(k): v for k, v in entry.items() if isinstance(v, dict)})
    return found


def _hcl_locals(parsed: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in parsed.get("locals") or []:
        if isinstance(entry, dict):
            merged.update(entry)
    return merged


@dataclass(frozen=True)
class Declared:
    """What the Terraform code says the environment files hold."""

    # The helm_values output's object, expressions as leaves.
    tree: Mapping[str, Any]
    buckets: frozenset[str]
    service_accounts: frozenset[str]


def declared_outputs(terraform_dir: Path) -> Declared:
    """Read live/outputs.tf (``helm_values``), modules/platform/main.tf (bucket purposes, the
    workloads with S3 access) and modules/workloads/main.tf (their service accounts)."""
    outputs = _hcl_blocks(parse_hcl(terraform_dir / "live" / "outputs.tf"), "output")
    if "helm_values" not in outputs:
        raise ValueError('live/outputs.tf: no output "helm_values"')
    tree = outputs["helm_values"].get("value")
    platform = parse_hcl(terraform_dir / "modules" / "platform" / "main.tf")
    storage = _hcl_blocks(platform, "module").get("object_storage") or {}
    buckets = frozenset(_hcl_key(k) for k in (storage.get("buckets") or {}))
    with_s3 = {_hcl_key(k) for k in (_hcl_locals(platform).get("s3_access") or {})}
    table = _hcl_locals(parse_hcl(terraform_dir / "modules" / "workloads" / "main.tf")).get("workloads") or {}
    accounts = frozenset(
        _hcl_key(str(w.get("service_account")))
        for name, w in table.items()
        if _hcl_key(name) in with_s3 and "local.app_namespace" in str(w.get("namespace"))
    )
    return Declared(tree if isinstance(tree, dict) else {}, buckets, accounts)


def _key_paths(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, Mapping) or not tree:
        return {prefix}
    return set().union(*(_key_paths(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in tree.items()))


# Keys of the output whose value is a map built by Terraform: compared with `Declared` instead.
_DYNAMIC_MAPS = {"global.platform.buckets": "buckets", "global.platform.serviceAccounts": "service_accounts"}


def terraform_key_problems(declared: Declared, values: Any, env_file: str) -> list[str]:
    """``consistency/terraform-keys`` for one environment file."""
    if not isinstance(values, Mapping):
        return [f"consistency/terraform-keys: {env_file}: expected a mapping (the helm_values output)"]
    problems: list[str] = []
    dynamic: dict[str, Any] = {}
    for path in _DYNAMIC_MAPS:
        node: Any = values
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        dynamic[path] = node
    expected = _key_paths(declared.tree)
    actual = {p for p in _key_paths(values) if not any(p == d or p.startswith(d + ".") for d in _DYNAMIC_MAPS)}
    actual |= {d for d, v in dynamic.items() if v is not None}
    for key in sorted(expected - actual):
        problems.append(
            f"consistency/terraform-keys: {env_file}: {key} is missing: infrastructure/terraform/live/outputs.tf "
            "output helm_values declares it (regenerate the file from `terraform output -json helm_values`)"
        )
    for key in sorted(actual - expected):
        problems.append(
            f"consistency/terraform-keys: {env_file}: {key} is not in infrastructure/terraform/live/outputs.tf "
            "output helm_values (renamed or removed there?)"
        )
    for path, attribute in _DYNAMIC_MAPS.items():
        wanted: frozenset[str] = getattr(declared, attribute)
        given = dynamic[path]
        if given is None:
            continue
        if not isinstance(given, Mapping):
            problems.append(f"consistency/terraform-keys: {env_file}: {path}: expected a mapping")
            continue
        if set(given) != wanted:
            has = ", ".join(sorted(map(str, given))) or "nothing"
            builds = ", ".join(sorted(wanted)) or "nothing"
            problems.append(f"consistency/terraform-keys: {env_file}: {path} has {has}; Terraform builds {builds}")
    platform = ((values.get("global") or {}).get("platform") or {}) if isinstance(values.get("global"), Mapping) else {}
    for cidr in (platform.get("postgres") or {}).get("cidrs") or []:
        try:
            network = ipaddress.ip_network(str(cidr))
        except ValueError:
            problems.append(
                f"consistency/terraform-keys: {env_file}: global.platform.postgres.cidrs: {cidr!r} is not a CIDR"
            )
            continue
        if not any(network.subnet_of(p) for p in PRIVATE_RANGES):  # type: ignore[arg-type]
            problems.append(
                f"consistency/terraform-keys: {env_file}: global.platform.postgres.cidrs: {cidr} is not a private range"
            )
    for name, arn in (platform.get("serviceAccounts") or {}).items():
        if not re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", str(arn)):
            problems.append(
                f"consistency/terraform-keys: {env_file}: global.platform.serviceAccounts.{name}: {arn!r} "
                "is not an IAM role ARN"
            )
    return problems


# --------------------------------------------------------------------------- the check
def environment_file(layout: Layout, env: str) -> Path:
    return layout.helm / "environments" / f"{env}.yaml"


def _platform_configs(layout: Layout, envs: Iterable[str], result: CheckResult) -> dict[str, Any]:
    from platform_config import load_platform_config

    configs: dict[str, Any] = {}
    for env in envs:
        try:
            configs[env] = load_platform_config(layout.root / "config", env)
        except ConfigError as exc:
            result.failures.append(f"consistency: the {env} platform config does not load: {one_line(str(exc))}")
    return configs


# --------------------------------------------------------------------------- consent
def consent_problems(env: str, config: Any, terraform: Terraform, env_file: str) -> list[str]:
    """``consistency/consent`` for one environment (see the module docstring)."""
    if env in ROLE_OPTIONAL_ENVIRONMENTS or config is None:
        return []
    where = f"consistency/consent: config/environments/{env}.yaml privacy.consent.url"
    url = config.privacy.consent.url
    if not url:
        return [
            f"{where} is not set: the consent records would be SQLite under the pods' state folder, lost "
            "with each pod, and training would find no withdrawal (docs/platform/bootstrap.md, Databases)"
        ]
    host = urlsplit(url).hostname or ""
    if host != terraform.postgres_host:
        return [
            f"{where} names host {host or '(none)'!r}, but the environment's database is "
            f"{terraform.postgres_host or '(not set)'!r} ({env_file}, global.platform.postgres.host)"
        ]
    return []


def check_consistency(ctx: Context) -> CheckResult:
    """The cross-file rules over every chart x environment (see the module docstring)."""
    result = CheckResult("consistency")
    layout = ctx.layout
    outcome = ctx.rendered()
    renders: dict[str, list[Render]] = {}
    for render in outcome.renders:
        renders.setdefault(render.env, []).append(render)
    try:
        declared: Declared | None = declared_outputs(layout.terraform)
    except (OSError, ValueError) as exc:
        result.failures.append(f"consistency/terraform-keys: {one_line(str(exc))}")
        declared = None
    # Every environment a chart renders for, or fails to: one that did not render still needs its file.
    envs = set(renders) | {label.split("/", 1)[1] for label in outcome.unrendered if "/" in label}
    configs = _platform_configs(layout, envs, result)
    for env in sorted(envs):
        env_renders = renders.get(env, [])
        path = environment_file(layout, env)
        env_file = layout.rel(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            result.failures.append(
                f"consistency/terraform-keys: {env_file} does not exist: every environment the charts render for "
                "needs what Terraform built for it (docs/platform/bootstrap.md)"
            )
            continue
        except yaml.YAMLError as exc:
            result.failures.append(f"consistency/terraform-keys: {env_file}: {one_line(str(exc))}")
            continue
        result.count("environments")
        if declared is not None:
            result.failures += terraform_key_problems(declared, values, env_file)
        terraform = Terraform.from_values(values)
        for render in env_renders:
            result.count("releases")
            result.failures += egress_problems(render.manifests, terraform, configs)
            result.failures += env_var_problems(render.manifests, configs)
            problems, notes = state_dir_problems(render.manifests, configs)
            result.failures += problems
            result.notes += notes
        result.failures += role_problems({r.chart: r.manifests for r in env_renders}, env, terraform, env_file)
        result.failures += consent_problems(env, configs.get(env), terraform, env_file)
        result.failures += service_problems([m for r in env_renders for m in r.manifests], configs)
    result.failures += [
        f"{label}: not checked, the chart did not render (see helm-render)" for label in outcome.unrendered
    ]
    return result
