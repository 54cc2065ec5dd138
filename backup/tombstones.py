"""Erasure tombstones: what a restore must erase again.

A backup is immutable and deduplicated (restic: one repository key, chunks shared between
snapshots), so a subject's rows cannot be cut out of the backups already taken, and a key per
backup could only shred whole backups, everyone else's data with them. Instead every erasure
leaves a tombstone in the repository itself — a keyed digest of each erased id (HMAC-SHA256 with
a key derived from the repository key; never the id) — and every restore applies them: the
restored stores go through the same erasure, matching by digest. The tombstones live where the
backups live, encrypted like them, so they survive whatever the backups survive; retention
(``prune``) never touches them (it forgets by backup tag only).

Tombstone snapshots carry :data:`TOMBSTONE_TAG`; each erasure writes one with its own digests
(one restic call: erasures stay fast, and two at once cannot lose each other's), and a restore
reads the union of them all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable

from backup.repository import Repository
from mlops.errors import BackupError

TOMBSTONE_TAG = "mlops-tombstones"
TOMBSTONE_FILE = "tombstones.json"


def tombstone_key(repo: Repository) -> bytes:
    """The digest key: derived from the repository key, so only its holders can test an id."""
    try:
        secret = repo.key_file.read_bytes().strip()
    except OSError as exc:
        raise BackupError(f"the repository key file {repo.key_file} cannot be read: {exc}") from None
    return hashlib.sha256(b"mlops-tombstones\0" + secret).digest()


def digest(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def read_tombstones(repo: Repository) -> frozenset[str]:
    """Every digest of every tombstone snapshot in the repository (empty without one)."""
    found = repo.json(["snapshots", "--tag", TOMBSTONE_TAG]) or []
    digests: set[str] = set()
    for snapshot in found:
        text = repo.run(["dump", snapshot["id"], f"/{TOMBSTONE_FILE}"]).stdout
        try:
            digests.update(str(d) for d in json.loads(text)["digests"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"tombstone snapshot {snapshot['short_id']} cannot be read: {exc}") from None
    return frozenset(digests)


def add_tombstones(repo: Repository, values: Iterable[str]) -> int:
    """Record the digests of ``values`` (ids as the stores hold them) in a snapshot of their own;
    how many were written."""
    key = tombstone_key(repo)
    digests = sorted({digest(v, key) for v in values})
    if digests:
        payload = json.dumps({"format": 1, "digests": digests})
        repo.run(
            ["backup", "--stdin", "--stdin-filename", TOMBSTONE_FILE, "--tag", TOMBSTONE_TAG, "--host", repo.host],
            stdin=payload,
        )
    return len(digests)


__all__ = ["TOMBSTONE_TAG", "add_tombstones", "digest", "read_tombstones", "tombstone_key"]
