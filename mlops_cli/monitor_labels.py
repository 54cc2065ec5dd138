"""``mlops monitor labels``: import ground-truth labels for a model's logged predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlops_cli.options import ConfigDir, EnvOpt, load_platform

console = Console(highlight=False, soft_wrap=True)


def labels_command(
    file: Annotated[Path, typer.Option("--file", help="The labels: a .csv or .parquet file.")],
    model: Annotated[str, typer.Option("--model", help="The model whose predictions the labels are for.")],
    entity_column: Annotated[str, typer.Option("--entity-column", help="The file's entity id column.")],
    label_column: Annotated[str, typer.Option("--label-column", help="The file's label column.")],
    positive_label: Annotated[
        str | None,
        typer.Option(
            "--positive-label", help="The label value encoded as 1 (needed unless labels are 0/1 or true/false)."
        ),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(
            "--encoding", help='A CSV\'s text encoding, e.g. cp1252 (what Windows spreadsheets save as "CSV").'
        ),
    ] = "utf-8",
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Import labels (one per entity id; the last row of a repeated id wins) under <state>/labels.

    A CSV's delimiter (comma, semicolon, tab or |) is told from its header line."""
    from observability.labels import import_labels, labels_root

    platform = load_platform(config_dir, env)
    result = import_labels(
        file,
        labels_root(platform.state_dir),
        model,
        entity_column=entity_column,
        label_column=label_column,
        positive_label=positive_label,
        encoding=encoding,
    )
    console.print(
        f"imported {result.rows:,} labels for {model} ({result.positives:,} positive) from {file} → {result.path}"
    )
    if result.duplicates:
        console.print(
            f"  [yellow]repeated entity ids: {result.duplicated_ids:,}; the last row of each wins "
            f"({result.duplicates:,} earlier row(s) ignored)[/]"
        )


__all__ = ["labels_command"]
