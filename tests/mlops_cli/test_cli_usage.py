"""Usage errors of the `mlops` command: one error line plus the usage hint, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MLOPS = Path(sys.executable).parent / "mlops"


def mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLOPS), *args], cwd=cwd, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )


@pytest.mark.parametrize(
    ("args", "usage", "error"),
    [
        (["nosuch"], "Usage: mlops [OPTIONS] COMMAND [ARGS]...", "Error: No such command 'nosuch'."),
        (
            ["run", "training", "--nosuch-flag"],
            "Usage: mlops run training [OPTIONS]",
            "Error: No such option: --nosuch-flag",
        ),
        (["models", "show"], "Usage: mlops models show [OPTIONS]", "Error: Missing argument 'name'."),
    ],
)
def test_usage_errors_are_one_line_and_the_usage_hint(args: list[str], usage: str, error: str, tmp_path: Path) -> None:
    out = mlops(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(usage)
    assert lines[1].startswith("Try 'mlops")
    assert lines[1].endswith("--help' for help.")
    assert lines[2].startswith(error)
    assert len(lines) == 3
    assert out.stdout == ""


def test_no_arguments_still_prints_the_help(tmp_path: Path) -> None:
    out = mlops(cwd=tmp_path)
    assert "Traceback" not in out.stdout + out.stderr
    assert "Usage: mlops" in out.stdout + out.stderr
    assert "run" in out.stdout + out.stderr


def test_errors_the_platform_raises_keep_exit_1(tmp_path: Path) -> None:
    out = mlops("runs", "show", "--config-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "platform.yaml" in out.stderr


@pytest.mark.parametrize(("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_waiters_sleep_in_every_process_the_command_starts(
    preset: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What pipeline steps and batch jobs inherit (they fit and predict with OpenMP teams); an
    operator's own OMP_WAIT_POLICY is kept."""
    from mlops_cli.main import main

    monkeypatch.setenv("OMP_WAIT_POLICY", preset or "unset below")  # restored after the test either way
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(sys, "argv", ["mlops", "--help"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert (
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.environ['OMP_WAIT_POLICY'])"], capture_output=True, text=True
        ).stdout.strip()
        == expected
    )
