"""Every DR playbook, run for real: its fault planted in the trained reference deployment, then
every ``bash`` block of the page executed in order, as an SRE would paste them.

*Confirm* blocks must succeed with the fault in place (they detect it), *Recover* and *Verify*
blocks must succeed afterwards; the last *Verify* block of every page runs ``mlops dr check``,
which exits 1 naming whatever the deployment cannot serve. A page whose commands rot fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_stack import ROOT, TrainedStack

PLAYBOOKS = ROOT / "backup" / "playbooks"
SECTIONS = ("Confirm", "Recover", "Verify")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    section: str
    code: str


def blocks(page: Path) -> list[Block]:
    """The page's ``bash`` blocks, each with the ``##`` section it is in."""
    found: list[Block] = []
    for part in re.split(r"^## ", page.read_text(), flags=re.MULTILINE)[1:]:
        title = part.splitlines()[0].strip()
        found += [Block(title, m.group(2)) for m in FENCE.finditer(part) if m.group(1) == "bash"]
    return found


def pages() -> list[Path]:
    return sorted(p for p in PLAYBOOKS.glob("*.md") if p.name != "README.md")


# --------------------------------------------------------------------------- shape (no servers)
@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_each_page_names_its_alert_rto_and_has_every_step(page: Path) -> None:
    text = page.read_text()
    assert re.search(r"^\*\*Alert:\*\* .*`[A-Z]\w+`", text, re.MULTILINE), "names the alert that leads here"
    assert re.search(r"^\*\*Expected RTO:\*\* ", text, re.MULTILINE), "states the expected recovery time"
    sections = [b.section for b in blocks(page)]
    for section in SECTIONS:
        assert section in sections, f"{page.name}: no bash block under '## {section}'"
    assert blocks(page)[-1].code.strip().splitlines()[-1].startswith("mlops "), "ends with a verifying command"
    assert "mlops dr check" in "".join(b.code for b in blocks(page) if b.section == "Verify")


def test_the_index_lists_every_page() -> None:
    index = (PLAYBOOKS / "README.md").read_text()
    for page in pages():
        assert f"]({page.name})" in index, f"README.md does not link {page.name}"


def test_a_fenced_block_outside_the_sections_is_found_with_its_section(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# T\n\n## Confirm\n\n```bash\n! false\n```\n\n## Recover\n\n```text\nnot run\n```\n")
    assert blocks(page) == [Block("Confirm", "! false\n")]


# --------------------------------------------------------------------------- faults
def _record(stack: TrainedStack) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads((stack.state / "stack" / "stack.json").read_text())
    return data


def _lose_registry_database(stack: TrainedStack) -> None:
    import psycopg

    record = _record(stack)
    postgres = record["servers"]["postgres"]
    with psycopg.connect(
        host="127.0.0.1",
        port=postgres["ports"]["postgres"],  # type: ignore[index]
        user="postgres",
        password=record["credentials"]["postgres_superuser_password"],
        dbname="mlflow",
        autocommit=True,
    ) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public AUTHORIZATION mlflow")


def _s3(stack: TrainedStack) -> object:
    from pyarrow import fs

    record = _record(stack)
    creds = record["credentials"]
    return fs.S3FileSystem(
        access_key=creds["s3_access_key"],
        secret_key=creds["s3_secret_key"],
        endpoint_override=str(record["servers"]["s3"]["endpoint"]).split("://")[1],
        scheme="http",
        region="us-east-1",
    )


def _delete_model_files(stack: TrainedStack) -> None:
    from pyarrow import fs

    s3 = _s3(stack)
    infos = s3.get_file_info(fs.FileSelector("artifacts", recursive=True))  # type: ignore[attr-defined]
    files = [i.path for i in infos if i.type == fs.FileType.File]
    model_files = [p for p in files if "/models/" in p]
    assert model_files, files
    for path in model_files:
        s3.delete_file(path)  # type: ignore[attr-defined]


def _empty_online_store(stack: TrainedStack) -> None:
    import redis

    record = _record(stack)
    client = redis.Redis(
        host="127.0.0.1",
        port=record["servers"]["redis"]["ports"]["redis"],  # type: ignore[index]
        password=record["credentials"]["redis_password"],
    )
    client.flushall()
    assert client.dbsize() == 0


def _lose_openbao(stack: TrainedStack) -> None:
    pid = _record(stack)["servers"]["openbao"]["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(stack.state / "stack" / "openbao")


def _lose_environment(stack: TrainedStack) -> None:
    from mlops_cli.dr import LocalStackDeployment

    LocalStackDeployment(stack.state, stack.config_dir).destroy()


FAULTS: dict[str, Callable[[TrainedStack], None]] = {
    "registry-database": _lose_registry_database,
    "model-artifact": _delete_model_files,
    "online-store": _empty_online_store,
    "openbao": _lose_openbao,
    "environment": _lose_environment,
}


def test_every_page_has_a_planted_fault() -> None:
    assert set(FAULTS) == {p.stem for p in pages()}


# --------------------------------------------------------------------------- the pages, run
@pytest.fixture(scope="module")
def backed_up(trained_stack: TrainedStack) -> TrainedStack:
    assert trained_stack.training.returncode == 0, trained_stack.training.stdout[-2000:]
    assert trained_stack.promotion.returncode == 0, trained_stack.promotion.stderr[-2000:]
    made = trained_stack.mlops("backup", "create", "--strategy", "nightly")
    assert made.returncode == 0, made.stdout + made.stderr
    return trained_stack


@pytest.mark.parametrize("name", list(FAULTS))
def test_the_playbook_recovers_its_fault(backed_up: TrainedStack, name: str) -> None:
    stack = backed_up
    environ = stack.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    FAULTS[name](stack)
    for number, block in enumerate(blocks(PLAYBOOKS / f"{name}.md"), start=1):
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ran.returncode == 0, (
            f"{name}.md, block {number} (## {block.section}) exited {ran.returncode}:\n{block.code}\n"
            f"--- stdout\n{ran.stdout[-3000:]}\n--- stderr\n{ran.stderr[-3000:]}"
        )
