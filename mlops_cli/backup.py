"""``mlops backup create|list|verify|restore|prune``: the backup room as commands.

The environment (``--env``, or ``--to`` for a restore) says where the stores are: ``dev`` is the
state folder's files, ``local-stack`` the reference deployment under ``<state>/stack``,
``staging``/``prod`` what a pod of the backups chart has (restic's variables, ``PGPASSFILE``,
``REDIS_PASSWORD``, ``MLOPS_ARTIFACTS_URI``; the Redis host from the platform config). The
repository defaults to the cluster's ``RESTIC_REPOSITORY`` and ``RESTIC_PASSWORD_FILE``, else the
environment's object store (``s3:<endpoint>/backups/restic``) or, without one,
``<state>/backups/restic``; its key to ``<state>/secrets/backup-key``.
Every command prints readable lines, or one JSON document with ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from backup import BackupEnvironment, Repository

backup_app = typer.Typer(help="Backups: create, list, verify, restore, prune (restic).", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

BACKUP_ENVIRONMENTS = ("dev", "local-stack", "staging", "prod")
CLUSTER_ENVIRONMENTS = ("staging", "prod")
EnvOpt = Annotated[
    str, typer.Option("--env", envvar="MLOPS_ENV", help=f"Environment backed up: {', '.join(BACKUP_ENVIRONMENTS)}.")
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state", envvar="MLOPS_STATE", help="The state folder (holds stack/ and secrets/); default: the config's."
    ),
]
ConfigOpt = Annotated[
    Path, typer.Option("--config-dir", envvar="MLOPS_CONFIG_DIR", help="The config/ folder (the `config` target).")
]
RepoOpt = Annotated[
    str | None,
    typer.Option(
        "--repository", envvar="MLOPS_BACKUP_REPOSITORY", help="restic repository (s3:URL/bucket/path or a folder)."
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file", envvar="MLOPS_BACKUP_KEY_FILE", help="Repository key file (default <state>/secrets/backup-key)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def state_folder(state: Path | None, config_dir: Path, env: str) -> Path:
    """``--state``, else the state folder the environment's platform config names."""
    if state is not None:
        return state
    from platform_config import load_platform_config

    return load_platform_config(config_dir, env).state_dir


def environment(name: str, state: Path, config_dir: Path) -> BackupEnvironment:
    import os

    from backup import cluster_environment, dev_environment, stack_environment
    from mlops.errors import BackupError

    if name == "dev":
        from platform_config import load_platform_config

        consent_url = load_platform_config(config_dir, "dev").privacy.consent.url
        return dev_environment(state, config_dir, consent_url=consent_url)
    if name == "local-stack":
        return stack_environment(state, config_dir)
    if name in CLUSTER_ENVIRONMENTS:
        from platform_config import load_platform_config

        config = load_platform_config(config_dir, name)
        return cluster_environment(
            name,
            config_dir=config_dir,
            redis_connection=config.features.redis_connection,
            environ=os.environ,
            prediction_log_root=config.prediction_log.root,
        )
    raise BackupError(f"environment {name!r}: expected one of {', '.join(BACKUP_ENVIRONMENTS)}")


def repository(env: BackupEnvironment, state: Path, location: str | None, key_file: Path | None) -> Repository:
    from backup import Repository, default_key_file

    state = state.expanduser().resolve()
    if env.repository is not None:  # the environment names its own (a cluster pod's restic variables)
        access = env.repository
        location = location or access.location
        return Repository(
            location,
            key_file or access.key_file,
            store=access.store if location.startswith("s3:") else None,
            cache_dir=access.cache_dir or state / "backup" / "cache",
            generate_key=access.generate_key,
        )
    if location is None:
        if env.object_store is not None:
            location = f"s3:{env.object_store.endpoint}/backups/restic"
        else:
            location = str(state / "backups" / "restic")
    store = env.object_store if location.startswith("s3:") else None
    return Repository(location, key_file or default_key_file(state), store=store, cache_dir=state / "backup" / "cache")


def _workdir(state: Path) -> Path:
    return state.expanduser().resolve() / "backup" / "work"


@dataclass(frozen=True)
class Opened:
    """What every backup command starts from: the environment's stores, its repository, a scratch folder."""

    environment: BackupEnvironment
    repository: Repository
    workdir: Path


