"""``mlops dr check`` and ``mlops dr drill``: is the deployment readable, and can it be rebuilt?

``check`` reads the deployment as its clients do (every version and alias, every artifact, the
champion scoring its newest entities from the online store, every secret reference) and exits 1
naming what it could not read: the *Verify* step of every playbook. ``drill`` backs the local
reference deployment up, destroys it, restores it into fresh servers and compares the two
readings, then reports RTO and RPO (``drill.json`` and ``drill.html``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from mlops_cli.backup import ConfigOpt, JsonOpt, KeyOpt, RepoOpt, StateOpt, environment, open_backups, state_folder
from mlops_cli.cluster import KUBE_ENVIRONMENTS, ContextOpt, NamespaceOpt, TimeoutOpt, open_cluster
from mlops_cli.options import EnvOpt, load_platform

if TYPE_CHECKING:
    from backup import BackupEnvironment
    from backup.drill.facts import Facts
    from platform_config import PlatformConfig

console = Console(highlight=False, soft_wrap=True)
dr_app = typer.Typer(help="Disaster recovery: check the deployment, rehearse a full restore.", no_args_is_help=True)

# The drill's goal on the local reference deployment (the seed asks for under 4 hours).
GOAL_RTO_S = 60.0


def observe_platform(platform: PlatformConfig, config_dir: Path) -> Facts:
    """The facts of the deployment ``platform`` describes, read with a fresh secret resolver
    (a restore may have changed the token or the secrets behind it)."""
    from backup.drill.facts import observe
    from mlops.config import SecretsPolicyConfig, load_model
    from mlops.secrets import SecretResolver, collect_references, set_default_resolver

    resolver = SecretResolver(platform.vault)
    set_default_resolver(resolver)  # the Feast store resolves its passwords through it
    # The policy's references name Vault paths; an environment without Vault (dev) is judged on
    # the references its own config names.
    policy = load_model(config_dir / "secrets_policy.yaml", SecretsPolicyConfig)
    if not platform.vault.address:
        policy = policy.model_copy(update={"references": []})
    return observe(
        platform.open_registry(),
        state_dir=platform.state_dir,
        features=platform.features,
        environment=platform.environment,
        secret_references=collect_references(platform, platform.environment, policy),
        resolve=resolver.resolve,
        consent=None if _no_consent_store(platform) else lambda: _consent_fingerprint(platform, resolver.resolve),
    )


def _no_consent_store(platform: PlatformConfig) -> bool:
    """No URL and no SQLite file yet: nothing to read (opening it would create an empty one)."""
    from privacy.consent import store_url

    url = store_url(platform.privacy.consent, platform.state_dir)
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


def _consent_fingerprint(platform: PlatformConfig, resolve: Callable[[str], str]) -> dict[str, Any]:
    from privacy.consent import ConsentStore

    with ConsentStore.open(platform.privacy.consent, platform.state_dir, resolve) as store:
        return store.fingerprint()


def unreadable(facts: Facts) -> list[str]:
    """What a healthy deployment has and this reading lacks."""
    problems = []
    if not facts.versions:
        problems.append("registry: no registered model (a restore that lost the registry reads like this)")
    for name, rows in facts.online.items():
        if rows and not facts.found_by_model().get(name, 0):
            problems.append(
                f"online store: none of the {len(rows)} newest entities of {name!r}'s served version has features "
                "(`mlops features rebuild-online`, or restore the online-store target)"
            )
    return problems


@dr_app.command("check")
def check(
    config_dir: ConfigOpt = Path("config"),
    env: EnvOpt = "dev",
    save: Annotated[Path | None, typer.Option(help="Also write the reading as JSON to this file.")] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Compare with a reading saved earlier (--save); differences fail."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read every version, artifact, online feature and secret the deployment holds; exit 1 on a gap."""
    from backup.drill.facts import Facts, differences
    from mlops.errors import MlopsError

    platform = load_platform(config_dir, env)
    try:
        facts = observe_platform(platform, config_dir)
    except MlopsError:
        raise
    except Exception as exc:  # MLflow, Feast, hvac, pyarrow: one line naming what could not be read
        raise _fail(exc) from exc
    problems = unreadable(facts)
    if against is not None:
        problems += differences(Facts(**json.loads(against.read_text())), facts)
    if save is not None:
        save.write_text(json.dumps(facts.to_dict(), indent=2, sort_keys=True) + "\n")
    if as_json:
        typer.echo(json.dumps({"counts": facts.counts(), "problems": problems}, indent=2))
    else:
        counts = facts.counts()
        console.print(
            f"read {counts['versions']} version(s) of {counts['models']} model(s), {counts['artifacts']} artifact(s), "
            f"{counts['online_rows_found']}/{counts['online_rows']} online row(s), "
            f"{counts['predictions']} score(s), {counts['secrets']} secret(s)"
        )
        for line in problems:
            console.print(f"[red]problem:[/] {line}")
    if problems:
        raise typer.Exit(1)


def _fail(exc: Exception) -> Exception:
    from mlops.errors import MlopsError

    return MlopsError(f"the deployment could not be read: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")


