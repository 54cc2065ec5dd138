"""``mlops privacy scan``: PII discovery on a dataset, compared with its config's ``pii:`` block.

Exit codes: 0 when every column holding PII is declared; 3 (blocked) when PII is found in
undeclared columns: they are named with their entity types, and a ``pii:`` block to add is
printed. Examples are masked; no raw value is printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_cli.options import ConfigDir, EnvOpt, JsonOpt, load_platform
from mlops_cli.privacy_consent import consent_app
from mlops_cli.privacy_erase import erase_command
from mlops_cli.privacy_retention import retention_app

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
privacy_app = typer.Typer(help="Privacy: PII discovery in datasets, right to erasure.", no_args_is_help=True)
privacy_app.add_typer(consent_app, name="consent")
privacy_app.add_typer(retention_app, name="retention")
privacy_app.command("erase")(erase_command)

EXIT_BLOCKED = 3


@privacy_app.command("scan")
def scan_command(
    dataset: Annotated[Path, typer.Option(help="Dataset config YAML to scan (its data, against its `pii:` block).")],
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """Find PII in the dataset (column names, checksummed values, free-text spans); undeclared
    PII exits with code 3, naming the columns and entity types, with a suggested `pii:` block."""
    from mlops.config import load_dataset_config
    from mlops.object_store import ObjectStore
    from mlops.secrets import SecretResolver
    from privacy.discovery import scan_dataset_frame
    from training.datasets import read_dataset

    platform = load_platform(config_dir, env)
    cfg = load_dataset_config(dataset)
    store = ObjectStore(platform.object_store, SecretResolver(platform.vault).resolve)
    frame = read_dataset(cfg, store)
    result = scan_dataset_frame(frame, cfg, platform.privacy.discovery)
    undeclared = result.undeclared
    if as_json:
        payload = result.model_dump(mode="json")
        payload["undeclared"] = [f.column for f in undeclared]
        payload["declared_not_found"] = result.declared_not_found
        payload["suggested_pii_block"] = result.suggested_pii_block()
        console.print_json(json.dumps(payload))
    else:
        _print(result)
    if undeclared:
        err.print(
            f"[red]blocked:[/] undeclared PII in {len(undeclared)} column(s) of {escape(str(dataset))}: "
            + "; ".join(escape(f.describe()) for f in undeclared)
        )
        if not as_json:
            err.print("add to the dataset config (or choose another action):")
            err.print(escape(result.suggested_pii_block()), end="")
        raise typer.Exit(EXIT_BLOCKED)


def _print(result: object) -> None:
    from privacy.discovery import ScanResult

    assert isinstance(result, ScanResult)
    console.print(
        f"scanned {result.columns} columns of {result.dataset!r} ({result.rows} rows) in {result.seconds:.1f} s"
    )
    table = Table()
    for col in ("column", "found (share of sampled values)", "masked examples", "declared"):
        table.add_column(col)
    for f in result.findings:
        found = ", ".join(f"{e} {s:.0%}" for e, s in sorted(f.entities.items(), key=lambda x: -x[1]))
        examples = "; ".join(x for xs in f.examples.values() for x in xs)
        declared = f.declared or ("[red]NO (key column)[/]" if f.role else "[red]NO[/]")
        table.add_row(
            escape(f.column), escape(found + (" (free text)" if f.free_text else "")), escape(examples), declared
        )
    if result.findings:
        console.print(table)
    else:
        console.print("no PII found")
    for column in result.declared_not_found:
        console.print(f"declared as PII, none found in its values: {escape(column)}")


__all__ = ["privacy_app"]
