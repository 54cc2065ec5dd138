"""``mlops privacy erase``: a data subject's rows out of every store, and the tombstones every
restore applies (used by ``mlops backup restore`` and ``mlops dr drill``).

The scope of an erasure is built here from what the environment already names: the backup
room's description of its stores (Feast's offline files, prediction and shadow logs, registry
artifacts), the state folder's run and pipeline folders, the dataset configs (their id columns
and source files), the feature store, the model registry and the backup repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mlops_cli.options import ConfigDir, JsonOpt, load_platform

if TYPE_CHECKING:
    from backup.environment import BackupEnvironment, Tree
    from backup.service import TombstoneApplier
    from platform_config import PlatformConfig
    from privacy.erasure import ErasureScope, Receipt

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Folders of the state folder that hold copies of rows (the servers' own data, under stack/, are
# reached through the servers).
STATE_TREES = {
    "dataset-copies": ("pipeline_root", "data", "batch-staging"),
    "run-folders": ("runs",),
    "quality-suites": ("suites",),
}


def _location_tree(location: str, env: BackupEnvironment) -> Tree:
    from backup.environment import Tree

    if location.startswith("s3://"):
        return Tree(location.removeprefix("s3://").rstrip("/"), env.object_store)
    return Tree(str(Path(location).expanduser().resolve()))


def _datasets(config_dir: Path) -> tuple[set[str], list[str], list[str]]:
    """Id columns and source locations of every dataset config, and the configs that failed."""
    from mlops.config import load_dataset_config
    from mlops.errors import MlopsError

    columns: set[str] = set()
    sources: list[str] = []
    failed: list[str] = []
    for path in sorted((config_dir / "datasets").glob("*.y*ml")):
        try:
            cfg = load_dataset_config(path)
        except MlopsError as exc:
            failed.append(f"{path}: {exc}")
            continue
        columns.update(c for c in (cfg.entity_id, cfg.subject_id) if c)
        sources.append(str(cfg.path))
    return columns, sources, failed


def erasure_scope(platform: PlatformConfig, env_name: str, config_dir: Path, state: Path) -> ErasureScope:
    from mlops_cli.backup import environment, repository
    from privacy.erasure import ErasureScope

    env = environment(env_name, state, config_dir)
    columns, sources, failed = _datasets(config_dir)
    for line in failed:
        err.print(f"[yellow]dataset config skipped:[/] {escape(line)}")
    trees: dict[str, list[Tree]] = {
        store: [_location_tree(str(state / folder), env) for folder in folders]
        for store, folders in STATE_TREES.items()
    }
    named = {
        "feast-offline": env.feast_offline,
        "prediction-logs": env.prediction_logs,
        "shadow-logs": env.shadow_logs,
        "registry-artifacts": env.artifacts,
    }
    trees |= {store: [tree] for store, tree in named.items() if tree is not None}
    trees["batch-outputs"] = [
        _location_tree(root if "://" in root or Path(root).is_absolute() else str(state / root), env)
        for root in platform.privacy.batch_outputs
    ]
    trees["dataset-sources"] = [_location_tree(source, env) for source in sources]
    repo = repository(env, state, None, None)

    from feature_store.store import open_store
    from mlops.secrets import SecretResolver
    from mlops.state import StateLayout
    from privacy.consent import ConsentStore

    consent = ConsentStore.open(platform.privacy.consent, state, SecretResolver(platform.vault).resolve)
    return ErasureScope(
        state_dir=state,
        trees=trees,
        id_columns=frozenset(columns),
        feature_store=open_store(StateLayout(state).feast, platform.features, environment=env_name),
        registry=platform.open_registry(),
        repository=repo if repo.key_file.exists() else None,
        consent=consent,
    )


def tombstone_applier(platform: PlatformConfig, env_name: str, config_dir: Path, state: Path) -> TombstoneApplier:
    """What a restore calls to erase the tombstoned subjects from the stores it brought back."""
    from privacy.erasure import apply_tombstones

    def apply(env: BackupEnvironment, digests: frozenset[str], key: bytes) -> Mapping[str, int]:
        with erasure_scope(platform, env_name, config_dir, state) as scope:
            receipt = apply_tombstones(scope, digests, key)
        return {name: result.rows for name, result in receipt.stores.items() if result.rows}

    return apply


def _hash_key(platform: PlatformConfig) -> str | None:
    from mlops.errors import SecretError
    from mlops.secrets import SecretResolver

    try:
        return SecretResolver(platform.vault).resolve(platform.privacy.hash_key)
    except SecretError as exc:
        err.print(f"[yellow]warning:[/] hashed ids cannot be matched (privacy.hash_key: {escape(str(exc))})")
        return None


def _print(receipt: Receipt, path: Path | None) -> None:
    verb = "would remove" if receipt.dry_run else "removed"
    if receipt.rows == 0 and not receipt.model_versions:
        console.print(
            f"no rows of the subject found in any store ({len(receipt.stores)} searched); "
            f"{'nothing changed' if receipt.dry_run else 'receipt written'}"
        )
    for name, result in receipt.stores.items():
        if result.rows:
            console.print(f"{name}: {verb} {result.rows} row(s) in {max(result.files, 1)} place(s)")
            for line in result.detail[:20]:
                console.print(f"  {escape(line)}")
    for name, why in receipt.skipped.items():
        console.print(f"{name}: skipped ({escape(why)})")
    if receipt.model_versions:
        tag = "would be tagged" if receipt.dry_run else "tagged erasure_pending"
        console.print(
            f"model versions trained on the subject ({tag}; retrain them): {', '.join(receipt.model_versions)}"
        )
    if receipt.tombstones_added:
        console.print(f"backups: {receipt.tombstones_added} tombstone(s) recorded; every restore erases them again")
    console.print(
        f"{receipt.erasure_id}: {verb} {receipt.rows} row(s) in {receipt.duration_s:.2f} s"
        + (f"; receipt {path}" if path else " (dry run: nothing changed)")
    )


def erase_command(
    subject: Annotated[list[str], typer.Option("--subject", help="The subject's id (repeat for several).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be erased; change nothing.")] = False,
    config_dir: ConfigDir = Path("config"),
    env: Annotated[str, typer.Option("--env", envvar="MLOPS_ENV", help="dev, local-stack, staging or prod.")] = "dev",
    state: Annotated[
        Path | None, typer.Option("--state", help="State folder (default: the platform config's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase a data subject from every store (dataset copies, quarantine, Feast offline and online,
    prediction and shadow logs, batch outputs, registry artifacts, backups by tombstone); tag the
    model versions trained on them erasure_pending; write a receipt and an audit line."""
    from privacy.erasure import erase

    platform = load_platform(config_dir, env)
    folder = (state or platform.state_dir).expanduser().resolve()
    platform = platform.model_copy(update={"state_dir": folder})
    with erasure_scope(platform, env, config_dir, folder) as scope:
        receipt = erase(scope, subject, hash_key=_hash_key(platform), dry_run=dry_run)
    path = None if dry_run else folder / "privacy" / "receipts" / f"{receipt.erasure_id}.json"
    if as_json:
        typer.echo(json.dumps(receipt.as_dict(), indent=2))
    else:
        _print(receipt, path)


__all__ = ["erase_command", "erasure_scope", "tombstone_applier"]
