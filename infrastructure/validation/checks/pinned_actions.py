"""``pinned-actions``: actions, reusable workflows, GitLab includes and Jenkins libraries pinned by
a full commit SHA (container actions by digest)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, one_line

# Code CI fetches from elsewhere runs with the job's token: a tag or branch can be moved to new
# code, a full commit SHA cannot.
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_UNPINNED_ADVICE = "pin the full 40-character commit SHA (the version goes in a comment)"


def _mapping_get(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def _sequence(node: Any) -> list[Any]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node: Any) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def action_problem(uses: str) -> str | None:
    """Why a GitHub Actions ``uses:`` reference is not pinned; None when it is."""
    if uses.startswith("./"):
        return None  # this repository's own action or workflow, at the same commit
    if uses.startswith("docker://"):
        return None if _IMAGE_DIGEST.search(uses) else "a container action not pinned by an @sha256: digest"
    _, has_ref, ref = uses.partition("@")
    if not has_ref:
        return f"no @ref (it runs whatever the default branch holds); {_UNPINNED_ADVICE}"
    if _FULL_SHA.fullmatch(ref):
        return None
    return f"@{ref} is a tag or branch, which can be moved to other code; {_UNPINNED_ADVICE}"


def _github_uses(root: Any) -> list[tuple[int, str, str]]:
    """(line, where, reference) of every ``uses:`` in a workflow (jobs and steps) or action."""
    found: list[tuple[int, str, str]] = []

    def steps(node: Any, where: str) -> None:
        for index, step in enumerate(_sequence(node)):
            uses = _mapping_get(step, "uses")
            if _scalar(uses) is not None:
                name = _scalar(_mapping_get(step, "name")) or _scalar(_mapping_get(step, "id")) or str(index + 1)
                found.append((uses.start_mark.line + 1, f"{where} step {name}", str(_scalar(uses))))

    jobs = _mapping_get(root, "jobs")
    for key_node, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        uses = _mapping_get(job, "uses")  # a reusable workflow
        if _scalar(uses) is not None:
            found.append((uses.start_mark.line + 1, f"job {key_node.value}", str(_scalar(uses))))
        steps(_mapping_get(job, "steps"), f"job {key_node.value}")
    steps(_mapping_get(_mapping_get(root, "runs"), "steps"), "composite action")
    return found


def _gitlab_include_problem(entry: Any) -> str | None:
    if isinstance(entry, yaml.ScalarNode):
        value = str(entry.value)
        if "://" not in value:
            return None  # a file of this repository
        return None if _FULL_SHA.search(value) else f"remote include {value} is not pinned to a commit SHA"
    if not isinstance(entry, yaml.MappingNode):
        return None
    if (project := _scalar(_mapping_get(entry, "project"))) is not None:
        ref = _scalar(_mapping_get(entry, "ref")) or ""
        if not _FULL_SHA.fullmatch(ref):
            at = f"ref {ref}" if ref else "its default branch"
            return f"include of project {project} at {at}; {_UNPINNED_ADVICE}"
    if (remote := _scalar(_mapping_get(entry, "remote"))) is not None and not _FULL_SHA.search(remote):
        return f"remote include {remote} is not pinned to a commit SHA"
    if (component := _scalar(_mapping_get(entry, "component"))) is not None:
        ref = component.rpartition("@")[2] if "@" in component else ""
        if not _FULL_SHA.fullmatch(ref):
            return f"component {component} is not pinned; {_UNPINNED_ADVICE}"
    return None


# Jenkins shared libraries: @Library('name@ref'), library('name@ref'), library identifier: 'name@ref'.
_JENKINS_LIBRARY = re.compile(
    r"""(?:@Library\s*\(\s*\[?|\blibrary\s*\(?\s*(?:identifier\s*:\s*)?)\s*(['"])(?P<ref>[^'"]+)\1"""
)


def check_pinned_actions(ctx: Context) -> CheckResult:
    """Every action, reusable workflow, GitLab include/component and Jenkins shared library the
    CI files pull from another repository is pinned by a full commit SHA (container actions by
    digest). Tags and branches can be moved to new code; a commit cannot."""
    result = CheckResult("pinned-actions")
    layout = ctx.layout
    github = sorted([*layout.workflows.glob("*.yml"), *layout.workflows.glob("*.yaml")])
    actions_dir = layout.root / ".github" / "actions"
    github += sorted(p for p in actions_dir.rglob("action.y*ml")) if actions_dir.is_dir() else []
    result.counts = {"files": 0, "references": 0}
    for path in github:
        result.count("files")
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            result.failures.append(f"{layout.rel(path)}: does not parse: {one_line(str(exc))}")
            continue
        for line, where, uses in _github_uses(root):
            result.count("references")
            if (problem := action_problem(uses)) is not None:
                result.failures.append(f"{layout.rel(path)}:{line}: {where}: uses {uses}: {problem}")
    gitlab = layout.root / ".gitlab-ci.yml"
    if gitlab.is_file():
        result.count("files")
        try:
            root = yaml.compose(gitlab.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            result.failures.append(f"{layout.rel(gitlab)}: does not parse: {one_line(str(exc))}")
            root = None
        include = _mapping_get(root, "include")
        for entry in _sequence(include) if isinstance(include, yaml.SequenceNode) else [include] if include else []:
            result.count("references")
            if (problem := _gitlab_include_problem(entry)) is not None:
                result.failures.append(f"{layout.rel(gitlab)}:{entry.start_mark.line + 1}: {problem}")
    jenkinsfile = layout.root / "Jenkinsfile"
    if jenkinsfile.is_file():
        result.count("files")
        text = jenkinsfile.read_text(encoding="utf-8")
        for match in _JENKINS_LIBRARY.finditer(text):
            result.count("references")
            name, _, ref = match["ref"].partition("@")
            if not _FULL_SHA.fullmatch(ref):
                line = text.count("\n", 0, match.start()) + 1
                pinned = f"at {ref}" if ref else "at its default version"
                where = f"{layout.rel(jenkinsfile)}:{line}"
                result.failures.append(f"{where}: shared library {name} {pinned}; {_UNPINNED_ADVICE}")
    return result
