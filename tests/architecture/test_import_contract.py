"""The import contract `make lint` enforces (pyproject's ``[tool.importlinter]``): it holds on
the tree as it is, and it fails when a layer imports upwards or a room reaches into another
room without a declared dependency."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts on the packages under ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's packages and contract, to plant imports in."""
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


LAYERS = "CLI → infrastructure → pipelines → components → config → rooms → kernel"


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_contract_declares_every_layer_and_room() -> None:
    layers = next(c for c in CONFIG["contracts"] if c["id"] == "layers")["layers"]
    assert layers[0].split(" | ") == ["mlops_cli", "performance"]
    assert layers[1:5] == ["infrastructure", "pipelines", "components", "platform_config"]
    assert layers[-1] == "mlops"
    rooms = next(c for c in CONFIG["contracts"] if c["id"] == "rooms")["modules"]
    assert layers[5].split(" : ") == rooms
    # Every Python package in the repository is under the contract (tests aside).
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(CONFIG["root_packages"])


def test_the_tree_keeps_the_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The kernel imports no room.
        ("mlops.contracts", "import serving.app", LAYERS),
        # A room imports no component, pipeline or the CLI.
        ("training.steps", "import pipelines.training", LAYERS),
        ("serving.models", "import mlops_cli.main", LAYERS),
        # A room sees only its own config section, never the composed platform config.
        ("data_quality.step", "from platform_config import PlatformConfig", LAYERS),
        # Rooms depend on each other only as declared (serving → model_registry is; the reverse is not).
        ("model_registry.steps", "import serving.models", "Rooms are independent unless a dependency is declared"),
        ("data_quality.step", "import model_governance.step", "Rooms are independent unless a dependency is declared"),
        # Only the DR drill of the backup room reads other rooms' stores; the backups do not.
        ("backup.service", "import feature_store.store", "Rooms are independent unless a dependency is declared"),
        # The local stack sits under the CLI: it never drives the CLI.
        ("infrastructure.local_stack._stack", "import mlops_cli.main", LAYERS),
    ],
)
def test_a_reverse_import_breaks_the_contract(tree: Path, module: str, line: str, broken: str) -> None:
    plant(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout
    assert module in result.stdout
