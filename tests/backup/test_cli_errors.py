"""`mlops backup` and `mlops dr` refuse what they cannot do with one line naming it, before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_stack import ROOT


def _mlops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_a_cluster_environment_outside_its_pod_names_what_is_missing(tmp_path: Path) -> None:
    # Outside a pod of the backups chart: none of the variables the chart sets.
    pod = ("RESTIC_", "PGPASSFILE", "REDIS_PASSWORD", "MLOPS_ARTIFACTS_URI")
    env = {k: v for k, v in os.environ.items() if not k.startswith(pod)}
    ran = _mlops("backup", "restore", "--backup", "latest", "--to", "prod", "--state", str(tmp_path), env=env)
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "error: environment prod: variable(s) RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, PGPASSFILE, "
        "MLOPS_ARTIFACTS_URI, REDIS_PASSWORD not set (the backups chart's CronJobs set them: "
        "infrastructure/helm/backups)"
    )


def test_an_unknown_environment_is_named_with_the_known_ones(tmp_path: Path) -> None:
    ran = _mlops("backup", "create", "--env", "qa", "--state", str(tmp_path))
    assert ran.returncode == 1
    assert "environment 'qa': expected one of dev, local-stack, staging, prod" in ran.stderr
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


def test_a_restored_openbao_without_its_kept_keys_stops_the_restore_before_any_erasure(tmp_path: Path) -> None:
    """On the local stack a restored OpenBao is unsealed with the keys kept beside the stack;
    without them the restore stops, naming the file and what to run, before erasing anything again."""
    from mlops.errors import BackupError
    from mlops_cli.backup import _unseal_restored_openbao

    unseal = _unseal_restored_openbao(tmp_path)
    unseal(["mlflow-db", "artifacts"])  # no OpenBao restored: nothing to unseal, nothing read
    with pytest.raises(BackupError) as raised:
        unseal(["mlflow-db", "openbao"])
    message = str(raised.value)
    assert message.startswith("the targets are restored, but the restored OpenBao is still sealed: ")
    assert f"{tmp_path / 'secrets' / 'openbao-init.json'} does not exist" in message
    assert "openbao-adopt --init FILE" in message
    assert message.endswith("then run this restore again: it erases the subjects erased since the backup")
