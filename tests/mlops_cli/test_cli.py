"""The CLI as a user runs it (a subprocess per call)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def mlops(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands() -> None:
    out = mlops("--help")
    assert out.returncode == 0
    for cmd in ("run", "compile", "runs", "models", "data", "config"):
        assert cmd in out.stdout


def test_config_validate_ok() -> None:
    out = mlops("config", "validate")
    assert out.returncode == 0, out.stderr
    assert "environments/prod.yaml" in out.stdout


def test_config_validate_bad_file_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "config" / "retraining_triggers.yaml").write_text("schedule: every monday\n")
    out = mlops("config", "validate", "--config-dir", str(tmp_path / "config"))
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "retraining_triggers.yaml: schedule: a five-field cron expression" in lines[0]
    assert "Traceback" not in out.stderr


def test_bad_dataset_config_names_file_and_key(tmp_path: Path) -> None:
    ds = tmp_path / "ds.yaml"
    ds.write_text("name: loans\npath: x.csv\ntarget: y\npii:\n  email: {action: scramble}\n")
    out = mlops("config", "validate", "--dataset", str(ds))
    assert out.returncode == 1
    assert f"{ds}: pii.email.action:" in out.stderr
    assert "'hash'" in out.stderr


def test_data_sample_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.csv"
    assert mlops("data", "sample", "--rows", "500", "--out", str(a)).returncode == 0
    assert mlops("data", "sample", "--rows", "500", "--out", str(b)).returncode == 0
    fa, fb = pd.read_parquet(a), pd.read_csv(b)
    assert len(fa) == 500
    assert fa["applicant_id"].tolist() == fb["applicant_id"].tolist()
    assert fa["defaulted"].tolist() == fb["defaulted"].tolist()


def test_runs_show_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    out = mlops("runs", "show", cwd=tmp_path)
    assert out.returncode == 1
    assert "no runs yet" in out.stderr


@pytest.mark.parametrize("args", [["models", "promote", "x", "1.0.0", "--to", "prod"], ["runs", "show", "nope"]])
def test_errors_exit_non_zero_without_traceback(tmp_path: Path, args: list[str]) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    out = mlops(*args, cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
