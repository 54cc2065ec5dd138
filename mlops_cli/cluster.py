"""``mlops cluster status``: what runs in an environment's cluster, and what Argo CD says of it.

Also the cluster half of ``mlops secrets rotate`` (:func:`restart_after_rotation`): the
workloads whose pods read the rotated secret are rollout-restarted and waited for.
The kubeconfig is ``$KUBECONFIG`` or ``~/.kube/config`` (``--context`` picks one of its contexts);
inside a pod, its service account.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.config import ENVIRONMENTS
from mlops_cli.options import JsonOpt

if TYPE_CHECKING:
    from infrastructure.cluster import Cluster, ClusterStatus

cluster_app = typer.Typer(
    help="The environment's Kubernetes cluster: workloads, rollouts, Argo CD.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Environments whose workloads run on Kubernetes and whose secrets' readers are restarted by default.
KUBE_ENVIRONMENTS = ("staging", "prod")
ClusterEnvOpt = Annotated[str, typer.Option("--env", envvar="MLOPS_ENV", help="staging, prod (or the dev cluster).")]
ContextOpt = Annotated[
    str | None, typer.Option("--context", "--kube-context", help="kubeconfig context (default: its current one).")
]
NamespaceOpt = Annotated[str | None, typer.Option(help="The workloads' namespace (default mlops-<env>).")]
TimeoutOpt = Annotated[float, typer.Option(min=1, help="Seconds to wait for the rollouts.")]


def open_cluster(context: str | None) -> Cluster:
    from infrastructure.cluster import connect

    return connect(context)


def _check_env(env: str) -> None:
    if env not in ENVIRONMENTS or env == "local-stack":
        raise typer.BadParameter(f"a cluster environment (dev, staging, prod), not {env!r}", param_hint="--env")


def _ready(ready: int | None, desired: int | None) -> str:
    return "" if desired is None else f"{ready}/{desired}"


def print_status(status: ClusterStatus) -> None:
    table = Table(title=f"Workloads in {status.namespace} ({status.host})", title_justify="left")
    for col in ("workload", "kind", "component", "ready/desired", "image tag", "rollout"):
        table.add_column(col, overflow="fold")
    for w in status.workloads:
        style = "green" if w.done else ("red" if w.failed else "yellow")
        state = w.state if w.kind == "CronJob" else f"[{style}]{escape(w.state)}[/]"
        table.add_row(w.name, w.kind, w.component, _ready(w.ready, w.desired), escape(", ".join(w.images)), state)
    console.print(table)
    if status.applications_error:
        console.print(f"[yellow]Argo CD not read:[/] {escape(status.applications_error)}")
        return
    apps = Table(title=f"Argo CD applications ({status.env})", title_justify="left")
    for col in ("application", "sync", "health", "revision", "auto-sync"):
        apps.add_column(col)
    for a in status.applications:
        good = {"Synced", "Healthy"}
        apps.add_row(
            a.name,
            a.sync if a.sync in good else f"[yellow]{a.sync}[/]",
            a.health if a.health in good else f"[red]{a.health}[/]",
            a.revision,
            ("paused" if a.paused else "on") if a.automated else "manual",
        )
    console.print(apps)


@cluster_app.command("status")
def status(
    env: ClusterEnvOpt = "staging",
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Champion and shadow serving, the feature store, CronJobs: replicas ready, image tags, rollout
    state; and each Argo CD Application's sync and health."""
    from infrastructure.cluster import read_status

    _check_env(env)
    found = read_status(open_cluster(context), env, namespace)
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
    else:
        print_status(found)


def restart_after_rotation(
    secret: str, env: str, *, context: str | None, namespace: str | None, timeout_s: float
) -> bool:
    """Rollout-restart the workloads of ``env`` whose pods read ``secret`` and wait for them.

    The rotation has already happened: with no cluster to talk to, this says so in one line
    with the command to run by hand and returns False (the caller does not fail). A refused
    request or a rollout that does not finish raises (the operator has something to fix).
    """
    from infrastructure.cluster import PLATFORM_SELECTOR, namespace_for, restart_readers
    from mlops.errors import ClusterError, ClusterUnavailableError

    if env == "local-stack":
        console.print("local-stack runs no workloads on Kubernetes: nothing to restart")
        return False
    namespace = namespace or namespace_for(env)
    try:
        cluster = open_cluster(context)
        result = restart_readers(
            cluster, namespace, secret, timeout_s=timeout_s, progress=lambda line: console.print(f"  {line}")
        )
    except ClusterUnavailableError as exc:
        err.print(
            f"[yellow]workloads not restarted[/] ({exc}); restart the ones that read {secret} by hand: "
            f"kubectl -n {namespace} rollout restart deployment,statefulset -l {PLATFORM_SELECTOR}",
            soft_wrap=True,
        )
        return False
    except ClusterError as exc:
        raise ClusterError(f"{secret} was rotated, but restarting the workloads that read it failed: {exc}") from None
    readers = result.readers
    if readers.restart:
        names = ", ".join(ref.kubectl for ref in result.restarted)
        console.print(f"restarted and rolled out in {namespace}: {names}")
    else:
        console.print(f"no Deployment or StatefulSet in {namespace} reads {readers.secret}")
    if readers.next_run:
        console.print(f"read at their next run: {', '.join(ref.kubectl for ref in readers.next_run)}")
    return True


__all__ = ["KUBE_ENVIRONMENTS", "cluster_app", "open_cluster", "print_status", "restart_after_rotation"]
