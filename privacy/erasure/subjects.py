"""Who is being erased, as the stores can test it: a :class:`SubjectMatcher`.

An erasure request names subjects by their id. Copies hold the id as it is or, when the
dataset's ``pii:`` block hashes the id column, as its keyed hash (``privacy.hash_key``): both
match. A restore matches by tombstone instead: the repository keeps only a keyed digest of each
erased id (:mod:`backup.tombstones`, keyed with the repository's key), never the id, so the
matcher digests every value it is shown and compares.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from backup.tombstones import digest
from privacy.anonymization import keyed_digest


@dataclass(frozen=True)
class SubjectMatcher:
    """Tests store values (as text) against the subjects of one erasure."""

    # Raw ids and their keyed hashes: what a copy may hold. Empty with tombstones.
    values: frozenset[str] = frozenset()
    # Tombstone digests and the key that made them (a restore's matcher).
    digests: frozenset[str] = frozenset()
    digest_key: bytes = field(default=b"", repr=False)

    @classmethod
    def for_subjects(cls, subjects: Iterable[str], hash_key: str | None) -> SubjectMatcher:
        ids = {str(s) for s in subjects}
        hashed = {keyed_digest(s, hash_key.encode()) for s in ids} if hash_key else set()
        return cls(values=frozenset(ids | hashed))

    @classmethod
    def for_tombstones(cls, digests: Collection[str], key: bytes) -> SubjectMatcher:
        return cls(digests=frozenset(digests), digest_key=key)

    @property
    def empty(self) -> bool:
        return not self.values and not self.digests

    @property
    def raw(self) -> frozenset[str]:
        """The strings to look for verbatim (in text files, by key); empty for tombstones."""
        return self.values

    def select(self, candidates: Iterable[str]) -> set[str]:
        """Those of ``candidates`` (distinct values of a store's id column) that are a subject."""
        values = candidates if isinstance(candidates, Collection) else list(candidates)
        found = {c for c in values if c in self.values}
        if self.digests:
            found |= {c for c in values if digest(c, self.digest_key) in self.digests}
        return found


__all__ = ["SubjectMatcher"]
