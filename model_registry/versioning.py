"""Semantic model versions.

- MAJOR: the feature schema (what serving must send) changed;
- MINOR: a retrain on the same schema (new data or new parameters);
- PATCH: metadata only (same schema, same data, same parameters: the same model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

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


def assign_versions(history: Sequence[Mapping[str, str]]) -> list[tuple[SemVer, Bump | None]]:
    """The semantic version (and bump) of each registration, from every registration's tags in
    the registry's own order (oldest first).

    A registration that carries a ``semver`` tag keeps it; one without (still being registered,
    or stopped before it was tagged) gets its predecessor's version bumped by what changed
    between the two. Each entry needs ``schema_hash`` and ``training_fingerprint``. Any process
    reading the same history derives the same versions: that is what lets concurrent
    registrations allocate without a lock (see ``model_registry.registry``).
    """
    out: list[tuple[SemVer, Bump | None]] = []
    previous: SemVer | None = None
    previous_tags: Mapping[str, str] | None = None
    for tags in history:
        change = classify_change(
            dict(previous_tags) if previous_tags is not None else None,
            schema_hash=tags.get("schema_hash", ""),
            training_fingerprint=tags.get("training_fingerprint", ""),
        )
        version = SemVer.parse(tags["semver"]) if "semver" in tags else next_version(previous, change)
        out.append((version, change))
        previous, previous_tags = version, tags
    return out
