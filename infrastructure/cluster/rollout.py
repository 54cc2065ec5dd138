"""Rollout restarts, scaling, and waiting for both, as ``kubectl rollout restart|status`` and
``kubectl scale`` do them.

Which workloads read a Vault secret is written on their pod templates: the Vault agent injector's
``vault.hashicorp.com/agent-inject-secret-<file>`` annotations name the secret's KV v2 path
(``secret/data/mlops/<env>/<area>``) and the ``agent-inject-template-<file>`` templates read it
with ``secret "…"``. A running pod keeps the value its agent rendered at start (the platform's
containers read the files once), so after a rotation the Deployments and StatefulSets that read
the secret are restarted; a CronJob's next run starts new pods, which read the new version.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infrastructure.cluster.client import SCALABLE_KINDS, Cluster, ObjectRef
from infrastructure.cluster.status import RolloutState, pod_template, rollout_state
from mlops.errors import ClusterError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the annotation `kubectl rollout restart` sets
INJECT_SECRET = "vault.hashicorp.com/agent-inject-secret-"  # pragma: allowlist secret (an annotation prefix)
INJECT_TEMPLATE = "vault.hashicorp.com/agent-inject-template-"
DEFAULT_TIMEOUT_S = 300.0
POLL_S = 2.0
# `secret "PATH"` and `secret (printf "FORMAT" "ARG")` in a Consul template.
_SECRET_CALL = re.compile(r'secret\s+(?:"([^"]+)"|\(\s*printf\s+"([^"]+)"\s+"([^"]*)"\s*\))')


def kv_path(path: str) -> str:
    """A secret's path without the KV v2 ``data/`` segment, scheme or key: ``secret/data/mlops/x``,
    ``vault://secret/mlops/x#k`` and ``secret/mlops/x`` are all ``secret/mlops/x``."""
    path = path.removeprefix("vault://").split("#", 1)[0].split("?", 1)[0].strip("/")
    mount, _, rest = path.partition("/")
    if rest.startswith("data/"):
        rest = rest.removeprefix("data/")
    return f"{mount}/{rest}" if rest else mount


def secret_paths(template: dict[str, Any]) -> set[str]:
    """Every Vault secret a pod template's agent annotations read (as :func:`kv_path`)."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    found = set()
    for key, value in annotations.items():
        if key.startswith(INJECT_SECRET):
            found.add(kv_path(str(value)))
        elif key.startswith(INJECT_TEMPLATE):
            for plain, fmt, arg in _SECRET_CALL.findall(str(value)):
                found.add(kv_path(plain or fmt.replace("%s", arg, 1)))
    return found


@dataclass(frozen=True)
class SecretReaders:
    """The workloads whose pods read a secret: restarted now, or picking it up at their next run."""

    secret: str
    restart: list[ObjectRef] = field(default_factory=list)
    next_run: list[ObjectRef] = field(default_factory=list)


def readers_of(objects: Iterable[dict[str, Any]], secret: str) -> SecretReaders:
    """Which of ``objects`` (Deployments, StatefulSets, CronJobs as the API's JSON) read ``secret``."""
    wanted = kv_path(secret)
    restart: list[ObjectRef] = []
    next_run: list[ObjectRef] = []
    for obj in objects:
        if wanted not in secret_paths(pod_template(obj)):
            continue
        meta = obj.get("metadata", {})
        ref = ObjectRef(obj["kind"], meta.get("namespace", ""), meta.get("name", ""))
        (next_run if obj["kind"] == "CronJob" else restart).append(ref)
    return SecretReaders(wanted, sorted(restart, key=str), sorted(next_run, key=str))


def find_readers(cluster: Cluster, namespace: str, secret: str) -> SecretReaders:
    """Every workload of ``namespace`` that reads ``secret``, the platform's or not: what reads the
    old value must restart whoever deployed it."""
    objects = [obj for kind in SCALABLE_KINDS for obj in cluster.list_workloads(kind, namespace)]
    return readers_of([*objects, *cluster.list_cronjobs(namespace)], secret)


def restart(cluster: Cluster, refs: Iterable[ObjectRef], now: datetime | None = None) -> None:
    """``kubectl rollout restart``: a new pod template annotation, so the controller replaces every pod."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    for ref in refs:
        cluster.patch_workload(ref, patch)


Check = Callable[[Cluster, dict[str, Any]], RolloutState]


def rolled_out(_cluster: Cluster, obj: dict[str, Any]) -> RolloutState:
    return rollout_state(obj)


def scaled_to_zero(cluster: Cluster, obj: dict[str, Any]) -> RolloutState:
    """Rolled out at 0 replicas and no pod left, terminating ones included (they still hold
    connections to the stores)."""
    state = rollout_state(obj)
    if not state.done:
        return state
    meta = obj.get("metadata", {})
    match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = cluster.count_pods(meta.get("namespace", ""), match) if match else 0
    return RolloutState(pods == 0, "no pod left" if pods == 0 else f"{pods} pod(s) still running or terminating")


def wait(
    cluster: Cluster,
    refs: Iterable[ObjectRef],
    *,
    check: Check = rolled_out,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = lambda _line: None,
) -> None:
    """Until every workload passes ``check`` (default: ``kubectl rollout status``); a Deployment
    past its progress deadline, or ``timeout_s`` elapsed, raises ClusterError naming each one
    still waiting and what for."""
    pending = {ref: "not read yet" for ref in refs}
    deadline = clock() + timeout_s
    while True:
        for ref in list(pending):
            state = check(cluster, cluster.read_workload(ref))
            if state.failed:
                raise ClusterError(f"{ref}: {state.message} (kubectl -n {ref.namespace} describe {ref.kubectl})")
            if state.done:
                del pending[ref]
                progress(f"{ref.kubectl}: {state.message}")
            else:
                pending[ref] = state.message
        if not pending:
            return
        if clock() >= deadline:
            waiting = "; ".join(f"{ref} ({why})" for ref, why in sorted(pending.items(), key=lambda i: str(i[0])))
            raise ClusterError(f"not finished after {timeout_s:.0f} s: {waiting}")
        sleep(max(0.0, min(poll_s, deadline - clock())))  # the last look comes at the deadline, not after


def scale(cluster: Cluster, targets: dict[ObjectRef, int]) -> None:
    for ref, replicas in targets.items():
        cluster.scale(ref, replicas)


@dataclass(frozen=True)
class RestartResult:
    readers: SecretReaders
    restarted: list[ObjectRef]


def restart_readers(
    cluster: Cluster,
    namespace: str,
    secret: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = POLL_S,
    progress: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RestartResult:
    """After ``secret`` was rotated: rollout-restart the Deployments and StatefulSets in
    ``namespace`` whose pods read it and wait until each has rolled out."""
    readers = find_readers(cluster, namespace, secret)
    restart(cluster, readers.restart)
    for ref in readers.restart:
        progress(f"{ref.kubectl}: restarted")
    wait(cluster, readers.restart, timeout_s=timeout_s, poll_s=poll_s, progress=progress, clock=clock, sleep=sleep)
    return RestartResult(readers, list(readers.restart))


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RESTARTED_AT",
    "RestartResult",
    "SecretReaders",
    "find_readers",
    "kv_path",
    "readers_of",
    "restart",
    "restart_readers",
    "rolled_out",
    "scale",
    "scaled_to_zero",
    "secret_paths",
    "wait",
]
