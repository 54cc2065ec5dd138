"""Semantic model versions.

- MAJOR: the feature schema (what serving must send) changed;
- MINOR: a retrain on the same schema (new data or new parameters);
- PATCH: metadata only (same schema, same data, same parameters: the same model).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from mlops.errors import VersionError

Bump = Literal["major", "minor", "patch"]
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass(frozen=True, order=True)
class SemVer:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        m = _SEMVER.match(text.strip())
        if not m:
            raise VersionError(f"not a semantic version MAJOR.MINOR.PATCH: {text!r}")
        return cls(*(int(g) for g in m.groups()))

    def bump(self, part: Bump) -> SemVer:
        if part == "major":
            return SemVer(self.major + 1, 0, 0)
        if part == "minor":
            return SemVer(self.major, self.minor + 1, 0)
        return SemVer(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


FIRST = SemVer(1, 0, 0)


def fingerprint(payload: Any) -> str:
    """Stable short hash of a JSON-able payload (sorted keys)."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def classify_change(previous: dict[str, str] | None, *, schema_hash: str, training_fingerprint: str) -> Bump | None:
    """Which part to bump against the previous version's tags (None: this is the first)."""
    if previous is None:
        return None
    if previous.get("schema_hash") != schema_hash:
        return "major"
    if previous.get("training_fingerprint") != training_fingerprint:
        return "minor"
    return "patch"


def next_version(previous: SemVer | None, change: Bump | None) -> SemVer:
    if previous is None or change is None:
        return FIRST
    return previous.bump(change)
