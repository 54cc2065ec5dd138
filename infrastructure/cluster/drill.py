"""The DR drill on a cluster: the platform's workloads go away and come back.

On staging and prod the stores (RDS PostgreSQL, S3, ElastiCache Redis, Vault) are managed
outside the cluster, with their own snapshots; what the cluster holds is the workloads. So the
cluster's part of a drill is: record every Deployment's and StatefulSet's replicas, scale them
to 0 and wait until no pod is left (the "lost" cluster), then scale each back and wait until
``kubectl rollout status`` would say it has rolled out (the recovery), timing both.

Two things would undo the scale-down while it lasts, and are paused for the drill and resumed
after: Argo CD's automated sync with self-heal (the Applications get
``argocd.argoproj.io/skip-reconcile: "true"``; an Application an ApplicationSet generates keeps
it only if the ApplicationSet lists it in ``spec.preservedFields.annotations``, checked before
anything changes), and the CronJobs (backups, materialisation, triggers), suspended so none
writes to a store mid-drill.

:class:`ClusterDeployment` is the drill's :class:`~backup.drill.run.Deployment`: ``destroy``
scales down, ``after_restore`` scales back; the stores' part (``environment``, ``observe`` and
their destroy/recreate) comes from ``stores`` when one is given. :func:`run_workload_drill`
runs the cluster's part alone, which is what ``mlops dr drill --env staging|prod`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from infrastructure.cluster.client import PLATFORM_SELECTOR, Cluster, ObjectRef, namespace_for
from infrastructure.cluster.rollout import DEFAULT_TIMEOUT_S, POLL_S, rolled_out, scale, scaled_to_zero, wait
from infrastructure.cluster.status import (
    SKIP_RECONCILE,
    Application,
    Workload,
    environment_applications,
    platform_workloads,
)
from mlops.errors import BackupError, ClusterError

if TYPE_CHECKING:
    from backup.drill.facts import Facts
    from backup.drill.run import Deployment
    from backup.environment import BackupEnvironment


@dataclass(frozen=True)
class Recorded:
    """What the drill changed on one object, to put it back."""

    ref: ObjectRef
    replicas: int = 0  # Deployments and StatefulSets: their replicas before the drill
    images: tuple[str, ...] = ()


class ClusterDeployment:
    """An environment's workloads on Kubernetes as the drill's deployment."""

    def __init__(
        self,
        cluster: Cluster,
        env: str,
        *,
        namespace: str | None = None,
        stores: Deployment | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_s: float = POLL_S,
        progress: Callable[[str], None] = lambda _line: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cluster = cluster
        self.env = env
        self.namespace = namespace or namespace_for(env)
        self.name = f"cluster {env} ({self.namespace})"
        self.stores = stores
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self.progress, self.clock, self.sleep = progress, clock, sleep
        self.workloads: list[Recorded] = []
        self.suspended: list[ObjectRef] = []
        self.paused: list[str] = []

    # --- the stores' part: delegated -------------------------------------------------------------

    def _stores(self) -> Deployment:
        if self.stores is None:
            raise BackupError(
                f"{self.name}: the stores (RDS, S3, Redis, Vault) are managed outside the cluster; "
                "this deployment scales its workloads only"
            )
        return self.stores

    def environment(self) -> BackupEnvironment:
        return self._stores().environment()

    def observe(self) -> Facts:
        return self._stores().observe()

    # --- the workloads' part -----------------------------------------------------------------------

    def snapshot(self) -> list[Workload]:
        """The platform's Deployments and StatefulSets as they are now."""
        return sorted(
            (Workload.of(obj) for obj in platform_workloads(self.cluster, self.namespace)), key=lambda w: str(w.ref)
        )

    def _wait(self, refs: list[ObjectRef], check: Any) -> None:
        wait(
            self.cluster,
            refs,
            check=check,
            timeout_s=self.timeout_s,
            poll_s=self.poll_s,
            clock=self.clock,
            sleep=self.sleep,
            progress=self.progress,
        )

    def _automated_applications(self) -> list[dict[str, Any]]:
        apps = [a for a in environment_applications(self.cluster, self.env) if Application.of(a).automated]
        for app in apps:
            owners = [o for o in app["metadata"].get("ownerReferences") or [] if o.get("kind") == "ApplicationSet"]
            for owner in owners:
                appset = self.cluster.read_argo_object("applicationsets", owner["name"], app["metadata"]["namespace"])
                kept = ((appset.get("spec") or {}).get("preservedFields") or {}).get("annotations") or []
                if SKIP_RECONCILE not in kept:
                    raise ClusterError(
                        f"Argo CD application {app['metadata']['name']} syncs automatically and its ApplicationSet "
                        f"{owner['name']} does not keep the {SKIP_RECONCILE} annotation that pauses it "
                        "(spec.preservedFields.annotations in infrastructure/argocd/applicationset.yaml): "
                        "Argo CD would scale the workloads back mid-drill; nothing was changed"
                    )
        return apps

    def destroy(self) -> None:
        """Pause Argo CD's automated sync and the CronJobs, scale every workload to 0, wait until no pod is left."""
        apps = self._automated_applications()  # checked before anything changes
        self.workloads = [Recorded(w.ref, w.desired or 0, tuple(w.images)) for w in self.snapshot()]
        for app in apps:
            name = app["metadata"]["name"]
            self.cluster.patch_application(name, {"metadata": {"annotations": {SKIP_RECONCILE: "true"}}})
            self.paused.append(name)
            self.progress(f"argo cd application {name}: paused")
        for job in self.cluster.list_cronjobs(self.namespace, PLATFORM_SELECTOR):
            if not job.get("spec", {}).get("suspend"):
                ref = ObjectRef("CronJob", self.namespace, job["metadata"]["name"])
                self.cluster.suspend_cronjob(ref, True)
                self.suspended.append(ref)
                self.progress(f"{ref.kubectl}: suspended")
        scale(self.cluster, {w.ref: 0 for w in self.workloads})
        self._wait([w.ref for w in self.workloads], scaled_to_zero)
        if self.stores is not None:
            self.stores.destroy()

    def recreate(self) -> None:
        """The stores' recreate only: the workloads stay at 0 until the stores are restored."""
        if self.stores is not None:
            self.stores.recreate()

    def after_restore(self) -> None:
        """Scale every workload back to its recorded replicas, wait until each has rolled out,
        then resume the CronJobs and Argo CD."""
        if self.stores is not None:
            self.stores.after_restore()
        scale(self.cluster, {w.ref: w.replicas for w in self.workloads})
        self._wait([w.ref for w in self.workloads], rolled_out)
        for ref in self.suspended:
            self.cluster.suspend_cronjob(ref, False)
            self.progress(f"{ref.kubectl}: resumed")
        for name in self.paused:
            self.cluster.patch_application(name, {"metadata": {"annotations": {SKIP_RECONCILE: None}}})
            self.progress(f"argo cd application {name}: resumed")
        self.suspended, self.paused = [], []

    def by_hand(self) -> list[str]:
        """The commands that put back what the drill changed, for an operator after a failed phase."""
        ns = self.namespace
        lines = [f"kubectl -n {ns} scale {w.ref.kubectl} --replicas={w.replicas}" for w in self.workloads]
        resume = '{"spec":{"suspend":false}}'
        lines += [f"kubectl -n {ns} patch {ref.kubectl} -p '{resume}'" for ref in self.suspended]
        lines += [f"kubectl -n argocd annotate application {name} {SKIP_RECONCILE}-" for name in self.paused]
        return lines


