"""What every check shares: its result, the repository layout and the missing-tool error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAKE_INSTALL = "`make install` (uv sync installs the dev dependency group)"
REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_CI = "`npm ci --prefix infrastructure/validation`"


@dataclass
class CheckResult:
    """Outcome of one check: it passed when it recorded no failure."""

    name: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def details(self) -> list[str]:
        return self.failures + self.notes

    def count(self, key: str, increment: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + increment

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "passed" if self.ok else "failed",
            "duration_s": round(self.duration, 3),
            "counts": self.counts,
            "failures": self.failures,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Layout:
    """Where each input lives, relative to the repository root, and where output goes."""

    root: Path
    out: Path

    @property
    def infrastructure(self) -> Path:
        return self.root / "infrastructure"

    @property
    def helm(self) -> Path:
        return self.infrastructure / "helm"

    @property
    def argocd(self) -> Path:
        return self.infrastructure / "argocd"

    @property
    def terraform(self) -> Path:
        return self.infrastructure / "terraform"

    @property
    def policies(self) -> Path:
        return self.infrastructure / "policies"

    @property
    def validation(self) -> Path:
        return self.infrastructure / "validation"

    @property
    def crds(self) -> Path:
        return self.validation / "crds"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def workflows(self) -> Path:
        return self.root / ".github" / "workflows"

    @property
    def dockerfile(self) -> Path:
        return self.root / "Dockerfile"

    @property
    def rendered(self) -> Path:
        return self.out / "rendered"

    def rel(self, path: Path) -> str:
        """A path as the user would type it: relative to the root, or to the output folder."""
        for base in (self.root, self.out.parent):
            try:
                return path.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                continue
        return str(path)


def one_line(text: str) -> str:
    """Text (a tool's message, an exception) on one line, for a failure or a note."""
    return " ".join(text.split())
