"""A user's project folder for end-to-end runs, and the `mlops` command run in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def new_project(work: Path) -> Path:
    """``work`` set up like a user's checkout: config copied, a dev PII hash key, its own state."""
    shutil.copytree(ROOT / "config", work / "config")
    key = work / ".mlops" / "secrets" / "pii-hash-key"
    key.parent.mkdir(parents=True)
    key.write_text("e2e-test-key-0123456789abcdef\n")
    return work


def run(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`mlops …` in the project; no VAULT_* variable from the developer's shell gets through."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**base, "COLUMNS": "200", **(env or {})},
    )


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def latest_run(workdir: Path) -> Path:
    return sorted((workdir / ".mlops" / "runs").iterdir())[-1]


def steps(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "steps").glob("*.json")}


def registry_versions(workdir: Path, name: str) -> list[dict[str, str]]:
    from model_registry.registry import ModelRegistry

    reg = ModelRegistry.local(workdir / ".mlops" / "registry")
    return [{"semver": v.semver, "aliases": ",".join(v.aliases), **v.tags} for v in reg.versions(name)]
