"""What runs in an environment's namespace, read as ``kubectl rollout status`` and Argo CD see it.

:func:`rollout_state` applies ``kubectl rollout status``'s rules to a Deployment or StatefulSet
(the controller has observed the newest spec, every replica is updated, no old replica is
left, the updated ones are available); :func:`read_status` lists the platform's workloads
(label ``app.kubernetes.io/part-of=mlops-platform``), its CronJobs and the environment's Argo CD
Applications (``<chart>-<env>``, label ``mlops-platform/env``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from infrastructure.cluster.client import PLATFORM_SELECTOR, SCALABLE_KINDS, Cluster, ObjectRef, namespace_for
from mlops.errors import ClusterError

COMPONENT_LABEL = "app.kubernetes.io/component"
CHART_LABEL = "app.kubernetes.io/name"
ENV_LABEL = "mlops-platform/env"  # on the Applications the ApplicationSet generates
SKIP_RECONCILE = "argocd.argoproj.io/skip-reconcile"


@dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str  # kubectl's wording: what the rollout waits for, or that it finished
    failed: bool = False  # the Deployment exceeded its progress deadline: waiting will not help


def _int(value: Any) -> int:
    return int(value or 0)


def rollout_state(obj: dict[str, Any]) -> RolloutState:
    """Whether a Deployment or StatefulSet has finished rolling out (``kubectl rollout status``)."""
    kind, meta = obj.get("kind", ""), obj.get("metadata", {})
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    name = meta.get("name", "?")
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return RolloutState(False, f"waiting for the {kind.lower()} spec update to be observed")
    desired = _int(spec.get("replicas", 1))
    updated = _int(status.get("updatedReplicas"))
    if kind == "Deployment":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
                return RolloutState(False, f'deployment "{name}" exceeded its progress deadline', failed=True)
        available = _int(status.get("availableReplicas"))
        if updated < desired:
            return RolloutState(False, f"{updated} of {desired} updated replicas")
        if _int(status.get("replicas")) > updated:
            return RolloutState(False, f"{_int(status.get('replicas')) - updated} old replicas pending termination")
        if available < updated:
            return RolloutState(False, f"{available} of {updated} updated replicas available")
        return RolloutState(True, f"rolled out ({available}/{desired} available)")
    if kind == "StatefulSet":
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            # kubectl cannot follow it either: pods change only when someone deletes them.
            return RolloutState(True, "OnDelete update strategy: pods update when deleted")
        ready = _int(status.get("readyReplicas"))
        if ready < desired:
            return RolloutState(False, f"{ready} of {desired} replicas ready")
        partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
        if partition:
            if updated < desired - partition:
                return RolloutState(False, f"{updated} of {desired - partition} replicas above the partition updated")
            return RolloutState(True, f"partitioned roll out complete ({updated} updated)")
        if desired and status.get("updateRevision") != status.get("currentRevision"):
            return RolloutState(False, f"{updated} of {desired} pods at revision {status.get('updateRevision')}")
        if _int(status.get("replicas")) > desired:
            return RolloutState(False, f"{_int(status.get('replicas')) - desired} replicas pending termination")
        return RolloutState(True, f"rolled out ({ready}/{desired} ready)")
    raise ClusterError(f"{kind} {name}: no rollout status for this kind (Deployments and StatefulSets only)")


def image_tags(pod_spec: dict[str, Any]) -> list[str]:
    """Each container's image reference after the repository: ``tag`` or ``@sha256:…`` (short)."""
    tags = []
    for container in pod_spec.get("containers") or []:
        image = str(container.get("image", ""))
        if "@" in image:
            tags.append("@" + image.split("@", 1)[1][:19])
        else:
            last = image.rsplit("/", 1)[-1]
            tags.append(last.split(":", 1)[1] if ":" in last else "latest")
    return tags


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment, StatefulSet or CronJob."""
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template") or {})


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    namespace: str
    chart: str
    component: str
    desired: int | None  # None for a CronJob
    ready: int | None
    images: list[str]
    state: str
    done: bool
    failed: bool = False

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Workload:
        meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
        labels = meta.get("labels") or {}
        template_spec = pod_template(obj).get("spec") or {}
        common = {
            "kind": obj["kind"],
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", ""),
            "chart": labels.get(CHART_LABEL, ""),
            "component": labels.get(COMPONENT_LABEL, ""),
            "images": image_tags(template_spec),
        }
        if obj["kind"] == "CronJob":
            last = status.get("lastScheduleTime") or "never"
            if spec.get("suspend"):
                state = f"suspended (last run {last})"
            else:
                state = f"{spec.get('schedule', '?')} (last run {last})"
            return cls(**common, desired=None, ready=None, state=state, done=True)
        rollout = rollout_state(obj)
        return cls(
            **common,
            desired=_int(spec.get("replicas", 1)),
            ready=_int(status.get("readyReplicas")),
            state=rollout.message,
            done=rollout.done,
            failed=rollout.failed,
        )


@dataclass(frozen=True)
class Application:
    name: str
    sync: str
    health: str
    revision: str
    automated: bool  # Argo CD syncs (and self-heals) without a person
    paused: bool  # reconciliation skipped (argocd.argoproj.io/skip-reconcile)

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Application:
        meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
        sync = status.get("sync") or {}
        automated = (spec.get("syncPolicy") or {}).get("automated")
        return cls(
            name=meta.get("name", ""),
            sync=str(sync.get("status", "Unknown")),
            health=str((status.get("health") or {}).get("status", "Unknown")),
            revision=str(sync.get("revision", ""))[:12],
            # Argo CD 3.1+ can keep the block and switch it off with enabled: false.
            automated=automated is not None and (automated or {}).get("enabled", True) is not False,
            paused=str((meta.get("annotations") or {}).get(SKIP_RECONCILE, "")).lower() == "true",
        )


@dataclass
class ClusterStatus:
    env: str
    namespace: str
    host: str
    workloads: list[Workload] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    # An Argo CD that cannot be read (no access to its namespace) is named, not fatal.
    applications_error: str | None = None

    @property
    def healthy(self) -> bool:
        return all(w.done for w in self.workloads) and all(
            a.sync == "Synced" and a.health == "Healthy" for a in self.applications
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def platform_workloads(cluster: Cluster, namespace: str, *, cronjobs: bool = False) -> list[dict[str, Any]]:
    """The platform's Deployments and StatefulSets in ``namespace`` (and CronJobs), as the API's JSON."""
    found = [obj for kind in SCALABLE_KINDS for obj in cluster.list_workloads(kind, namespace, PLATFORM_SELECTOR)]
    if cronjobs:
        found += cluster.list_cronjobs(namespace, PLATFORM_SELECTOR)
    return found


def environment_applications(cluster: Cluster, env: str) -> list[dict[str, Any]]:
    return cluster.list_applications(f"{ENV_LABEL}={env}")


def read_status(cluster: Cluster, env: str, namespace: str | None = None) -> ClusterStatus:
    """The environment's workloads (champion and shadow serving, the feature store, the backups'
    and pipelines' CronJobs) and its Argo CD Applications."""
    namespace = namespace or namespace_for(env)
    objects = platform_workloads(cluster, namespace, cronjobs=True)
    order = {"Deployment": 0, "StatefulSet": 1, "CronJob": 2}
    workloads = sorted((Workload.of(o) for o in objects), key=lambda w: (order[w.kind], w.chart, w.name))
    status = ClusterStatus(env=env, namespace=namespace, host=cluster.host, workloads=workloads)
    try:
        status.applications = sorted(
            (Application.of(a) for a in environment_applications(cluster, env)), key=lambda a: a.name
        )
    except ClusterError as exc:
        status.applications_error = str(exc)
    return status


__all__ = [
    "Application",
    "ClusterStatus",
    "RolloutState",
    "Workload",
    "environment_applications",
    "image_tags",
    "platform_workloads",
    "pod_template",
    "read_status",
    "rollout_state",
]
