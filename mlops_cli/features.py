"""``mlops features …``: operations on the feature store itself (the builds run in the pipeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlops_cli.options import ConfigDir, EnvOpt, JsonOpt, load_platform

console = Console(highlight=False, soft_wrap=True)
features_app = typer.Typer(help="The feature store: rebuild the online store.", no_args_is_help=True)


@features_app.command("rebuild-online")
def rebuild_online_command(
    view: Annotated[
        list[str] | None, typer.Option("--view", help="Only this feature view (repeatable). Default: every view.")
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """Materialise the feature views again from their offline sources (the online store was lost)."""
    from feature_store.rebuild import rebuild_online

    platform = load_platform(config_dir, env)
    rebuilt = rebuild_online(platform.state_dir, platform.features, environment=env, views=view or None)
    if as_json:
        rows = [
            {
                "view": r.view,
                "source": r.source,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "seconds": r.seconds,
            }
            for r in rebuilt
        ]
        console.print_json(json.dumps(rows))
        return
    for r in rebuilt:
        console.print(
            f"{r.view}: materialised {r.start:%Y-%m-%d %H:%M} → {r.end:%Y-%m-%d %H:%M} UTC ({r.seconds:.1f} s)"
        )
    if not rebuilt:
        console.print("no feature views in the registry: nothing to rebuild")


__all__ = ["features_app"]
