"""`mlops backup` and `mlops dr` refuse what they cannot do with one line naming it, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.local_stack import ROOT


def _mlops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_cluster_environment_is_named_as_not_backed_up_from_here(tmp_path: Path) -> None:
    ran = _mlops("backup", "restore", "--backup", "latest", "--to", "prod", "--state", str(tmp_path))
    assert ran.returncode == 1
    assert "environment 'prod': backups run on dev and local-stack here" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_an_unknown_target_is_listed_with_the_known_ones(tmp_path: Path) -> None:
    ran = _mlops("backup", "create", "--targets", "mlflow-db,nope", "--state", str(tmp_path))
    assert ran.returncode == 1
    assert "unknown target(s) nope; known: mlflow-db" in ran.stderr
    assert not (tmp_path / "secrets" / "backup-key").exists(), "nothing was created"


def test_a_missing_reading_to_compare_with_is_a_usage_error(tmp_path: Path) -> None:
    ran = _mlops("dr", "check", "--against", str(tmp_path / "none.json"))
    assert ran.returncode == 2
    assert "does not exist" in ran.stderr
