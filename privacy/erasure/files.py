"""Erasing subjects from files: parquet tables, SQLite databases and text, in a folder or
under an object-store prefix (a :class:`backup.environment.Tree`).

Files are recognised by content, not name (KFP's local artifacts have no suffix):

- **parquet** (``PAR1``): rows whose id column holds a subject are removed; the file is
  rewritten beside itself and renamed into place (locally) or overwritten in one upload (an
  object store), so a reader sees the old file or the new one, never half of one;
- **SQLite** (local files only): rows of every table with an id column are deleted in one
  transaction (SQLite's own locking orders this with a writer);
- **CSV** (a dataset source): rows whose id column holds a subject are removed;
- **text** (up to :data:`TEXT_LIMIT` bytes: reports, JSON records, logs): each subject
  string is overwritten with :data:`ERASED`. Only raw ids can be looked for here; a restore's
  tombstones (digests) cannot, so text is left to the erasure that wrote the tombstone.

Text and CSV files are UTF-8, or else any single-byte encoding (a Windows code page, latin-1: a
dataset may declare one): those are read byte for byte as latin-1 and written back so, every byte
not erased kept as it was (:func:`_text_of`). A file with NUL bytes that is not UTF-8 is binary
(UTF-16 text is not erased).

An id column is one whose name is in the erasure's id columns (each dataset's entity id and
subject id, and the names the platform's own logs use).
"""

from __future__ import annotations

import codecs
import io
import re
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup.environment import Tree
from backup.targets import tree_files, tree_fs
from mlops.delimited import HEADER_CHARS, delimiter_of
from mlops.errors import PrivacyError
from privacy.erasure.subjects import SubjectMatcher
from privacy.rewrite import PARTIAL_SUFFIX, replace_file, scrubbed_sqlite

PARQUET_MAGIC = b"PAR1"
SQLITE_MAGIC = b"SQLite format 3\x00"
TEXT_LIMIT = 20 * 1024 * 1024
ERASED = "[erased]"
# SQLite's own journal files: erased through their database (which empties them).
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# Binary formats that are never text, whatever their bytes decode to.
_BINARY_SUFFIXES = frozenset({".pkl", ".joblib", ".onnx", ".npy", ".npz", ".gz", ".zst", ".png", ".lock"})


@dataclass
class FileErasure:
    """What happened to one file."""

    path: str
    kind: str  # parquet | sqlite | text
    rows: int  # rows removed (text: occurrences overwritten)


def _head(filesystem: Any, path: str, size: int) -> bytes:
    with filesystem.open_input_file(path) as f:
        data: bytes = f.read(size)
        return data


def _parquet_ids(path: str, filesystem: Any, id_columns: Collection[str]) -> list[str]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path, filesystem=filesystem)
    return [c for c in schema.names if c in id_columns]


def erase_parquet(
    path: str, filesystem: Any, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool
) -> int:
    """Remove the subjects' rows from one parquet file; the number removed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = _parquet_ids(path, filesystem, id_columns)
    if not columns:
        return 0
    ids = pq.read_table(path, columns=columns, filesystem=filesystem)
    drop = None
    for name in columns:
        text = pc.cast(ids.column(name), pa.string())
        found = matcher.select(v for v in pc.unique(text).to_pylist() if v is not None)
        if found:
            hit = pc.fill_null(pc.is_in(text, value_set=pa.array(sorted(found), pa.string())), False)
            drop = hit if drop is None else pc.or_(drop, hit)
    if drop is None:
        return 0
    removed = int(pc.sum(drop).as_py() or 0)
    if removed and not dry_run:
        table = pq.read_table(path, filesystem=filesystem)
        kept = table.filter(pc.invert(drop))
        replace_file(path, filesystem, lambda target: pq.write_table(kept, target, filesystem=filesystem))
    return removed


def _replace_bytes(path: str, filesystem: Any, payload: bytes) -> None:
    def write(target: str) -> None:
        with filesystem.open_output_stream(target) as out:
            out.write(payload)

    replace_file(path, filesystem, write)


def erase_sqlite(path: Path, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool) -> int:
    """Delete the subjects' rows from every table of one SQLite file that has an id column."""
    try:
        with scrubbed_sqlite(path) as conn:
            removed = _erase_sqlite_rows(conn, matcher, id_columns, dry_run=dry_run)
    except sqlite3.Error as exc:
        raise PrivacyError(f"{path}: cannot erase from this SQLite file: {exc}") from None
    return removed


