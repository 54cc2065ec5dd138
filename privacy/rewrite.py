"""Changing a store's files in place, as retention and erasure both do:

- :func:`replace_file`: a new version written beside the file under a hidden name and renamed
  into place (locally), or uploaded whole (an object store makes an object visible only once
  complete) — a reader sees the old file or the new one, never half of one;
- :func:`scrubbed_sqlite`: a SQLite connection whose deletes leave nothing readable: freed
  pages are zeroed (``secure_delete``) and the write-ahead log is emptied into the file after.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The suffix of a new version while it is written (skipped by anything that walks the files).
PARTIAL_SUFFIX = ".rewriting"


def replace_file(path: str, filesystem: Any, write: Callable[[str], Any]) -> None:
    """Replace ``path`` on ``filesystem`` (pyarrow) with what ``write(target)`` writes."""
    from pyarrow import fs

    if not isinstance(filesystem, fs.LocalFileSystem):
        write(path)
        return
    # A hidden name beside the file: dataset readers skip it until the rename.
    target = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    try:
        write(str(target))
        target.replace(path)
    finally:
        target.unlink(missing_ok=True)


@contextlib.contextmanager
def scrubbed_sqlite(path: Path, timeout_s: float = 30.0) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` in one transaction (committed on success) whose deleted rows are
    zeroed in the file and flushed out of its write-ahead log."""
    with contextlib.closing(sqlite3.connect(path, timeout=timeout_s)) as conn:
        conn.execute("PRAGMA secure_delete = ON")
        with conn:
            yield conn
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = ["PARTIAL_SUFFIX", "replace_file", "scrubbed_sqlite"]
