"""Running the external tools the checks wrap (node scripts, terraform, checkov)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from infrastructure.validation.core import NPM_CI, Layout
from mlops.errors import MissingToolError

SUBPROCESS_TIMEOUT = 600.0
MAX_LINES = 60


def output_lines(completed: subprocess.CompletedProcess[str]) -> list[str]:
    """A tool's stdout and stderr as non-blank lines, at most MAX_LINES of them."""
    lines = [line.rstrip() for line in (completed.stdout + "\n" + completed.stderr).splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... {len(lines) - MAX_LINES} more lines"]
    return lines


def run_tool(
    command: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; a timeout is exit code 124."""
    try:
        return subprocess.run(
            list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(command), 124, "", f"{command[0]} timed out after {timeout:.0f}s")


def node_command(layout: Layout, script: str, package: str) -> list[str]:
    """``node <script>`` for one of the wrappers in infrastructure/validation around an npm package."""
    node = shutil.which("node")
    if node is None:
        raise MissingToolError("node (Node.js >= 18)", "`apt-get install nodejs npm`")
    if not (layout.validation / "node_modules" / package).is_dir():
        raise MissingToolError(f"npm package {package} (infrastructure/validation/node_modules)", NPM_CI)
    wrapper = layout.validation / script
    if not wrapper.is_file():
        raise MissingToolError(
            f"infrastructure/validation/{script} (the {package} wrapper)",
            "the repository's version of that file (it is not generated)",
        )
    return [node, str(wrapper)]
