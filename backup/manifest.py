"""The manifest of one backup: ``manifest.json`` at the root of its restic snapshot.

It is written last, once every target has been dumped, with ``status: complete``; a run that
dies before that stores no snapshot at all. ``format`` is the manifest's schema version: a
restore refuses a backup whose format is newer than :data:`FORMAT`, naming both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops.errors import BackupError, RestoreRefusedError
from mlops.hashing import file_sha256

FORMAT = 1
MANIFEST = "manifest.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackupFile(_Model):
    path: str  # relative to the snapshot root: <target>/<file>
    size: int
    sha256: str


class TargetEntry(_Model):
    name: str
    status: Literal["complete", "skipped"]
    detail: str = ""
    files: list[BackupFile] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class Manifest(_Model):
    format: int = FORMAT
    backup_id: str
    environment: str
    strategy: str | None = None
    status: Literal["complete"] = "complete"
    started_at: str
    ended_at: str
    code_version: str
    tool_versions: dict[str, str]
    targets: list[TargetEntry]

    @property
    def size(self) -> int:
        return sum(t.size for t in self.targets)

    def target(self, name: str) -> TargetEntry | None:
        return next((t for t in self.targets if t.name == name), None)

    def owner_of(self, path: str) -> str:
        """The target a file of the snapshot belongs to (its first path component)."""
        return path.lstrip("/").split("/", 1)[0]


def files_of(root: Path, folder: Path) -> list[BackupFile]:
    return [
        BackupFile(path=p.relative_to(root).as_posix(), size=p.stat().st_size, sha256=file_sha256(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def parse_manifest(text: str | bytes, where: str) -> Manifest:
    """A stored manifest; a newer format is refused with the reason (this code cannot read it)."""
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise BackupError(f"{where}: manifest.json is not JSON ({exc})") from None
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if not isinstance(fmt, int):
        raise BackupError(f"{where}: manifest.json has no integer 'format'")
    if fmt > FORMAT:
        raise RestoreRefusedError(
            f"{where} was written in manifest format {fmt}; this code reads formats up to {FORMAT}: "
            "restore it with the newer platform version that made it"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        raise BackupError(f"{where}: manifest.json: {key}: {first['msg']}") from None


__all__ = ["FORMAT", "MANIFEST", "BackupFile", "Manifest", "TargetEntry", "files_of", "parse_manifest"]
