"""The comparison store: one row per mirrored request, champion and challenger side by side.

A local SQLite file in WAL mode, so the serving process can append while ``mlops shadow
report`` reads the same file from another process without either waiting on the other.
Each call opens its own connection: the mirror's worker thread writes and the report (or a
test) reads, and a SQLite connection must not be shared across threads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ShadowPair:
    """One primary request and what the challenger made of the same features."""

    request_id: str
    ts: float
    entity_id: str | None
    segment: dict[str, str]
    champion_version: str
    challenger_version: str
    champion_score: float
    challenger_score: float | None
    champion_latency_ms: float
    challenger_latency_ms: float | None
    challenger_error: str | None


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ShadowPair))
TABLE = "shadow_pairs"
# Pairs prepared between two calls of append()'s pause.
_PIECE = 100
_SQL_TYPES = {
    "request_id": "TEXT NOT NULL",
    "ts": "REAL NOT NULL",
    "entity_id": "TEXT",
    "segment": "TEXT NOT NULL",
    "champion_version": "TEXT NOT NULL",
    "challenger_version": "TEXT NOT NULL",
    "champion_score": "REAL NOT NULL",
    "challenger_score": "REAL",
    "champion_latency_ms": "REAL NOT NULL",
    "challenger_latency_ms": "REAL",
    "challenger_error": "TEXT",
}


def comparison_store_path(state_dir: Path, model_name: str) -> Path:
    """Where ``mlops serve --shadow`` logs the pairs of ``model_name`` under the state folder."""
    return state_dir / "shadow" / f"{model_name}.sqlite"


class ComparisonStore:
    """Append-only log of :class:`ShadowPair` rows in the ``shadow_pairs`` table of a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(f"{name} {_SQL_TYPES[name]}" for name in COLUMNS)
        with self._connect() as conn:
            # WAL is a property of the file, so setting it once here holds for every later connection.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A generous busy timeout: a reader checkpointing the WAL must not fail a write.
        with closing(sqlite3.connect(self.path, timeout=30.0)) as conn, conn:
            yield conn

    def append(self, pairs: Sequence[ShadowPair], pause: Callable[[], None] | None = None) -> None:
        """Write ``pairs`` in one transaction (all or none); ``pause`` is called between pieces of
        the rows' preparation (a background writer lets request threads run meanwhile)."""
        if not pairs:
            return
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(pairs), _PIECE):
            # Attribute by attribute: dataclasses.astuple deep-copies every segment dict.
            rows.extend(
                tuple(
                    json.dumps(p.segment, sort_keys=True) if name == "segment" else getattr(p, name) for name in COLUMNS
                )
                for p in pairs[start : start + _PIECE]
            )
            if pause is not None:
                pause()
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._connect() as conn:
            conn.executemany(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows)

    def read(self, since: float | None = None) -> pd.DataFrame:
        """Every pair (or those with ``ts >= since``) in time order; ``segment`` decoded to a dict."""
        query = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
        params: tuple[float, ...] = ()
        if since is not None:
            query += " WHERE ts >= ?"
            params = (since,)
        query += " ORDER BY ts, rowid"
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        frame["segment"] = [json.loads(text) for text in frame["segment"]]
        # Nullable columns come back as object when every value is None; make them numeric.
        for name in ("challenger_score", "challenger_latency_ms", "champion_score", "champion_latency_ms", "ts"):
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
        return frame

    def count(self) -> int:
        with self._connect() as conn:
            (n,) = conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()
        return int(n)


__all__ = ["COLUMNS", "ComparisonStore", "ShadowPair", "comparison_store_path"]
