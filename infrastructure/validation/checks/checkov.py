"""``checkov``: Terraform, the rendered manifests, the Dockerfile and the GitHub workflows; any
failed check, parse error or skip without a justification fails. A failure in a rendered
manifest names the chart template and values file it came from."""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.validation.context import Context
from infrastructure.validation.core import REPO_ROOT, CheckResult, Layout
from infrastructure.validation.render import Render, unrendered_failures
from infrastructure.validation.tools import output_lines, run_tool
from mlops.errors import MissingToolError

# checkov's own environment, made by `make install` (see checkov_tool).
CHECKOV_VENV = REPO_ROOT / ".venv-checkov"
# checkov's placeholder when a skip carries no reason.
CHECKOV_NO_COMMENT = "No comment provided"


@dataclass(frozen=True)
class CheckovTarget:
    """One thing checkov scans: a framework on a file or a folder (``required``: missing fails)."""

    name: str
    framework: str
    path: Path
    is_file: bool
    required: bool


def _checkov_targets(layout: Layout) -> list[CheckovTarget]:
    return [
        CheckovTarget("terraform", "terraform", layout.terraform, is_file=False, required=True),
        CheckovTarget("kubernetes", "kubernetes", layout.rendered, is_file=False, required=True),
        CheckovTarget("dockerfile", "dockerfile", layout.dockerfile, is_file=True, required=True),
        CheckovTarget("github_actions", "github_actions", layout.workflows, is_file=False, required=False),
    ]


def _checkov_reports(stdout: str) -> list[dict[str, Any]]:
    decoded = json.loads(stdout)
    return decoded if isinstance(decoded, list) else [decoded]


def run_checkov(ctx: Context, checkov: str, target: CheckovTarget) -> CheckResult:
    """One checkov run; failures and counts are prefixed with the target's name."""
    layout = ctx.layout
    result = CheckResult(target.name)
    renders: dict[str, Render] = {}
    if target.framework == "kubernetes":
        outcome = ctx.rendered()
        renders = {layout.rel(render.path): render for render in outcome.renders}
        result.failures += unrendered_failures(outcome)
        if not outcome.renders:
            result.failures.append("kubernetes: nothing rendered to scan")
            return result
    if not target.path.exists():
        if target.required:
            result.failures.append(f"{target.name}: {layout.rel(target.path)} does not exist")
        else:
            result.notes.append(f"{target.name}: {layout.rel(target.path)} does not exist, not scanned")
        return result
    scanned = target.path
    if target.framework == "github_actions":
        scanned = _workflows_for_checkov(layout, target.path, result)
    command = [
        checkov,
        "--skip-download",
        "--compact",
        "--output",
        "json",
        "--framework",
        target.framework,
        "--file" if target.is_file else "--directory",
        str(scanned),
    ]
    if target.framework == "terraform":
        # Environments' values sit in live/environments/<env>/terraform.tfvars, which checkov does
        # not load by itself; without values, checks that need them (EKS version, IAM role graph)
        # silently do not run. Every environment sets the same variables, so one resolves them.
        tfvars = sorted(target.path.glob("live/environments/*/terraform.tfvars"))
        if tfvars:
            command += ["--var-file", str(tfvars[0])]
            result.notes.append(f"{target.name}: variables from {layout.rel(tfvars[0])}")
    started = time.perf_counter()
    completed = run_tool(command, cwd=layout.root)
    result.notes.append(
        f"{target.name}: checkov --framework {target.framework} took {time.perf_counter() - started:.1f}s"
    )
    try:
        reports = _checkov_reports(completed.stdout)
    except json.JSONDecodeError:
        result.failures.append(f"{target.name}: checkov exited {completed.returncode} without a JSON report")
        result.failures += [f"{target.name}: {line}" for line in output_lines(completed)]
        return result
    for report in reports:
        summary = report.get("summary", report)
        for key in ("passed", "failed", "skipped", "parsing_errors", "resource_count"):
            result.count(f"{target.name}_{key}", int(summary.get(key, 0)))
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            lines = failed.get("file_line_range") or []
            where = f"{_checkov_file(layout, target, failed)}:{'-'.join(map(str, lines))}"
            # Rendered manifests: name the template and values file; the rendered file is where to look.
            render = renders.get(_checkov_file(layout, target, failed))
            source = render.source_at(int(lines[0])) if render is not None and lines else None
            if source is not None:
                where = f"{source}; rendered {where}"
            result.failures.append(
                f"{target.name}: {failed['check_id']} {failed.get('check_name', '')}: "
                f"{_checkov_resource(layout, target, failed)} ({where})"
            )
        justified: dict[tuple[str, str, str], int] = {}
        for skipped in results.get("skipped_checks", []):
            reason = str((skipped.get("check_result") or {}).get("suppress_comment") or "").strip()
            where = _checkov_file(layout, target, skipped)
            if not reason or reason == CHECKOV_NO_COMMENT:
                result.failures.append(
                    f"{target.name}: {skipped['check_id']} skipped without a justification: "
                    f"{_checkov_resource(layout, target, skipped)} ({where})"
                )
            else:
                skip = (str(skipped["check_id"]), where, reason)
                justified[skip] = justified.get(skip, 0) + 1
        for (check_id, where, reason), times in sorted(justified.items()):
            result.notes.append(f"{target.name}: {check_id} skipped x{times} in {where}: {reason}")
        for parse_error in results.get("parsing_errors", []):
            result.failures.append(f"{target.name}: checkov could not parse {parse_error}")
    checks = sum(result.counts.get(f"{target.name}_{key}", 0) for key in ("passed", "failed", "skipped"))
    if checks == 0:
        # checkov drops files it cannot make sense of without a parse error (e.g. a workflow its
        # bundled GitHub schema rejects), so "nothing checked" means "not checked".
        result.failures.append(f"{target.name}: checkov ran no check on {layout.rel(target.path)}")
        if target.framework == "github_actions":
            shown = layout.rel(target.path)
            result.failures += [f"{target.name}: {shown}/{line}" for line in _gha_schema_rejections(checkov, scanned)]
    if completed.returncode not in (0, 1):
        result.failures.append(f"{target.name}: checkov exited {completed.returncode}")
        result.failures += [f"{target.name}: {line}" for line in output_lines(completed)]
    return result


