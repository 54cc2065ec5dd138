"""Every command and repository path the operator docs give exists.

An operator copies commands from these pages during an install or an incident; a renamed make
target, CLI option or file must fail here, not on their terminal. Checked, in every fenced shell
block: `make TARGET` (a Makefile target), `mlops …` (the command path and each `--option` exist
in the CLI), `python -m MODULE` (importable); in the prose: every back-quoted path that starts
at a top-level folder of the repository (`<placeholders>` match anything).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from mlops_cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("backup/playbooks/*.md"),
        *ROOT.glob("observability/runbooks/*.md"),
        *ROOT.glob("infrastructure/**/README.md"),
        *ROOT.glob("secrets/**/README.md"),
    ]
)
DOCS = [d for d in DOCS if "node_modules" not in d.parts]


def tracked_top_level() -> set[str]:
    """The repository's own top-level folders. Output folders (``build/``, ``bench-results/``,
    git-ignored) hold what a command writes: a page may name a file there that exists only
    after that command ran, so such paths are not checked, whether or not the folder exists."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (a source archive)
        return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return {line.split("/", 1)[0] for line in listed.splitlines() if "/" in line and not line.startswith(".")}


TOP_LEVEL = tracked_top_level()
# Pages that tell the reader to create files: the new environment's files do not exist yet.
NEW_FILES = {"adding-an-environment.md": re.compile(r"\bqa\b")}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SHELL = {"sh", "bash", "shell", "console", ""}
PATH = re.compile(r"`([A-Za-z0-9_.<>{}*-]+(?:/[A-Za-z0-9_.<>{}*-]*)+)`")


def shell_lines(text: str) -> Iterator[str]:
    """Each command of the page's shell blocks, continuation lines joined, prompts stripped."""
    for lang, body in FENCE.findall(text):
        if lang not in SHELL:
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            for part in re.split(r"&&|\|\||;|\|", line):
                yield " ".join(part.split(" #", 1)[0].split())


def words_of(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]
    return words


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, re.M))


def check_mlops(args: list[str], root: Any) -> str | None:
    """None when ``mlops ARGS`` names a command and only options it has; else what is wrong."""
    command, path = root, ["mlops"]
    rest = list(args)
    # typer ships its own click: groups are recognised by their command table, not by class.
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            if "<" in rest[0] or "$" in rest[0]:
                return None
            return f"{' '.join(path)} has no command {rest[0]!r} (has: {', '.join(sorted(command.commands))})"
        path.append(rest.pop(0))
        command = sub
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if name not in known and name != "--help":
                return f"{' '.join(path)} has no option {name}"
    return None


def problems_in(doc: Path) -> list[str]:
    text = doc.read_text()
    targets = makefile_targets()
    cli = typer.main.get_command(app)
    found: list[str] = []
    for command in shell_lines(text):
        words = words_of(command)
        if not words:
            continue
        head = words[0].rsplit("/", 1)[-1]
        if head == "make":
            found += [
                f"make {w}: no such target"
                for w in words[1:]
                if not w.startswith("-") and "=" not in w and w not in targets
            ]
        elif head == "mlops":
            if (problem := check_mlops(words[1:], cli)) is not None:
                found.append(f"`{command}`: {problem}")
        elif head.startswith("python") and len(words) > 2 and words[1] == "-m":
            module = words[2]
            if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
                found.append(f"`{command}`: no module {module}")
    skip = NEW_FILES.get(doc.name)
    for ref in set(PATH.findall(text)):
        first = ref.split("/", 1)[0]
        if first not in TOP_LEVEL or (skip is not None and skip.search(ref)):
            continue
        pattern = re.sub(r"<[^>]*>|\{[^}]*\}", "*", ref.rstrip("/"))
        # A page inside a folder may name paths relative to it (a chart README its charts).
        if not any(ROOT.glob(pattern)) and not any(doc.parent.glob(pattern)):
            found.append(f"`{ref}`: no such path")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_commands_and_paths_in_docs_exist(doc: Path) -> None:
    assert problems_in(doc) == []


def test_a_stale_command_option_and_path_are_caught(tmp_path: Path) -> None:
    """The checks themselves: each broken form is reported, each good one is not."""
    root: Any = typer.main.get_command(app)
    backup_commands = ", ".join(sorted(root.commands["backup"].commands))
    page = tmp_path / "page.md"
    page.write_text(
        "See `config/environments/<env>.yaml` and `backup/no-such-folder/x.md`.\n\n"
        "```sh\n"
        "make validate-infra\nmake deploy-everything\n"
        "MLOPS_ENV=local-stack .venv/bin/mlops backup create --targets config\n"
        "mlops backup explode\n"
        "mlops dr check --no-such-flag \\\n  --save x.json\n"
        ".venv/bin/python -m infrastructure.local_stack up && python -m no_such_module_here\n"
        "```\n"
    )
    assert sorted(problems_in(page)) == sorted(
        [
            "make deploy-everything: no such target",
            f"`mlops backup explode`: mlops backup has no command 'explode' (has: {backup_commands})",
            "`mlops dr check --no-such-flag --save x.json`: mlops dr check has no option --no-such-flag",
            "`python -m no_such_module_here`: no module no_such_module_here",
            "`backup/no-such-folder/x.md`: no such path",
        ]
    )
