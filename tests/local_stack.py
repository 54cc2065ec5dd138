"""Local reference deployments for the tests: a stack on free ports in its own temporary folder,
and the session's *trained* stack (the training pipeline run on it once, and a backup made) that
the pipeline, playbook and drill tests share: a training run costs a minute, so it runs once."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infrastructure.local_stack import SERVERS, down, up, write_config_dir

ROOT = Path(__file__).resolve().parents[1]
MLOPS = [sys.executable, "-m", "mlops_cli"]


def servers_in(folder: Path) -> list[int]:
    """Pids of the processes running in ``folder`` (the stack's servers run in its sub-folders)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(proc / "cwd").startswith(str(folder)):
                    found.append(int(proc.name))
    return found


@contextlib.contextmanager
def state_folder(prefix: str) -> Iterator[Path]:
    """A fresh state folder for a stack; whatever stack runs in it is stopped and the folder
    deleted afterwards, whichever test failed."""
    # Mode 711 (not pytest's tmp_path, mode 700): PostgreSQL's unprivileged account must traverse it.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        try:
            down(folder, purge=True)
        finally:
            for pid in servers_in(folder):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def stack_folder(prefix: str, servers: tuple[str, ...] = tuple(SERVERS)) -> Iterator[Path]:
    """A running stack (``servers``, each on a free port) in a fresh :func:`state_folder`."""
    with state_folder(prefix) as folder:
        up(folder, preferred_ports=dict.fromkeys(servers))
        yield folder


@dataclass(frozen=True)
class TrainedStack:
    """A stack with a trained, registered champion and its config folder: ``training`` is the
    pipeline run (which makes the version challenger), ``promotion`` its promotion to champion."""

    state: Path
    config_dir: Path
    training: subprocess.CompletedProcess[str]
    promotion: subprocess.CompletedProcess[str]

    @property
    def environ(self) -> dict[str, str]:
        """What an operator exports before following a playbook on this stack."""
        return os.environ | {
            "MLOPS_ENV": "local-stack",
            "MLOPS_CONFIG_DIR": str(self.config_dir),
            "MLOPS_STATE": str(self.state),
            "COLUMNS": "200",
        }

    def mlops(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*MLOPS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=self.environ
        )


@contextlib.contextmanager
def trained_stack_in(prefix: str) -> Iterator[TrainedStack]:
    with stack_folder(prefix) as state:
        config_dir = write_config_dir(state, state / "config")
        none = subprocess.CompletedProcess[str]([], 1)
        stack = TrainedStack(state, config_dir, none, none)
        training = stack.mlops("run", "training", timeout=900)
        promotion = stack.mlops("models", "promote", "credit_risk", "1.0.0", "--to", "champion", timeout=120)
        yield TrainedStack(state, config_dir, training, promotion)
