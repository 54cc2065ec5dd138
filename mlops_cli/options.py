"""What most commands share, declared once: the config folder, the environment, JSON output,
and loading the environment's platform config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.config import ENVIRONMENTS

if TYPE_CHECKING:
    from platform_config import PlatformConfig

ConfigDir = Annotated[
    Path, typer.Option("--config-dir", envvar="MLOPS_CONFIG_DIR", help="Folder holding platform.yaml.")
]
EnvOpt = Annotated[str, typer.Option("--env", envvar="MLOPS_ENV", help=f"One of {', '.join(ENVIRONMENTS)}.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def load_platform(config_dir: Path, env: str) -> PlatformConfig:
    """The environment's platform config, its secret resolver installed for the code that resolves
    references by itself (Feast's store passwords, the dataset's object store)."""
    from mlops.secrets import SecretResolver, set_default_resolver
    from platform_config import load_platform_config

    platform = load_platform_config(config_dir, env)
    set_default_resolver(SecretResolver(platform.vault))
    return platform


__all__ = ["ConfigDir", "EnvOpt", "JsonOpt", "load_platform"]
