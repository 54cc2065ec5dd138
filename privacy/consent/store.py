"""The consent store: one table of consent records, on SQLite or PostgreSQL (SQLAlchemy Core).

Records are only ever added: the table is the history a privacy officer shows an auditor, and
a subject's current consent for a purpose is their latest record by time (on an exact tie,
``withdrawn`` wins: the cautious reading). An import is one transaction, so two imports at once
each land whole or not at all, and the latest record wins whichever import stored it. A record
already stored (same subject, purpose, status and time) is skipped, so re-running an import
changes nothing. Rows are inserted in key order, so two PostgreSQL imports that share records
wait for each other instead of deadlocking.

Where: ``privacy.consent.url`` (PostgreSQL on the local stack and the clusters, its password
a secret reference), else SQLite at ``<state folder>/privacy/consent.db``. The code path is the
same; only the "skip what is stored" clause is spelt per dialect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mlops.errors import PrivacyError
from privacy.config import ConsentConfig
from privacy.consent.records import ConsentRecord, ConsentStatus

# A writer waits this long for another import's transaction (SQLite's lock) before failing.
SQLITE_BUSY_TIMEOUT_S = 60
# Rows per INSERT statement (SQLAlchemy batches an executemany into multi-row statements).
INSERT_BATCH = 5000

metadata = MetaData()
consent_records = Table(
    "consent_records",
    metadata,
    # SQLite gives autoincrement ids to an INTEGER primary key only.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("subject_id", String(256), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    # Stored in UTC (SQLite keeps no zone: every value written here is UTC).
    Column("time", DateTime(timezone=True), nullable=False),
    Column("source", String(200), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('granted', 'withdrawn')", name="consent_status_known"),
    UniqueConstraint("subject_id", "purpose", "time", "status", name="consent_record_once"),
    Index("consent_by_purpose", "purpose", "subject_id", "time"),
)


def store_url(config: ConsentConfig, state_dir: Path) -> str:
    """The configured URL (without password), else the SQLite file under the state folder."""
    if config.url:
        return config.url
    return f"sqlite:///{(state_dir / 'privacy' / 'consent.db').resolve()}"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive values: they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class ImportResult:
    read: int
    added: int

    @property
    def already_stored(self) -> int:
        return self.read - self.added


@dataclass(frozen=True)
class Summary:
    """Subjects per (purpose, status) by their latest record, and the size of the history."""

    counts: dict[tuple[str, str], int]
    subjects: int
    records: int


class ConsentStore:
    """Consent records in one database (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.where = _without_password(engine.url)
        self._ensure_table()

    @classmethod
    def open(cls, config: ConsentConfig, state_dir: Path, resolve: Callable[[str], str]) -> ConsentStore:
        """The store ``config`` names; its password (a secret reference) read through ``resolve``."""
        url = make_url(store_url(config, state_dir))
        if url.get_backend_name() == "sqlite":
            assert url.database is not None
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            if config.password:
                url = url.set(password=resolve(config.password))
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        return cls(engine)

    def _ensure_table(self) -> None:
        try:
            with self.engine.connect():
                pass
        except SQLAlchemyError as exc:
            raise PrivacyError(f"consent store {self.where}: cannot be reached ({_reason(exc)})") from None
        try:
            metadata.create_all(self.engine)
        except DBAPIError as exc:
            # Two processes creating the table at once: the loser finds it made by the other.
            try:
                metadata.create_all(self.engine)
            except SQLAlchemyError:
                raise PrivacyError(f"consent store {self.where}: cannot create its table ({_reason(exc)})") from None

    def _insert(self) -> Any:
        """INSERT that skips records already stored (spelt per dialect)."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(consent_records).on_conflict_do_nothing(constraint="consent_record_once")
        if dialect == "sqlite":
            return sqlite.insert(consent_records).on_conflict_do_nothing()
        raise PrivacyError(f"consent store {self.where}: SQLite or PostgreSQL expected, got {dialect}")

    def add(self, records: Sequence[ConsentRecord]) -> ImportResult:
        """Store ``records`` in one transaction (all or nothing)."""
        imported_at = datetime.now(UTC)
        rows = [
            {
                "subject_id": r.subject_id,
                "purpose": r.purpose,
                "status": r.status,
                "time": r.time.astimezone(UTC),
                "source": r.source,
                "imported_at": imported_at,
            }
            for r in sorted(records, key=lambda r: (r.subject_id, r.purpose, r.time, r.status))
        ]
        statement = self._insert().returning(consent_records.c.id)
        added = 0
        try:
            with self.engine.begin() as conn:
                for start in range(0, len(rows), INSERT_BATCH):
                    added += len(conn.execute(statement, rows[start : start + INSERT_BATCH]).all())
        except SQLAlchemyError as exc:
            raise PrivacyError(f"consent store {self.where}: import failed, nothing stored ({_reason(exc)})") from None
        return ImportResult(read=len(rows), added=added)

    def _latest(self, purpose: str | None = None, subject: str | None = None, *, brief: bool = False) -> Any:
        """Each (subject, purpose)'s latest record (``brief``: subject, purpose and status only)."""
        t = consent_records
        withdrawn_first = case((t.c.status == "withdrawn", 1), else_=0).desc()
        rank = func.row_number().over(
            partition_by=(t.c.subject_id, t.c.purpose), order_by=(t.c.time.desc(), withdrawn_first, t.c.id.desc())
        )
        query = select(t.c.subject_id, t.c.purpose, t.c.status, t.c.time, t.c.source, rank.label("rank"))
        if purpose is not None:
            query = query.where(t.c.purpose == purpose)
        if subject is not None:
            query = query.where(t.c.subject_id == subject)
        ranked = query.subquery()
        columns = [ranked.c.subject_id, ranked.c.purpose, ranked.c.status]
        if not brief:
            columns += [ranked.c.time, ranked.c.source]
        return select(*columns).where(ranked.c.rank == 1)

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise PrivacyError(f"consent store {self.where}: cannot be read ({_reason(exc)})") from None

    def statuses(self, purpose: str) -> dict[str, ConsentStatus]:
        """Each subject's current status for ``purpose`` (one query)."""
        # Brief: turning 50k stored times back into datetimes would cost more than the query.
        return {row.subject_id: row.status for row in self._rows(self._latest(purpose, brief=True))}

    def current(self, subject: str) -> list[ConsentRecord]:
        """The subject's latest record per purpose."""
        rows = self._rows(self._latest(subject=subject).order_by("purpose"))
        return [_record(row) for row in rows]

    def history(self, subject: str) -> list[ConsentRecord]:
        """Every record of the subject, oldest first."""
        t = consent_records
        query = select(t.c.subject_id, t.c.purpose, t.c.status, t.c.time, t.c.source)
        rows = self._rows(query.where(t.c.subject_id == subject).order_by(t.c.time, t.c.status, t.c.id))
        return [_record(row) for row in rows]

    def subjects(self) -> set[str]:
        """Every subject with a record (to match erasure tombstones, which hold digests only)."""
        return {row.subject_id for row in self._rows(select(consent_records.c.subject_id).distinct())}

    def fingerprint(self) -> dict[str, Any]:
        """How many records and subjects, and a sha256 of every record in a fixed order: what a
        restore must give back (``mlops dr``), without a subject id in it."""
        t = consent_records
        columns = (t.c.subject_id, t.c.purpose, t.c.status, t.c.time, t.c.source)
        digest = hashlib.sha256()
        records = 0
        for row in self._rows(select(*columns).order_by(*columns, t.c.id)):
            record = _record(row)
            fields = [record.subject_id, record.purpose, record.status, record.time.isoformat(), record.source]
            digest.update(json.dumps(fields).encode() + b"\n")
            records += 1
        return {"records": records, "subjects": self.summary().subjects, "sha256": digest.hexdigest()}

    def summary(self) -> Summary:
        latest = self._latest(brief=True).subquery()
        counts = self._rows(
            select(latest.c.purpose, latest.c.status, func.count()).group_by(latest.c.purpose, latest.c.status)
        )
        t = consent_records
        subjects, records = self._rows(select(func.count(func.distinct(t.c.subject_id)), func.count()))[0]
        return Summary(
            counts={(purpose, status): int(n) for purpose, status, n in counts},
            subjects=int(subjects),
            records=int(records),
        )

    def erase(self, subjects: Iterable[str]) -> int:
        """Delete every record of ``subjects`` (an erasure request); the number of records removed."""
        ids = sorted(set(subjects))
        removed = 0
        try:
            with self.engine.begin() as conn:
                for start in range(0, len(ids), INSERT_BATCH):
                    chunk = ids[start : start + INSERT_BATCH]
                    removed += conn.execute(
                        delete(consent_records).where(consent_records.c.subject_id.in_(chunk))
                    ).rowcount
            if removed and self.engine.url.get_backend_name() == "sqlite":
                with self.engine.connect() as conn:  # and none left in the write-ahead log
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except SQLAlchemyError as exc:
            raise PrivacyError(
                f"consent store {self.where}: erasure failed, nothing removed ({_reason(exc)})"
            ) from None
        return removed

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ConsentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's message, first line only: SQLAlchemy's own text quotes the statement's
    parameters, which hold subject ids."""
    text = str(exc.orig) if isinstance(exc, DBAPIError) else type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def _without_password(url: URL) -> str:
    """The URL to show (CLI, lineage): ``URL.set(password=None)`` would keep the password."""
    shown = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    return shown.render_as_string(hide_password=False)


def _record(row: Any) -> ConsentRecord:
    return ConsentRecord(row.subject_id, row.purpose, cast(ConsentStatus, row.status), _utc(row.time), row.source)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: training reads the store while an import writes it, without waiting for each other.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    # An erased subject's records are zeroed in the file, not left in its free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


__all__ = ["ConsentStore", "ImportResult", "Summary", "consent_records", "store_url"]