class LocalStackDeployment:
    """The local reference deployment as the drill's :class:`~backup.drill.run.Deployment`."""

    name = "local-stack"

    def __init__(self, state: Path, config_dir: Path) -> None:
        self.state = state.expanduser().resolve()
        self.config_dir = config_dir

    def environment(self) -> BackupEnvironment:
        return environment("local-stack", self.state, self.config_dir)

    def observe(self) -> Facts:
        from platform_config import load_platform_config

        return observe_platform(load_platform_config(self.config_dir, "local-stack"), self.config_dir)

    def destroy(self) -> None:
        from infrastructure.local_stack import destroy

        # The stores kept in the state folder go too (Feast's offline sources, the logs).
        env = self.environment()
        destroy(self.state)
        for tree in (env.feast_offline, env.prediction_logs, env.shadow_logs):
            if tree is not None and tree.store is None:
                shutil.rmtree(tree.root, ignore_errors=True)

    def recreate(self) -> None:
        from infrastructure.local_stack import up

        up(self.state)

    def after_restore(self) -> None:
        from infrastructure.local_stack import Layout, adopt_openbao

        adopt_openbao(self.state, Layout(self.state).openbao_escrow)


@dr_app.command("drill")
def drill(
    config_dir: ConfigOpt = Path("config"),
    state: StateOpt = None,
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    out: Annotated[Path | None, typer.Option(help="Folder for drill.json and drill.html.")] = None,
    as_json: JsonOpt = False,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            help="local-stack (the whole deployment), or staging / prod: the cluster's workloads only "
            "(scaled to 0 and back; the managed stores are not touched).",
        ),
    ] = "local-stack",
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    timeout: TimeoutOpt = 900.0,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before taking a cluster's workloads down.")] = False,
) -> None:
    """Back up the running local stack, destroy it, restore it into fresh servers, verify; RTO and RPO.

    With --env staging|prod: the cluster's workloads go to 0 replicas and back (docs/platform/operations.md)."""
    from backup.drill.run import run_drill, write_report
    from mlops_cli.options import load_platform
    from mlops_cli.privacy_erase import tombstone_applier

    if env in KUBE_ENVIRONMENTS:
        _cluster_drill(
            env, context, namespace, timeout, yes, out, lambda: state_folder(state, config_dir, env), as_json
        )
        return
    if env != "local-stack":
        raise typer.BadParameter(f"local-stack, staging or prod, not {env!r}", param_hint="--env")
    folder = state_folder(state, config_dir, "local-stack")
    deployment = LocalStackDeployment(folder, config_dir)
    opened = open_backups("local-stack", folder, config_dir, repo, key_file)
    report = run_drill(
        deployment,
        opened.repository,
        opened.workdir,
        goal_rto_s=GOAL_RTO_S,
        progress=lambda line: None if as_json else console.print(f"  {line}"),
        apply_tombstones=tombstone_applier(load_platform(config_dir, "local-stack"), "local-stack", config_dir, folder),
    )
    target = out or folder / "drills" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path, html_path = write_report(report, target)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        verdict = "[green]verified[/]" if report.passed else "[red]differences found[/]"
        console.print(
            f"drill {verdict}: RTO {report.rto_s:.1f} s (goal ≤ {GOAL_RTO_S:.0f} s), RPO {report.rpo_s:.1f} s; "
            f"backup {report.backup_id}; report {html_path} ({json_path.name})"
        )
        for line in report.differences:
            console.print(f"[red]difference:[/] {line}")
    if not report.passed:
        raise typer.Exit(1)


def _cluster_drill(
    env: str,
    context: str | None,
    namespace: str | None,
    timeout: float,
    yes: bool,
    out: Path | None,
    state_dir: Callable[[], Path],
    as_json: bool,
) -> None:
    """The cluster's part of the drill; the report goes to ``out``, else ``<state>/drills/<env>-<time>``."""
    from infrastructure.cluster import ClusterDeployment, run_workload_drill
    from mlops.errors import ClusterError

    cluster = open_cluster(context)
    progress = (lambda _line: None) if as_json else (lambda line: console.print(f"  {line}"))
    deployment = ClusterDeployment(cluster, env, namespace=namespace, timeout_s=timeout, progress=progress)
    if not yes and not typer.confirm(
        f"Scale every platform workload in {deployment.namespace} ({cluster.host}) to 0 and back? "
        "It is unavailable until they are ready again"
    ):
        raise typer.Abort()
    try:
        report = run_workload_drill(deployment, progress=progress)
    except ClusterError as exc:
        undo = deployment.by_hand()
        if undo:
            hint = "; to put the workloads back by hand: " + " && ".join(undo)
            raise ClusterError(f"{exc}{hint}") from None
        raise
    target = out or state_dir() / "drills" / f"{env}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    target.mkdir(parents=True, exist_ok=True)
    json_path = target / "drill.json"
    json_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        verdict = "[green]back as before[/]" if report.passed else "[red]differences found[/]"
        console.print(
            f"cluster drill {verdict}: RTO {report.rto_s:.1f} s for {len(report.workloads)} workload(s) in "
            f"{deployment.namespace} (scale down {report.phases.get('scale down', 0):.1f} s, "
            f"up {report.phases.get('scale up', 0):.1f} s); report {json_path}"
        )
        for line in report.differences:
            console.print(f"[red]difference:[/] {line}")
    if not report.passed:
        raise typer.Exit(1)


__all__ = ["LocalStackDeployment", "dr_app", "observe_platform", "unreadable"]