# checkov's bundled workflow schema types concurrency.cancel-in-progress as oneOf [boolean,
# string, expression]; an expression matches two branches, so checkov drops the whole workflow.
# The copy it scans has such a value replaced by `true` on the same line (line numbers hold);
# nothing checkov checks depends on it.
_CANCEL_IN_PROGRESS_EXPRESSION = re.compile(r"^(\s*cancel-in-progress:\s*)\$\{\{.*\}\}\s*$", re.MULTILINE)


def _workflows_for_checkov(layout: Layout, workflows: Path, result: CheckResult) -> Path:
    copy = layout.out / "checkov-workflows" / ".github" / "workflows"
    shutil.rmtree(copy.parent.parent, ignore_errors=True)
    copy.mkdir(parents=True)
    for path in sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")]):
        text, replaced = _CANCEL_IN_PROGRESS_EXPRESSION.subn(r"\1true", path.read_text(encoding="utf-8"))
        if replaced:
            result.notes.append(
                f"github_actions: {layout.rel(path)}: cancel-in-progress expression scanned as `true` "
                "(checkov's workflow schema rejects any expression there)"
            )
        (copy / path.name).write_text(text, encoding="utf-8")
    return copy


# checkov scans a workflow only when its bundled schema accepts it; this names the rejection.
_GHA_SCHEMA_PROBE = """
import sys, jsonschema, yaml
from checkov.common.parsers.yaml import loader
from checkov.github_actions.schemas import gha_workflow
validator = jsonschema.validators.validator_for(gha_workflow)(gha_workflow)
for path in sys.argv[1:]:
    with open(path) as handle:
        for doc in yaml.load_all(handle, Loader=loader.SafeLineLoaderGhaSchema):
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if error is not None:
                where = ".".join(map(str, error.absolute_path)) or "<root>"
                print(f"{path}: checkov skips it, its bundled workflow schema rejects {where}: {error.message[:300]}")
"""


def _gha_schema_rejections(checkov: str, workflows: Path) -> list[str]:
    files = sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")])
    if not files:
        return []
    # checkov's own interpreter: its environment has checkov's modules (the project's does not).
    python = Path(checkov).parent / "python"
    interpreter = str(python) if python.is_file() else sys.executable
    completed = run_tool([interpreter, "-c", _GHA_SCHEMA_PROBE, *(f.name for f in files)], cwd=workflows)
    return output_lines(completed)


def _checkov_file(layout: Layout, target: CheckovTarget, entry: dict[str, Any]) -> str:
    if target.is_file:
        return layout.rel(target.path)
    # checkov reports paths relative to the scanned directory, with a leading slash.
    reported = str(entry.get("file_path", "")).lstrip("/")
    return layout.rel(target.path / reported) if reported else layout.rel(target.path)


def _checkov_resource(layout: Layout, target: CheckovTarget, entry: dict[str, Any]) -> str:
    # Dockerfile resources are named after the absolute path of the file.
    return str(entry.get("resource", "")).replace(str(target.path), layout.rel(target.path))


def checkov_tool() -> str | None:
    """checkov from its own environment beside this checkout's .venv (`make install`), else PATH.

    It has an environment of its own because its pinned forks of detect-secrets and
    python-hcl2 install into the same module names as the originals.
    """
    local = CHECKOV_VENV / "bin" / "checkov"
    return str(local) if local.is_file() else shutil.which("checkov")


def check_checkov(ctx: Context) -> CheckResult:
    """checkov on every target (Terraform, rendered charts, Dockerfile, workflows), the targets in parallel."""
    result = CheckResult("checkov")
    checkov = checkov_tool()
    if checkov is None:
        raise MissingToolError("checkov", "`make install` (creates .venv-checkov from checkov-requirements.txt)")
    targets = _checkov_targets(ctx.layout)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        parts = list(pool.map(lambda t: run_checkov(ctx, checkov, t), targets))
    for part in parts:
        result.failures += part.failures
        result.notes += part.notes
        for key, value in part.counts.items():
            result.count(key, value)
    return result
