"""One local reference deployment (SeaweedFS, PostgreSQL, Redis, OpenBao) shared by the backup
tests, on free ports in a temporary folder; each test uses its own restic repository in it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup import BackupEnvironment, Repository, stack_environment
from tests.local_stack import ROOT, stack_folder


@dataclass
class Stack:
    state: Path
    env: BackupEnvironment

    def repository(self, name: str, key_file: Path | None = None) -> Repository:
        assert self.env.object_store is not None
        return Repository(
            f"s3:{self.env.object_store.endpoint}/backups/{name}",
            key_file or self.state / "secrets" / f"{name}.key",
            store=self.env.object_store,
            cache_dir=self.state / "backup" / "cache",
        )


@pytest.fixture(scope="session")
def backup_stack() -> Iterator[Stack]:
    with stack_folder("backup-stack-") as folder:
        config = folder / "config"
        shutil.copytree(ROOT / "config", config)
        yield Stack(folder, stack_environment(folder, config))