@dataclass
class WorkloadDrillReport:
    deployment: str
    started_at: str
    passed: bool
    # scale-down started → every workload rolled out again
    rto_s: float
    phases: dict[str, float] = field(default_factory=dict)
    workloads: dict[str, int] = field(default_factory=dict)  # kind/name -> replicas
    paused_applications: list[str] = field(default_factory=list)
    suspended_cronjobs: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    goal_rto_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def differences(before: list[Workload], after: list[Workload]) -> list[str]:
    """What is not back as it was: a workload missing, other replicas or images, not rolled out."""
    found = []
    now = {str(w.ref): w for w in after}
    for old in before:
        new = now.get(str(old.ref))
        if new is None:
            found.append(f"{old.ref}: gone")
            continue
        if new.desired != old.desired:
            found.append(f"{old.ref}: {new.desired} replicas, {old.desired} before")
        if new.images != old.images:
            found.append(f"{old.ref}: images {new.images}, {old.images} before")
        if not new.done:
            found.append(f"{old.ref}: {new.state}")
    return found


def run_workload_drill(
    deployment: ClusterDeployment,
    *,
    goal_rto_s: float | None = None,
    clock: Callable[[], float] = time.time,
    progress: Callable[[str], None] = lambda _line: None,
) -> WorkloadDrillReport:
    """Scale the platform's workloads down and back up; timed, then compared with before.

    Refuses to start on an environment that has not finished rolling out: the drill would
    measure (and hide) a failure that was there before it."""
    before = deployment.snapshot()
    unsettled = [f"{w.ref} ({w.state})" for w in before if not w.done]
    if unsettled:
        raise ClusterError(f"not every workload has rolled out, so the drill did not start: {'; '.join(unsettled)}")
    if not before:
        raise ClusterError(f"no workload of the platform in {deployment.namespace}: nothing to drill")
    phases: dict[str, float] = {}
    started = clock()

    def phase(name: str, action: Callable[[], None]) -> None:
        progress(f"{name} …")
        begun = clock()
        action()
        phases[name] = round(clock() - begun, 3)
        progress(f"{name}: {phases[name]:.1f} s")

    phase("scale down", deployment.destroy)
    paused = list(deployment.paused)
    suspended = [ref.kubectl for ref in deployment.suspended]
    phase("scale up", deployment.after_restore)
    rto = clock() - started
    found = differences(before, deployment.snapshot())
    return WorkloadDrillReport(
        deployment=deployment.name,
        started_at=datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        passed=not found,
        rto_s=round(rto, 3),
        phases=phases,
        workloads={w.ref.kubectl: w.desired or 0 for w in before},
        paused_applications=paused,
        suspended_cronjobs=suspended,
        differences=found,
        goal_rto_s=goal_rto_s,
    )


__all__ = ["ClusterDeployment", "Recorded", "WorkloadDrillReport", "differences", "run_workload_drill"]
