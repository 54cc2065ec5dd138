"""``argocd``: ``argocd-validate.mjs`` (the Argo CD CRD schemas of ``@kubernetes-models/argo-cd``)
on ``infrastructure/argocd``."""

from __future__ import annotations

from pathlib import Path

from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, Layout
from infrastructure.validation.manifests import manifests_from_file, yaml_files
from infrastructure.validation.tools import node_command, output_lines, run_tool


def run_argocd_validate(layout: Layout, files: list[Path], result: CheckResult) -> None:
    """``argocd-validate.mjs`` on the files; each line it reports is a failure."""
    command = node_command(layout, "argocd-validate.mjs", "@kubernetes-models/argo-cd")
    completed = run_tool([*command, *map(str, files)], cwd=layout.root)
    if completed.returncode != 0:
        result.failures += [f"argocd-validate: {line}" for line in output_lines(completed)] or [
            f"argocd-validate exited {completed.returncode} without output"
        ]


def check_argocd(ctx: Context) -> CheckResult:
    """The manifests in infrastructure/argocd against the Argo CD CRD schemas."""
    result = CheckResult("argocd")
    layout = ctx.layout
    files = yaml_files(layout.argocd)
    if not files:
        result.failures.append(f"no Argo CD manifests under {layout.rel(layout.argocd)}")
        return result
    for path in files:
        found, error = manifests_from_file(path, layout)
        if error:
            result.failures.append(error)
        result.count("objects", sum(m.is_argocd for m in found))
    result.counts["files"] = len(files)
    run_argocd_validate(layout, files, result)
    return result
