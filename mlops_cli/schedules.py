"""``mlops pipelines sync-schedules``: the recurring runs of a schedules spec, created through the
KFP API (the pipelines chart's PostSync Job runs it after every Argo CD sync)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

pipelines_app = typer.Typer(help="Kubeflow Pipelines on the cluster: recurring runs.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

# Where a pod's projected token for the KFP API is mounted (kfp's KF_PIPELINES_SA_TOKEN_PATH default).
KFP_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
KFP_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"  # pragma: allowlist secret (a path)


def kfp_client(host: str) -> Any:
    """A ``kfp.Client`` for ``host``; it sends the pod's projected KFP token when one is mounted
    (multi-user KFP requires it; single-user KFP ignores it)."""
    import warnings

    import kfp
    from kfp.client import ServiceAccountTokenVolumeCredentials

    token = Path(os.environ.get(KFP_TOKEN_ENV, KFP_TOKEN_PATH))
    credentials = ServiceAccountTokenVolumeCredentials(str(token)) if token.is_file() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # kfp's "only works with KFP v2" notice
        return kfp.Client(host=host, credentials=credentials)


@pipelines_app.command("sync-schedules")
def sync_schedules_command(
    spec: Annotated[Path, typer.Option("--spec", help="Schedules spec (the pipelines chart's ConfigMap).")],
    kfp_host: Annotated[
        str,
        typer.Option(
            "--kfp-host",
            envvar="KFP_HOST",
            help="The KFP API, e.g. http://ml-pipeline.kubeflow.svc.cluster.local:8888.",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change, change nothing.")] = False,
) -> None:
    """Create the spec's missing recurring runs, replace changed ones, keep identical ones."""
    from pipelines.schedules import describe, load_spec, sync_schedules

    loaded = load_spec(spec)
    # kfp prints UI links of what it creates ("Experiment details: …"); the lines below say it all.
    with contextlib.redirect_stdout(io.StringIO()):
        actions = sync_schedules(kfp_client(kfp_host), loaded, host=kfp_host, dry_run=dry_run)
    prefix = "dry run, would be " if dry_run else ""
    for line in describe(actions):
        name, _, rest = line.partition(": ")
        console.print(f"{name}: {prefix}{rest}")
    if not actions:
        console.print(f"{spec}: no schedules")
