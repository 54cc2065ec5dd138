"""``mlops privacy retention apply [--dry-run] [--env ENV]``: delete what is past each store's period.

The policies are ``<config-dir>/retention.yaml``; where the stores are comes from the
environment's platform config (state folder, prediction log root, object store, Feast, model
registry) and, for the backups, from what ``mlops backup`` uses (``--repository``/``--key-file``
or their variables, the strategies in ``backup/strategies``). Prints one line per store (items,
bytes, rows); a run that deletes writes ``<state>/privacy/retention/<time>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mlops_cli.backup import KeyOpt, RepoOpt, size_text
from mlops_cli.options import ConfigDir, EnvOpt, JsonOpt, load_platform

if TYPE_CHECKING:
    from platform_config import PlatformConfig
    from privacy.retention import BackupAccess, OfflineTable, RetentionContext

console = Console(highlight=False, soft_wrap=True)
retention_app = typer.Typer(help="Retention: delete what is past each store's period.", no_args_is_help=True)


def _aliased(platform: PlatformConfig) -> set[tuple[str, str]]:
    from mlops.state import StateLayout
    from model_registry.registry import ALIASES

    if platform.registry.tracking_uri is None and not (StateLayout(platform.state_dir).registry / "mlflow.db").exists():
        return set()  # no local registry (opening one would create it): no version has an alias
    registry = platform.open_registry()
    found: set[tuple[str, str]] = set()
    for name in registry.list_models():
        for alias in ALIASES:
            info = registry.by_alias(name, alias)
            if info is not None:
                found.add((name, info.semver))
    return found


def _offline_tables(platform: PlatformConfig) -> list[OfflineTable]:
    from feature_store.store import open_store
    from mlops.state import StateLayout
    from privacy.retention.feast import offline_tables

    repo_dir = StateLayout(platform.state_dir).feast
    if platform.environment == "dev" and not (repo_dir / "registry.db").exists():
        return []  # no feature build yet: nothing offline
    store = open_store(repo_dir, platform.features, environment=platform.environment)
    return offline_tables(store, repo_dir)


def _backups(env: str, config_dir: Path, repo: str | None, key_file: Path | None) -> BackupAccess | None:
    from backup import load_strategies
    from mlops_cli.backup import open_backups
    from privacy.retention import BackupAccess

    repository = open_backups(env, None, config_dir, repo, key_file).repository
    if not repository.exists_without_key():
        return None  # no backup taken in this environment yet
    return BackupAccess(repository, list(load_strategies().values()))


def build_context(
    platform: PlatformConfig, env: str, config_dir: Path, repo: str | None, key_file: Path | None
) -> RetentionContext:
    """The environment's stores, each opened only when its policy needs it."""
    from mlops.object_store import ObjectStore
    from mlops.secrets import SecretResolver
    from privacy.retention import RetentionContext

    store = ObjectStore(platform.object_store, SecretResolver(platform.vault).resolve)
    return RetentionContext(
        state_dir=platform.state_dir,
        environment=env,
        prediction_log_root=platform.prediction_log.root,
        batch_output_roots=platform.privacy.batch_outputs,
        object_store=store.filesystem,
        aliased_versions=lambda: _aliased(platform),
        offline_tables=lambda: _offline_tables(platform),
        backups=lambda: _backups(env, config_dir, repo, key_file),
    )


@retention_app.command("apply")
def apply_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be deleted; change nothing.")] = False,
    policies: Annotated[
        Path | None, typer.Option(help="Retention policies (default: <config-dir>/retention.yaml).")
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    repo: RepoOpt = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete what is older than each store's period (config/retention.yaml) and print it per store.

    Refused, with nothing deleted, when the backups policy would remove a backup the newest
    restore point needs. Runs in progress, and runs of versions with an alias, are kept."""
    from mlops.config import load_model
    from privacy.retention import RetentionConfig, apply_retention

    platform = load_platform(config_dir, env)
    config = load_model(policies or config_dir / "retention.yaml", RetentionConfig)
    record = apply_retention(config, build_context(platform, env, config_dir, repo, key_file), dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps({**record.as_dict(), "record": record.record}))
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"retention on {env}{' (dry run: nothing changed)' if dry_run else ''}, {record.seconds:.2f} s")
    for store in record.stores:
        if store.skipped:
            console.print(f"  {store.store} ({store.days} d): skipped: {escape(store.skipped)}")
            continue
        rows = f", {store.rows} rows" if store.rows else ""
        console.print(
            f"  {store.store} ({store.days} d, before {store.cutoff:%Y-%m-%d}): {verb} {len(store.items)} item(s), "
            f"{size_text(store.bytes)}{rows}; kept {len(store.kept)} past the period ({store.seconds:.2f} s)"
        )
        for item in store.items[:20]:
            console.print(f"    - {escape(item.location)}")
        if len(store.items) > 20:
            where = "--json lists" if dry_run else "the record lists"
            console.print(f"    … and {len(store.items) - 20} more ({where} them all)")
        for why in store.kept:
            console.print(f"    kept {escape(why)}")
    if record.record:
        console.print(f"record: {record.record}")


__all__ = ["retention_app"]