def _erase_sqlite_rows(
    conn: sqlite3.Connection, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool
) -> int:
    removed = 0
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        names = [r[1] for r in conn.execute(f"PRAGMA table_info({quoted})")]
        for column in (c for c in names if c in id_columns):
            col = '"' + column.replace('"', '""') + '"'
            rows = conn.execute(f"SELECT DISTINCT {col} FROM {quoted}")
            values = [str(r[0]) for r in rows if r[0] is not None]
            found = sorted(matcher.select(values))
            for start in range(0, len(found), 500):
                chunk = found[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                where = f"CAST({col} AS TEXT) IN ({marks})"
                if dry_run:
                    removed += conn.execute(f"SELECT COUNT(*) FROM {quoted} WHERE {where}", chunk).fetchone()[0]
                else:
                    removed += conn.execute(f"DELETE FROM {quoted} WHERE {where}", chunk).rowcount
    return removed


def _text_of(data: bytes) -> tuple[str, str] | None:
    """A file's text and the codec that writes it back as it was, or None for binary data.

    UTF-8 (its byte-order mark kept when it had one); else, without NUL bytes (which binary
    formats hold and single-byte text never does), latin-1: it maps each byte to one character
    and back, so a file in any single-byte encoding keeps every byte the erasure does not touch,
    and an id written in ASCII is found as written.
    """
    codec = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError:
        return None if b"\x00" in data else (data.decode("latin-1"), "latin-1")


def erase_text(path: str, filesystem: Any, matcher: SubjectMatcher, *, dry_run: bool) -> int:
    """Overwrite each raw subject string in a text file (:func:`_text_of`); the number of occurrences."""
    if not matcher.raw:
        return 0
    with filesystem.open_input_file(path) as f:
        data = f.read()
    decoded = _text_of(data)
    if decoded is None:
        return 0
    text, codec = decoded
    # Whole values only: APP-0003 is not inside APP-00030 (longest first among alternatives).
    needles = sorted(matcher.raw, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, needles)) + r")(?![\w-])")
    text, count = pattern.subn(ERASED, text)
    if count and not dry_run:
        _replace_bytes(path, filesystem, text.encode(codec))
    return count


def erase_csv(
    path: str, filesystem: Any, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool
) -> int:
    """Remove the subjects' rows from a CSV file with a header (a dataset source), written back
    as it was written: its delimiter (told from the header: a ``;`` file stays one) and its
    encoding (:func:`_text_of`: a cp1252 file stays one). Binary data is left alone."""
    import pandas as pd

    with filesystem.open_input_file(path) as f:
        data = f.read()
    decoded = _text_of(data)
    if decoded is None:
        return 0
    text, codec = decoded
    delimiter = delimiter_of(text[:HEADER_CHARS].split("\n", 1)[0])
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=delimiter)
    drop = pd.Series(False, index=frame.index)
    for column in (c for c in frame.columns if c in id_columns):
        found = matcher.select(frame[column].unique().tolist())
        drop |= frame[column].isin(found)
    removed = int(drop.sum())
    if removed and not dry_run:
        _replace_bytes(path, filesystem, frame[~drop].to_csv(index=False, sep=delimiter).encode(codec))
    return removed


def erase_file(
    path: str, filesystem: Any, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool, local: bool
) -> FileErasure | None:
    """Erase from one file by what it is (parquet, SQLite, CSV, other text); None when it held nothing."""
    name = path.rsplit("/", 1)[-1]
    if name.endswith((PARTIAL_SUFFIX, *_SQLITE_SIDE_FILES)) or Path(name).suffix.lower() in _BINARY_SUFFIXES:
        return None
    try:
        head = _head(filesystem, path, 16)
    except FileNotFoundError:
        return None  # gone since the listing (a finished run's temporary file)
    if head.startswith(PARQUET_MAGIC):
        kind, rows = "parquet", erase_parquet(path, filesystem, matcher, id_columns, dry_run=dry_run)
    elif head.startswith(SQLITE_MAGIC):
        if not local:
            return None  # a database file in a bucket is a copy, not a live store
        kind, rows = "sqlite", erase_sqlite(Path(path), matcher, id_columns, dry_run=dry_run)
    elif local and Path(path).stat().st_size > TEXT_LIMIT:
        return None
    elif name.lower().endswith(".csv"):
        kind, rows = "csv", erase_csv(path, filesystem, matcher, id_columns, dry_run=dry_run)
    else:
        kind, rows = "text", erase_text(path, filesystem, matcher, dry_run=dry_run)
    return FileErasure(path, kind, rows) if rows else None


def erase_tree(
    tree: Tree, matcher: SubjectMatcher, id_columns: Collection[str], *, dry_run: bool
) -> Iterator[FileErasure]:
    """Every file under ``tree`` that held a subject, after erasing it (or, dry, before).
    A tree whose root is a file (a dataset source) is that one file."""
    from pyarrow import fs

    filesystem = tree_fs(tree)
    root = tree.root.rstrip("/")
    if filesystem.get_file_info(root).type == fs.FileType.File:
        paths: Iterable[str] = [root]
    else:
        paths = (path for path, _ in tree_files(tree))
    for path in paths:
        hit = erase_file(path, filesystem, matcher, id_columns, dry_run=dry_run, local=tree.store is None)
        if hit is not None:
            yield hit


__all__ = [
    "ERASED",
    "FileErasure",
    "erase_csv",
    "erase_file",
    "erase_parquet",
    "erase_sqlite",
    "erase_text",
    "erase_tree",
]