def open_backups(env: str, state: Path | None, config_dir: Path, repo: str | None, key_file: Path | None) -> Opened:
    folder = state_folder(state, config_dir, env)
    environ = environment(env, folder, config_dir)
    return Opened(environ, repository(environ, folder, repo, key_file), environ.workdir or _workdir(folder))


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def size_text(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


@backup_app.command("create")
def create(
    targets: Annotated[
        str | None, typer.Option(help="Comma-separated targets (default: the strategy's, or all).")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="A strategy of backup/strategies (e.g. nightly).")] = None,
    env: EnvOpt = "dev",
    state: StateOpt = None,
    config_dir: ConfigOpt = Path("config"),
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the environment's stores as one encrypted restic snapshot with a manifest."""
    from backup import create_backup, load_strategy

    chosen = load_strategy(strategy) if strategy else None
    opened = open_backups(env, state, config_dir, repo, key_file)
    environ, repository_ = opened.environment, opened.repository
    manifest = create_backup(environ, repository_, opened.workdir, targets=_names(targets), strategy=chosen)
    if as_json:
        _print_json(manifest.model_dump(mode="json"))
        return
    console.print(f"backup [bold]{manifest.backup_id}[/] of {environ.name} → {repository_.location}")
    for entry in manifest.targets:
        if entry.status == "skipped":
            console.print(f"  {entry.name:<16} skipped: {entry.detail}")
        else:
            console.print(f"  {entry.name:<16} {size_text(entry.size):>9}  {len(entry.files)} file(s)  {entry.detail}")
    console.print(f"  total {size_text(manifest.size)}, {manifest.started_at} → {manifest.ended_at}")


@backup_app.command("list")
def list_cmd(
    env: EnvOpt = "dev",
    state: StateOpt = None,
    config_dir: ConfigOpt = Path("config"),
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the complete backups, oldest first."""
    from backup import list_backups

    found = list_backups(open_backups(env, state, config_dir, repo, key_file).repository)
    if as_json:
        _print_json([b.as_dict() for b in found])
        return
    if not found:
        console.print("no complete backup")
    for b in found:
        done = [n for n, s in b.targets.items() if s == "complete"]
        console.print(
            f"{b.backup_id}  {b.time[:19]}  {b.environment:<11} {b.strategy or 'manual':<8} "
            f"{size_text(b.size):>9}  {', '.join(done)}"
        )


@backup_app.command("verify")
def verify(
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="Backup id, or `latest` (the default: the newest).")
    ] = None,
    subset: Annotated[
        str | None, typer.Option(help="Re-read only this share of the stored objects (restic: 10%, 1/5); default all.")
    ] = None,
    env: EnvOpt = "dev",
    state: StateOpt = None,
    config_dir: ConfigOpt = Path("config"),
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-read the stored objects (restic check) and re-hash every file against the manifest."""
    from backup import verify_backup

    opened = open_backups(env, state, config_dir, repo, key_file)
    report = verify_backup(
        opened.repository,
        opened.workdir,
        None if backup_id == "latest" else backup_id,
        read_data_subset=subset,
    )
    if as_json:
        _print_json(report.as_dict())
        return
    console.print(
        f"backup [bold]{report.backup_id}[/] verified: stored objects re-read in {report.check_s:.1f} s, "
        f"{report.files} file(s) ({size_text(report.bytes)}) restored and re-hashed in {report.restore_s:.1f} s"
    )


@backup_app.command("restore")
def restore(
    backup_id: Annotated[
        str,
        typer.Option("--backup", help="Backup id (see `mlops backup list`), or `latest` for the newest complete one."),
    ],
    to: Annotated[str, typer.Option("--to", help=f"Environment restored into: {', '.join(BACKUP_ENVIRONMENTS)}.")],
    targets: Annotated[
        str | None, typer.Option(help="Comma-separated targets (default: all the backup holds).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace what a non-empty target holds.")] = False,
    state: StateOpt = None,
    config_dir: ConfigOpt = Path("config"),
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup into an environment; a non-empty target is refused without --force.
    Subjects erased since the backup was taken are erased again from what it restores."""
    from backup import find_backup, restore_backup
    from mlops_cli.options import load_platform
    from mlops_cli.privacy_erase import tombstone_applier

    opened = open_backups(to, state, config_dir, repo, key_file)
    folder = state_folder(state, config_dir, to).expanduser().resolve()
    repository_ = opened.repository
    if backup_id == "latest":
        backup_id = find_backup(repository_, None)[1].backup_id
    report = restore_backup(
        repository_,
        opened.environment,
        opened.workdir,
        backup_id,
        targets=_names(targets),
        force=force,
        apply_tombstones=tombstone_applier(load_platform(config_dir, to), to, config_dir, folder),
        in_service=_unseal_restored_openbao(folder) if to == "local-stack" else None,
    )
    if as_json:
        _print_json(report.as_dict())
        return
    console.print(
        f"backup [bold]{report.backup_id}[/] restored into {report.environment} in {report.seconds:.1f} s: "
        f"{', '.join(report.restored)}"
    )
    if report.tombstones:
        erased = ", ".join(f"{n} {store}" for store, n in report.erased.items()) or "nothing held them"
        console.print(f"erasure tombstones applied ({report.tombstones}): {erased}")


def _unseal_restored_openbao(state: Path) -> Callable[[Sequence[str]], None]:
    """On the local stack, a restored OpenBao is sealed with the backup's keys: unsealed with
    the copy kept beside the stack (what `openbao-adopt` does), before the subjects erased
    since are erased again (which reads the stores' passwords from it)."""

    def unseal(restored: Sequence[str]) -> None:
        from infrastructure.local_stack import Layout, adopt_openbao
        from mlops.errors import BackupError, LocalStackError

        if "openbao" not in restored:
            return
        escrow = Layout(state).openbao_escrow
        try:
            adopt_openbao(state, escrow)
        except LocalStackError as exc:
            raise BackupError(
                f"the targets are restored, but the restored OpenBao is still sealed: {exc}\n"
                "unseal it with `python -m infrastructure.local_stack openbao-adopt --init FILE` (FILE: your copy "
                f"of {escrow.name}), then run this restore again: it erases the subjects erased since the backup"
            ) from None

    return unseal


@backup_app.command("prune")
def prune(
    strategy: Annotated[
        str | None, typer.Option(help="Apply this strategy's retention (default: every strategy).")
    ] = None,
    env: EnvOpt = "dev",
    state: StateOpt = None,
    config_dir: ConfigOpt = Path("config"),
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget the backups a strategy's retention no longer keeps, and free their space."""
    from backup import load_strategies, load_strategy, prune_backups

    strategies = [load_strategy(strategy)] if strategy else list(load_strategies().values())
    result = prune_backups(open_backups(env, state, config_dir, repo, key_file).repository, strategies)
    if as_json:
        _print_json(result)
        return
    for name, outcome in result.items():
        console.print(
            f"{name}: kept {len(outcome['kept'])}, removed {len(outcome['removed'])} {' '.join(outcome['removed'])}"
        )


__all__ = ["backup_app"]
