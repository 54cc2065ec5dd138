"""The prediction log: what was scored, sampled off the hot path into partitioned parquet.

    record() ── sampling (hash of the request id) ──▶ bounded buffer ──▶ writer thread
      (no I/O, no conversion; full → drop++)          (rows, by count)     converts every few hundred
                                                                           rows (or half a second) to
                                                                           Arrow; writes every
                                                                           flush_rows rows or
                                                                           flush_interval_s seconds
    <root>/model=<name>/date=YYYY-MM-DD/hour=HH/part-<uuid>.parquet  (UTC; one file per partition
                                                                      and flush)

The request thread only decides sampling and appends a reference to what it scored; the writer
thread drops the excluded columns, converts to Arrow and writes. It converts as rows arrive, a
few hundred at a time, not all of a flush at once: the conversion is Python work that holds the
interpreter lock, and ten thousand rows converted in one go made the requests of the next
second wait behind it (and the garbage collector walk ten thousand held records at every
pass). A failed write (disk full, permission, object store down) is counted and logged, and its
rows stay buffered (converted) for the next attempt: they keep counting against
``max_buffer_rows``, so while the log cannot be written new rows are dropped (and counted)
rather than held without bound.

Files are written through pyarrow's filesystem layer, so the root may be a local folder (the
default, ``<state>/predictions``) or an object-store URI such as ``s3://bucket/predictions``.
Locally a file is written under a hidden temporary name and renamed into place; an object
store makes an upload visible only once it is complete. Either way a reader never sees half a
file (dataset discovery skips names starting with ``.`` or ``_``).

Column names of a logged row: the feature columns (minus the excluded ones and, with an
allow-list, minus those not in it), the entity column when entity ids are given, and
:data:`LOG_COLUMNS`. A feature that has the name of one of those is logged as
``feature:<name>`` (:func:`logged_name`): the log's own columns keep theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from pydantic import Field, model_validator

from mlops.background import Pacer, lower_thread_priority
from mlops.config import StrictModel
from mlops.errors import MonitoringError, NoPredictionsError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs as pafs

log = logging.getLogger(__name__)

# The columns the logger writes beside the features (in this order).
MODEL_COLUMN = "model"
VERSION_COLUMN = "model_version"
VARIANT_COLUMN = "variant"
REQUEST_ID_COLUMN = "request_id"
TIME_COLUMN = "scored_at"
SCORE_COLUMN = "score"
LOG_COLUMNS: tuple[str, ...] = (
    TIME_COLUMN,
    MODEL_COLUMN,
    VERSION_COLUMN,
    VARIANT_COLUMN,
    REQUEST_ID_COLUMN,
    SCORE_COLUMN,
)
# A feature with the name of one of the log's own columns (a credit "score") is logged under
# this prefix: the log's own column keeps its name, and the drift checks read the feature back
# under its own (mlops monitor drift).
FEATURE_PREFIX = "feature:"
# The entity column's name when the caller does not give the dataset's (serving's request field).
DEFAULT_ENTITY_COLUMN = "entity_id"
# Filesystems whose uploads appear whole on completion (pyarrow's and fsspec's names for them).
_OBJECT_STORES = frozenset({"s3", "s3a", "gcs", "gs", "abfs", "az"})
# Model names become folder names: nothing that could climb out of the root or split a path.
_MODEL_NAME_FORBIDDEN = ("/", "\\", "\x00")
# The writer converts in Python (holding the interpreter lock) for at most this long before it
# pauses for _PAUSE_S so that the serving threads waiting for the lock get it: without pauses
# they wait up to the switch interval (5 ms) at every hand-over, many times during one flush.
# The pause is four times the hold: converting takes at most a fifth of the core (~1-2 ms of CPU
# per _CONVERT_ROWS rows), so no conversion starves the requests (measured at 1,200 req/s when
# a whole flush was converted at once: p95 8-14 ms during such bursts, 0.8-1.5 ms with this
# pace). That pace converts 10,000-20,000 rows a second: when more than half the buffer waits
# behind the writer, it catches up with short pauses (_CATCH_UP_PAUSE_S) rather than let the
# buffer fill and drop rows.
_HOLD_S = 0.0005
_PAUSE_S = 0.002
_CATCH_UP_PAUSE_S = 0.00005
# The writer thread's niceness above the process's: compressing and writing a file runs without
# the interpreter lock, and on a busy core the kernel then lets the request threads go first.
_WRITER_NICENESS = 10
# Rows of dict records taken per column in one piece between two checks of the time held.
_PIECE_ROWS = 128
# The writer converts what waits once this many rows do, or this long after its last conversion:
# a few milliseconds of work each time, however high the rate.
_CONVERT_ROWS = 256
_CONVERT_INTERVAL_S = 0.5
# Values converted to Arrow in one call (a fraction of a millisecond).
_ARROW_PIECE = 2048
# Values of a dict row that the writer converts as given: as pandas would give them back. Any
# other type (numpy scalars, datetimes, …) is converted by pandas, as a frame record's would be.
_PLAIN_TYPES = frozenset({int, float, str, bool, type(None)})
# A numeric column mixing ints with floats or None (pandas makes it float64: ints become floats).
_NUMERIC_TYPES = frozenset({int, float, type(None)})
_INT64 = (-(2**63), 2**63 - 1)


class PredictionLogConfig(StrictModel):
    """The prediction log of serving and batch scoring (``prediction_log:`` in the platform config)."""

    enabled: bool = True
    # Share of requests logged, decided per request id: a request's rows are all in or all out.
    sample_rate: float = Field(default=1.0, ge=0, le=1)
    # Rows held in memory, waiting or being written. Beyond it, new rows are dropped and counted.
    max_buffer_rows: int = Field(default=100_000, ge=1)
    # The writer writes as soon as this many rows wait, or every flush_interval_s seconds.
    flush_rows: int = Field(default=10_000, ge=1)
    # Each flush writes one file per model and hour, so this also sets how many files an hour holds.
    flush_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # How long close() may take to write what is buffered (at shutdown).
    close_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Where the log goes: a folder or an object-store URI (s3://bucket/prefix). None: <state>/predictions.
    root: str | None = Field(default=None, min_length=1)
    # Feature columns to log (an allow-list). None: every column but the excluded (PII) ones.
    columns: list[str] | None = None

    @model_validator(mode="after")
    def _flush_before_full(self) -> PredictionLogConfig:
        if self.flush_rows > self.max_buffer_rows:
            raise ValueError(
                f"flush_rows ({self.flush_rows}) must not exceed max_buffer_rows ({self.max_buffer_rows}): "
                "the buffer would fill before a write starts"
            )
        return self


def predictions_root(config: PredictionLogConfig, state_dir: Path) -> str:
    """Where the log is: ``config.root``, or ``<state>/predictions`` (absolute)."""
    return config.root if config.root is not None else str((state_dir / "predictions").resolve())


def resolve_filesystem(root: str | Path, filesystem: pafs.FileSystem | None = None) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path inside it)`` for a folder or a URI (``s3://…``, ``file://…``)."""
    import pyarrow.fs as pafs

    text = str(root)
    if filesystem is not None:
        return filesystem, text.rstrip("/")
    if "://" in text:
        fs, path = pafs.FileSystem.from_uri(text)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), str(Path(text).resolve())


def _is_object_store(fs: pafs.FileSystem) -> bool:
    """Whether ``fs`` is an object store (where a rename is a copy, and an upload is atomic anyway)."""
    # type_name is "s3", "gcs", … or, for fsspec through pyarrow, "py::fsspec+s3".
    kind = fs.type_name.rsplit("+", 1)[-1].rsplit("::", 1)[-1]
    return kind in _OBJECT_STORES


def write_parquet_atomically(table: pa.Table, fs: pafs.FileSystem, folder: str, name: str) -> str:
    """Write ``table`` as ``<folder>/<name>`` so that no reader ever sees a partial file; the path."""
    import pyarrow.parquet as pq

    fs.create_dir(folder, recursive=True)
    final = f"{folder}/{name}"
    if not _is_object_store(fs):
        # Hidden while written (discovery skips dot files); rename is atomic within a folder.
        temp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            pq.write_table(table, temp, filesystem=fs, compression="zstd")
            fs.move(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):  # never created, or already gone
                fs.delete_file(temp)
            raise
    else:
        # An object store publishes an upload only when it completes: a direct write is atomic.
        pq.write_table(table, final, filesystem=fs, compression="zstd")
    return final


def _partition(model: str, ts: float) -> tuple[str, str, str]:
    when = datetime.fromtimestamp(ts, UTC)
    return model, when.strftime("%Y-%m-%d"), when.strftime("%H")


def check_model_name(model: str) -> None:
    if not model or model in (".", "..") or any(c in model for c in _MODEL_NAME_FORBIDDEN):
        raise ValueError(f"model name {model!r} cannot name a folder of the prediction log")


class _Record(NamedTuple):
    """One record() call, as given: converted by the writer, never on the request thread (a
    tuple: built on every request, in a fraction of a frozen dataclass's time)."""

    # A frame, or the rows as {column: value} dicts (the online app's): converted by the writer.
    features: pd.DataFrame | Sequence[Mapping[str, Any]]
    scores: np.ndarray
    model: str
    versions: str | Sequence[str]
    variants: str | Sequence[str | None] | None
    request_ids: str | Sequence[str]
    entity_ids: Sequence[str | int | None] | None
    ts: float
    # Positions of the sampled rows when only some were (per-row request ids); None: every row.
    rows: list[int] | None
    n: int


class PredictionLogger:
    """Logs scored rows to ``root`` (see the module docstring); one per process, shared by threads.

    ``exclude_columns``: names never written (the dataset's PII columns; matched ignoring case).
    ``entity_column``: the name the entity ids passed to :meth:`record` are logged under (the
    dataset's entity column, so labels join on it). ``filesystem``: a pyarrow filesystem to
    write through instead of the one ``root`` names (e.g. an S3 filesystem with explicit
    credentials). Counters (``rows_recorded`` (buffered), ``rows_written``, ``rows_dropped``,
    ``rows_sampled_out``, ``write_errors``, ``files_written``) and the ``buffered_rows`` gauge are
    plain attributes, read by serving for its metrics.

    A row is in exactly one of: sampled out, dropped (buffer full, logger closed, or not
    writable), buffered, written.

    """

    def __init__(
        self,
        root: str | Path,
        config: PredictionLogConfig | None = None,
        *,
        exclude_columns: Collection[str] = (),
        entity_column: str = DEFAULT_ENTITY_COLUMN,
        filesystem: pafs.FileSystem | None = None,
    ) -> None:
        self.config = config or PredictionLogConfig()
        self.root = str(root)
        self.entity_column = entity_column
        self._excluded = {c.casefold() for c in exclude_columns}
        clash = [c for c in (*LOG_COLUMNS, entity_column) if c.casefold() in self._excluded]
        if clash:
            raise ValueError(f"excluded columns {clash} are columns the prediction log itself writes")
        self._allowed = None if self.config.columns is None else set(self.config.columns)
        # Sampling compares a 64-bit hash of the request id with this bound.
        self._sample_bound = int(self.config.sample_rate * 2**64)
        # Resolved by the writer on its first write: an object store's client is never built,
        # and never fails, on the request path or at start-up.
        self._fs: pafs.FileSystem | None = filesystem
        self._base: str | None = None
        self._models: set[str] = set()
        self._warned: set[str] = set()
        self._pacer = Pacer(_HOLD_S, _PAUSE_S)  # the writer's (see _breathe)

        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._pending: list[_Record] = []
        self._pending_rows = 0
        # Taken by the writer and not yet written: being converted, or converted (_converted).
        self._inflight_rows = 0
        self._convert_rows = min(_CONVERT_ROWS, self.config.flush_rows)
        # The writer's own: converted rows by partition, in the order they were recorded.
        self._converted: dict[tuple[str, str, str], list[pa.Table]] = {}
        self._unconvertible = False  # some rows were dropped since the last write
        self._closing = False
        self._flush_asked = 0
        self._cycles_started = 0
        self._cycles_done = 0
        self._last_ok = True

        self.rows_recorded = 0
        self.rows_written = 0
        self.rows_dropped = 0
        self.rows_sampled_out = 0
        self.write_errors = 0
        self.files_written = 0

        self._writer: threading.Thread | None = None
        if self.config.enabled:
            # The writer's libraries load now, at start-up, not in the middle of serving
            # (importing them on the first flush stalled requests for ~0.2 s).
            import pandas  # noqa: F401
            import pyarrow.fs
            import pyarrow.parquet  # noqa: F401

            self._writer = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            self._writer.start()

    # ------------------------------------------------------------------ request side
    @property
    def buffered_rows(self) -> int:
        """Rows held in memory: waiting, or being written (at most ``max_buffer_rows``)."""
        return self._pending_rows + self._inflight_rows

    def sampled(self, request_id: str) -> bool:
        """Whether rows of ``request_id`` are logged: the same answer for the same id, in every process."""
        if self._sample_bound >= 2**64:
            return True
        if self._sample_bound <= 0:
            return False
        digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self._sample_bound

    def record(
        self,
        features: pd.DataFrame | Sequence[Mapping[str, Any]],
        scores: Sequence[float] | np.ndarray,
        *,
        model: str,
        version: str | Sequence[str],
        request_ids: str | Sequence[str],
        variant: str | Sequence[str | None] | None = None,
        entity_ids: Sequence[str | int | None] | None = None,
        ts: float | datetime | None = None,
    ) -> int:
        """Buffer what was scored; the number of rows buffered (0: sampled out, dropped, disabled).

        ``features``: the rows as the model read them (after the online-feature merge), one per
        score: a frame, or ``{column: value}`` dicts with the same columns (the writer frames
        them). ``version``, ``variant``, ``request_ids`` and ``entity_ids`` are one value for
        every row or one per row. ``ts``: when the rows were scored (epoch seconds or a datetime,
        naive meaning UTC; default: now). Never blocks and never writes; nothing is copied, so
        ``features`` must not be changed afterwards. Raises ValueError when the lengths disagree
        or the model name cannot name a folder: a caller's bug, checked on every call (sampled
        out or not) so that it shows at once, not on the calls that happen to be kept.
        """
        if self._writer is None:
            return 0
        import numpy as np

        n = len(features)
        scores = np.asarray(scores)
        for name, value in (
            ("scores", scores),
            ("version", version),
            ("variant", variant),
            ("request_ids", request_ids),
            ("entity_ids", entity_ids),
        ):
            if value is not None and not isinstance(value, str) and len(value) != n:
                raise ValueError(f"record(): {len(value)} {name} for {n} feature rows")
        if model not in self._models:
            check_model_name(model)
            self._models.add(model)

        rows: list[int] | None = None
        if isinstance(request_ids, str):
            if not self.sampled(request_ids):
                self._count_sampled_out(n)
                return 0
        elif self._sample_bound < 2**64:
            rows = [i for i, rid in enumerate(request_ids) if self.sampled(rid)]
            if len(rows) < n:
                self._count_sampled_out(n - len(rows))
            if not rows:
                return 0
            if len(rows) == n:
                rows = None
        kept = n if rows is None else len(rows)
        when = _utc(ts).timestamp() if isinstance(ts, datetime) else time.time() if ts is None else float(ts)
        if not math.isfinite(when):
            raise ValueError(f"record(): ts {ts!r} is not a time")
        item = _Record(features, scores, model, version, variant, request_ids, entity_ids, when, rows, kept)
        with self._lock:
            if self._closing or self.buffered_rows + kept > self.config.max_buffer_rows:
                self.rows_dropped += kept
                return 0
            self._pending.append(item)
            self._pending_rows += kept
            self.rows_recorded += kept
            if self._pending_rows >= self._convert_rows:
                self._wakeup.notify()
        return kept

    def _count_sampled_out(self, n: int) -> None:
        with self._lock:
            self.rows_sampled_out += n

    def stats(self) -> dict[str, int]:
        """The counters, read together."""
        with self._lock:
            return {
                "rows_recorded": self.rows_recorded,
                "rows_written": self.rows_written,
                "rows_dropped": self.rows_dropped,
                "rows_sampled_out": self.rows_sampled_out,
                "write_errors": self.write_errors,
                "files_written": self.files_written,
                "buffered_rows": self.buffered_rows,
            }

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout: float | None = None) -> bool:
        """Ask the writer to write now and wait for it (at most ``timeout`` s); True when that write
        succeeded (a failed one keeps its rows buffered for the next attempt)."""
        if self._writer is None:
            return True
        with self._wakeup:
            target = self._cycles_started + 1
            self._flush_asked += 1
            self._wakeup.notify_all()
            self._wakeup.wait_for(lambda: self._cycles_done >= target or self._closed(), timeout)
            if self._cycles_done >= target:
                return self._last_ok
            return self._closed() and self.buffered_rows == 0

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting rows, write what is buffered (one attempt, at most ``timeout`` s, default
        ``close_timeout_s``), stop the writer. True when everything was written; rows that could
        not be are counted as dropped. Calling it again is harmless."""
        if self._writer is None:
            return True
        with self._wakeup:
            self._closing = True
            self._wakeup.notify_all()
        self._writer.join(self.config.close_timeout_s if timeout is None else timeout)
        finished = not self._writer.is_alive()
        if not finished:
            log.error("prediction log: %d rows still being written when close() gave up", self.buffered_rows)
        return finished and self._last_ok

    def _closed(self) -> bool:
        return self._writer is not None and not self._writer.is_alive()

    # ------------------------------------------------------------------ writer side
    def _run(self) -> None:
        lower_thread_priority(_WRITER_NICENESS)
        interval = self.config.flush_interval_s
        handled_flushes = 0
        backing_off = False
        next_write = time.monotonic() + interval
        next_convert = time.monotonic() + _CONVERT_INTERVAL_S
        while True:
            waited = False
            with self._wakeup:
                while True:
                    now = time.monotonic()
                    write = (
                        self._closing
                        or self._flush_asked > handled_flushes
                        or now >= next_write
                        or (not backing_off and self.buffered_rows >= self.config.flush_rows)
                    )
                    waiting = self._pending_rows
                    if write or waiting >= self._convert_rows or (waiting and now >= next_convert):
                        break
                    if now >= next_convert:  # nothing waited: look again in an interval
                        next_convert = now + _CONVERT_INTERVAL_S
                    self._wakeup.wait(max(min(next_write, next_convert) - now, 0.0))
                    waited = True
                closing = self._closing
                if write:
                    handled_flushes = self._flush_asked
                    self._cycles_started += 1
                # A write takes everything recorded so far; a conversion a few hundred records,
                # also when the writer is behind (the next ones follow at once).
                take = len(self._pending) if write else self._convert_rows
                items = self._pending[:take]
                del self._pending[:take]
                taken = sum(item.n for item in items) if self._pending else self._pending_rows
                self._pending_rows -= taken
                self._inflight_rows += taken
            if waited:
                self._pacer.start()  # a new stretch of work: the hold counts from now
            ok = True
            try:
                self._convert(items)
                if write:
                    ok = self._write(final=closing)
            except Exception:
                # Whatever went wrong, the writer must live on (and the rows in hand must not
                # count against the bound for ever): they are dropped, and counted.
                self._converted.clear()
                with self._lock:
                    log.exception("prediction log: writer failed; %d rows dropped", self._inflight_rows)
                    self.rows_dropped += self._inflight_rows
                    self._inflight_rows = 0
                    self.write_errors += 1
                ok = False
            # Freed here in pieces, not all at once when `items` is next rebound (under the lock
            # record() takes): thousands of records are tens of thousands of objects.
            self._release(items)
            next_convert = time.monotonic() + _CONVERT_INTERVAL_S
            if not write:
                continue
            # After a failure, wait a whole interval before the next attempt (unless asked):
            # a full buffer would otherwise retry a broken disk in a tight loop.
            backing_off = not ok
            next_write = time.monotonic() + interval
            with self._wakeup:
                self._cycles_done += 1
                self._last_ok = ok
                self._wakeup.notify_all()
            if closing:
                return

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self._fs is None or self._base is None:
            self._fs, self._base = resolve_filesystem(self.root, self._fs)
        return self._fs, self._base

    def _convert(self, items: list[_Record]) -> None:
        """Convert ``items`` into Arrow tables, kept by partition (model, date, hour) until written;
        records that cannot be converted are dropped (and counted)."""
        if not items:
            return
        groups: dict[tuple[str, str, str], list[_Record]] = {}
        hours: dict[tuple[str, int], tuple[str, str, str]] = {}
        for i, item in enumerate(items):
            slot = _hour(item.ts)
            key = None if slot is None else hours.get((item.model, slot))
            if key is None:
                key = _partition(item.model, item.ts)
                if slot is not None:
                    hours[(item.model, slot)] = key
            groups.setdefault(key, []).append(item)
            if i % _PIECE_ROWS == 0:
                self._breathe()
        for key, group in groups.items():
            tables, convertible = self._tables(key[0], group)
            self._unconvertible = self._unconvertible or len(convertible) < len(group)
            if tables:
                self._converted.setdefault(key, []).extend(tables)

    def _write(self, *, final: bool) -> bool:
        """Write what is converted, one file per (model, date, hour); False when some rows could
        not be written or converted since the last write.

        The rows of a failed file stay converted for the next write (or, at close, count as dropped).
        """
        ok = not self._unconvertible
        self._unconvertible = False
        for key in list(self._converted):
            model, date, hour = key
            held = self._converted[key]
            rows = sum(table.num_rows for table in held)
            try:
                table = _concat(held)
            except Exception:
                # Tables that no cast can join (no later attempt could change them): dropped.
                log.exception("prediction log: %d rows of %s cannot be joined in one file; dropped", rows, model)
                del self._converted[key]
                self._settle(rows, written=False, errors=1)
                ok = False
                continue
            self._breathe()
            try:
                fs, base = self._filesystem()
                folder = f"{base}/model={model}/date={date}/hour={hour}"
                write_parquet_atomically(table, fs, folder, f"part-{uuid.uuid4().hex}.parquet")
            except Exception as exc:
                ok = False
                if final:
                    log.error("prediction log: %d rows of %s lost at close: %s", rows, model, exc)
                    del self._converted[key]
                    self._settle(rows, written=False, errors=1)
                else:
                    log.warning("prediction log: cannot write %d rows of %s (kept for a retry): %s", rows, model, exc)
                    # Joined once, kept joined: the retry does not join them again.
                    self._converted[key] = [table]
                    self._settle(0, written=False, errors=1)
                continue
            del self._converted[key]
            self._settle(rows, written=True, errors=0)
        return ok

    def _settle(self, rows: int, *, written: bool, errors: int) -> None:
        with self._lock:
            self._inflight_rows -= rows
            if written:
                self.rows_written += rows
                self.files_written += 1
            else:
                self.rows_dropped += rows
            self.write_errors += errors

    def _release(self, items: list[_Record]) -> None:
        """Drop the writer's references to ``items`` a piece at a time, pausing between pieces."""
        while items:
            del items[-_PIECE_ROWS:]
            self._breathe()

    def _breathe(self) -> None:
        """Pause (releasing the interpreter lock) when the writer has held it for ``_HOLD_S``.

        A short sleep rather than ``sleep(0)``: the lock stays free long enough for a waiting
        thread to wake up and take it, wherever ``sleep(0)`` returns at once.
        """
        behind = self._pending_rows > self.config.max_buffer_rows // 2  # read without the lock: a hint
        self._pacer.breathe(_CATCH_UP_PAUSE_S if behind else None)

    def _tables(self, model: str, group: list[_Record]) -> tuple[list[pa.Table], list[_Record]]:
        """Arrow tables for ``group`` and the records they hold; records that cannot be converted
        are dropped (and counted): no later attempt could change them."""
        # Records with the same columns are converted together: one pandas-to-Arrow conversion
        # costs ~0.1-1 ms whatever its size, which would cap one-row records at a few thousand a second.
        batches: dict[tuple[Any, ...], list[_Record]] = {}
        for i, item in enumerate(group):
            batches.setdefault((_columns(item.features), item.entity_ids is not None), []).append(item)
            if i % _PIECE_ROWS == 0:
                self._breathe()
        tables: list[pa.Table] = []
        converted: list[_Record] = []
        for batch in batches.values():
            try:
                tables.append(self._table(batch))
                converted.extend(batch)
                continue
            except Exception:
                if len(batch) == 1:
                    log.exception("prediction log: %d rows of %s cannot be converted; dropped", batch[0].n, model)
                    self._settle(batch[0].n, written=False, errors=1)
                    continue
            for item in batch:  # one at a time, to lose only the records at fault
                try:
                    tables.append(self._table([item]))
                    converted.append(item)
                except Exception:
                    log.exception("prediction log: %d rows of %s cannot be converted; dropped", item.n, model)
                    self._settle(item.n, written=False, errors=1)
        return tables, converted

    def _table(self, items: list[_Record]) -> pa.Table:
        """Records with the same columns as one Arrow table: excluded columns gone, the log's own added.

        Each value is written as pandas framing its record would give it back (a frame record is
        framed as it is; dict rows are read column by column, no frame per record), then each
        column is one Arrow conversion for every record. The work is done in small pieces with
        pauses between them (:meth:`_breathe`): serving threads wait for the interpreter lock.
        """
        import numpy as np
        import pyarrow as pa

        labels = _columns(items[0].features)
        with_ids = items[0].entity_ids is not None
        keep: list[int] = []
        names = {str(label) for label in labels}
        for position, label in enumerate(labels):
            name = str(label)
            if name.casefold() in self._excluded or (self._allowed is not None and name not in self._allowed):
                continue
            if with_ids and name == self.entity_column:
                continue  # the entity ids given win over a column of that name
            if name in LOG_COLUMNS and logged_name(name) in names:  # "feature:score" beside "score"
                self._warn_once(name)
                continue
            keep.append(position)
        parts = self._parts(items)
        features: dict[str, pa.Array] = {}
        for position in keep:
            values = np.fromiter(self._column(parts, labels[position], position), dtype=object)
            self._breathe()
            features[logged_name(str(labels[position]))] = _arrow_column(values, self._breathe)
            self._breathe()

        pieces = [items[start : start + _PIECE_ROWS] for start in range(0, len(items), _PIECE_ROWS)]

        def per_row(field: str) -> list[Any]:
            get = attrgetter(field)
            values: list[Any] = []
            for piece in pieces:
                for item in piece:
                    value = get(item)
                    if value is None or isinstance(value, str):
                        values.extend(repeat(value, item.n))
                    elif item.rows is None:
                        values.extend(value)
                    else:
                        values.extend([value[i] for i in item.rows])
                self._breathe()
            return values

        scored: list[np.ndarray] = []
        stamps: list[int] = []
        counts: list[int] = []
        for piece in pieces:
            scored.append(np.concatenate([i.scores if i.rows is None else i.scores[i.rows] for i in piece]))
            stamps.extend([round(item.ts * 1_000_000) for item in piece])
            counts.extend([item.n for item in piece])
            self._breathe()
        scores = np.concatenate(scored) if scored else np.array([], dtype="float64")
        times = np.repeat(np.array(stamps, dtype="int64"), np.array(counts, dtype="int64"))
        columns: dict[str, pa.Array] = {TIME_COLUMN: pa.array(times, pa.int64()).cast(pa.timestamp("us", tz="UTC"))}
        self._breathe()
        for name, field in (
            (MODEL_COLUMN, "model"),
            (VERSION_COLUMN, "versions"),
            (VARIANT_COLUMN, "variants"),
            (REQUEST_ID_COLUMN, "request_ids"),
        ):
            columns[name] = pa.array(per_row(field), pa.string())
            self._breathe()
        columns[SCORE_COLUMN] = pa.array(scores, pa.float64())
        columns.update(features)
        if with_ids:
            ids = per_row("entity_ids")
            for start in range(0, len(ids), _PIECE_ROWS):
                ids[start : start + _PIECE_ROWS] = [
                    None if e is None else str(e) for e in ids[start : start + _PIECE_ROWS]
                ]
                self._breathe()
            columns[self.entity_column] = pa.array(ids, pa.string())
            self._breathe()
        return pa.table(columns)

    def _parts(self, items: list[_Record]) -> list[_Frames | _DictRows]:
        """``items`` as runs of consecutive dict records (their logged rows, flat) and frames."""
        import pandas as pd

        parts: list[_Frames | _DictRows] = []
        run: _DictRows | None = None
        for i, item in enumerate(items):
            features = item.features
            if isinstance(features, pd.DataFrame):
                frame = features if item.rows is None else features.iloc[item.rows]
                parts.append(_Frames(frame.to_numpy(dtype=object)))
                run = None
                continue
            if run is None:
                run = _DictRows([], [], [], [])
                parts.append(run)
            if len(features) > 1:
                run.several.append(len(run.items))
            run.starts.append(len(run.rows))
            run.items.append(item)
            if item.rows is not None:
                run.rows.extend([features[i] for i in item.rows])
            elif len(features) == 1:
                run.rows.append(features[0])
            else:
                run.rows.extend(features)
            if i % _PIECE_ROWS == 0:
                self._breathe()
        return parts

    def _column(self, parts: list[_Frames | _DictRows], label: Any, position: int) -> list[Any]:
        """One feature column's values for every logged row, as pandas would give them back."""
        values: list[Any] = []
        for part in parts:
            if isinstance(part, _Frames):
                values.extend(part.matrix[:, position].tolist())
                continue
            offset = len(values)
            rows = part.rows
            odd = False  # a piece holds values that are not plain Python scalars
            for start in range(0, len(rows), _PIECE_ROWS):
                piece = rows[start : start + _PIECE_ROWS]
                try:
                    taken = [row[label] for row in piece]
                except KeyError:  # pandas reads a missing key as NaN
                    taken = [row.get(label, math.nan) for row in piece]
                odd = odd or not _PLAIN_TYPES.issuperset(map(type, taken))
                values.extend(taken)
                self._breathe()
            framed: set[int] = set()
            if odd:
                # The records holding other types: this column framed by pandas, as a frame record is.
                for i in range(offset, len(values)):
                    if type(values[i]) not in _PLAIN_TYPES:
                        framed.add(bisect_right(part.starts, i - offset) - 1)
                for k in sorted(framed):
                    item = part.items[k]
                    start = offset + part.starts[k]
                    values[start : start + item.n] = _framed_column(item, label)
                    self._breathe()
            # Framing a record of several rows, pandas gives a column one type from all of them (the
            # rows not logged too): a numeric column mixing ints with floats or None is float64.
            for k in part.several:
                if k in framed:
                    continue
                item = part.items[k]
                start = offset + part.starts[k]
                logged = values[start : start + item.n]
                rows_given = cast("Sequence[Mapping[Any, Any]]", item.features)
                whole = logged if item.rows is None else [row.get(label, math.nan) for row in rows_given]
                kinds = set(map(type, whole))
                if not _PLAIN_TYPES.issuperset(kinds):
                    values[start : start + item.n] = _framed_column(item, label)
                elif int in kinds and len(kinds) > 1 and _NUMERIC_TYPES.issuperset(kinds):
                    if all(_INT64[0] <= v <= _INT64[1] for v in whole if type(v) is int):
                        values[start : start + item.n] = [math.nan if v is None else float(v) for v in logged]
                    else:  # beyond int64: pandas decides
                        values[start : start + item.n] = _framed_column(item, label)
                self._breathe()
        return values

    def _warn_once(self, name: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning(
                "prediction log: feature column %r has the name of a log column, and %r is a feature too: "
                "%r is not logged",
                name,
                logged_name(name),
                name,
            )


@dataclass(frozen=True)
class _Frames:
    """A frame record's logged rows as the objects pandas gives back, one column per feature."""

    matrix: np.ndarray


@dataclass(frozen=True)
class _DictRows:
    """Consecutive dict records: their logged rows (flat), each record and where its rows start,
    and which records have several rows."""

    rows: list[Mapping[Any, Any]]
    items: list[_Record]
    starts: list[int]
    several: list[int]


def _concat(tables: list[pa.Table]) -> pa.Table:
    """``tables`` as one; a column whose type differs between them (a value sent as a number in
    one request and as text in another) is written as text in all of them."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        fields: dict[str, list[pa.Field]] = {}
        for table in tables:
            for field in table.schema:
                fields.setdefault(field.name, []).append(field)
        mixed = set()
        for name, given in fields.items():
            try:
                pa.unify_schemas([pa.schema([f]) for f in given], promote_options="permissive")
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                mixed.add(name)
        as_text = []
        for table in tables:
            for name in mixed & set(table.column_names):
                # Python's text for each value, as a column converted in one piece gets it.
                text = [None if v is None else str(v) for v in table.column(name).to_pylist()]
                table = table.set_column(table.schema.get_field_index(name), name, pa.array(text, pa.string()))
            as_text.append(table)
        return pa.concat_tables(as_text, promote_options="permissive")


def _columns(features: pd.DataFrame | Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    import pandas as pd

    if isinstance(features, pd.DataFrame):
        return tuple(features.columns)
    return tuple(features[0]) if len(features) else ()


def _hour(ts: float) -> int | None:
    """The hour (since the epoch) of ``ts``; None within a microsecond of the next one, where the
    rounding of datetime.fromtimestamp decides."""
    hour, rest = divmod(ts, 3600.0)
    return int(hour) if rest < 3600.0 - 1e-6 else None


def _framed_column(item: _Record, label: Any) -> list[Any]:
    """Column ``label`` of a dict record's logged rows, framed by pandas (values of other types than
    plain Python scalars, or a record pandas would convert as a whole)."""
    values = _frame(item.features, [label]).to_numpy(dtype=object)[:, 0]
    return list(values if item.rows is None else values[item.rows])


def _frame(features: pd.DataFrame | Sequence[Mapping[str, Any]], columns: Iterable[Any] | None = None) -> pd.DataFrame:
    """Rows given as dicts, framed in the writer thread (never on the request's)."""
    import pandas as pd

    if isinstance(features, pd.DataFrame):
        return features
    return pd.DataFrame.from_records(list(features), columns=list(_columns(features) if columns is None else columns))


def _arrow_column(values: np.ndarray, pause: Callable[[], None] | None = None) -> pa.Array:
    """One feature column as Arrow, its type inferred (NaN and None are nulls).

    With ``pause``: the type is inferred from the whole column, then the values are converted
    ``_ARROW_PIECE`` at a time to that type, with a call to ``pause`` after each piece.
    """
    import pyarrow as pa

    step = max(len(values), 1) if pause is None else _ARROW_PIECE
    try:
        if len(values) <= step:
            return pa.array(values, from_pandas=True)
        kind = pa.infer_type(values, from_pandas=True)
        pieces = []
        for start in range(0, len(values), step):
            pieces.append(pa.array(values[start : start + step], kind, from_pandas=True))
            if pause is not None:
                pause()
        return pa.concat_arrays(pieces)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A text column holding mixed types (numbers and strings): logged as text.
        text: list[str | None] = []
        for start in range(0, len(values), step):
            text.extend([None if v is None or v != v else str(v) for v in values[start : start + step]])
            if pause is not None:
                pause()
        return pa.array(text, pa.string())


# --------------------------------------------------------------------------- reading
def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bound(value: timedelta | datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    return now - value if isinstance(value, timedelta) else _utc(value)


def describe_window(
    model: str,
    *,
    since: timedelta | datetime | None = None,
    until: timedelta | datetime | None = None,
    version: str | Collection[str] | None = None,
    now: datetime | None = None,
) -> str:
    """``credit_risk 1.2.0 since 2026-11-05 10:00 UTC``: the selection, as a person reads it."""
    now = _utc(now) if now is not None else datetime.now(UTC)
    start, end = _bound(since, now), _bound(until, now)
    text = model
    if version is not None:
        text += " " + (version if isinstance(version, str) else "/".join(sorted(version)))
    if start is not None:
        text += f" since {start:%Y-%m-%d %H:%M} UTC"
    if end is not None:
        text += f" until {end:%Y-%m-%d %H:%M} UTC"
    return text


def _empty(extra: Sequence[str] = ()) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        {
            TIME_COLUMN: pd.Series([], dtype="datetime64[us, UTC]"),
            **{c: pd.Series([], dtype=object) for c in (MODEL_COLUMN, VERSION_COLUMN, VARIANT_COLUMN)},
            REQUEST_ID_COLUMN: pd.Series([], dtype=object),
            SCORE_COLUMN: pd.Series([], dtype="float64"),
        }
    )
    for name in extra:
        frame[name] = pd.Series([], dtype=object)
    return frame


def _files_in_window(fs: pafs.FileSystem, folder: str, start: datetime | None, end: datetime | None) -> list[str]:
    """The files of the hour folders that can hold rows scored in ``[start, end)`` (no file is opened)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    fields = pa.schema([("date", pa.string()), ("hour", pa.string())])
    # Given a schema, discovery lists the files without opening any of them.
    found = ds.dataset(
        folder, schema=fields, filesystem=fs, format="parquet", partitioning=ds.partitioning(fields, flavor="hive")
    )
    date, hour = ds.field("date"), ds.field("hour")
    pruning = None
    if start is not None:
        d, h = start.strftime("%Y-%m-%d"), start.strftime("%H")
        pruning = (date > d) | ((date == d) & (hour >= h))
    if end is not None:
        d, h = end.strftime("%Y-%m-%d"), end.strftime("%H")
        upper = (date < d) | ((date == d) & (hour <= h))
        pruning = upper if pruning is None else pruning & upper
    fragments = found.get_fragments(filter=pruning) if pruning is not None else found.get_fragments()
    return sorted(f.path for f in fragments)


def _row_filter(start: datetime | None, end: datetime | None, version: str | Collection[str] | None) -> Any:
    """The pyarrow expression selecting rows in ``[start, end)`` of ``version`` (None: every row)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    parts = []
    if start is not None:
        parts.append(ds.field(TIME_COLUMN) >= pa.scalar(start, pa.timestamp("us", tz="UTC")))
    if end is not None:
        parts.append(ds.field(TIME_COLUMN) < pa.scalar(end, pa.timestamp("us", tz="UTC")))
    if version is not None:
        parts.append(ds.field(VERSION_COLUMN).isin([version] if isinstance(version, str) else sorted(version)))
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def logged_name(feature: str) -> str:
    """The log's column for feature column ``feature`` (:data:`FEATURE_PREFIX`)."""
    return FEATURE_PREFIX + feature if feature in LOG_COLUMNS else feature


def with_feature_names(frame: pd.DataFrame, scores: str | None = SCORE_COLUMN) -> pd.DataFrame:
    """Rows read from the log with every feature under its own name: one logged as
    ``feature:<name>`` (:func:`logged_name`) gets its name back unless ``scores`` takes it. The
    log's scores are named ``scores``; None leaves them out (a comparison of features only)."""
    if scores is None:
        frame = frame.drop(columns=[SCORE_COLUMN], errors="ignore")
    own = {logged_name(c): c for c in LOG_COLUMNS if logged_name(c) in frame.columns and c != scores}
    return frame.rename(columns={SCORE_COLUMN: scores, **own} if scores is not None else own)


def read_predictions(
    root: str | Path,
    model: str,
    *,
    since: timedelta | datetime | None = None,
    until: timedelta | datetime | None = None,
    version: str | Collection[str] | None = None,
    columns: Sequence[str] | None = None,
    required: bool = False,
    now: datetime | None = None,
    filesystem: pafs.FileSystem | None = None,
) -> pd.DataFrame:
    """The logged rows of ``model`` scored in ``[since, until)``, oldest first.

    ``since``/``until``: a time (naive means UTC) or how long ago (``timedelta(days=7)``).
    ``version``: one version or several. ``columns``: the feature columns wanted (the log's own
    columns always come). Only the hour folders that can hold rows of the window are opened
    (hive partition pruning); files written with other feature columns read as nulls there.
    No rows (no log at all, or none in the window): an empty frame with the log's columns, or
    with ``required``, :class:`~mlops.errors.NoPredictionsError` naming the selection.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    check_model_name(model)
    now = _utc(now) if now is not None else datetime.now(UTC)
    start, end = _bound(since, now), _bound(until, now)
    fs, base = resolve_filesystem(root, filesystem)
    folder = f"{base}/model={model}"

    def nothing() -> pd.DataFrame:
        if required:
            window = describe_window(model, since=since, until=until, version=version, now=now)
            raise NoPredictionsError(f"no predictions logged for {window} (log: {root})")
        return _empty(columns or ())

    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return nothing()
    try:
        files = _files_in_window(fs, folder, start, end)
        if not files:
            return nothing()
        # Versions may log different features: the union of the files' columns, nulls where absent.
        schemas = []
        for path in files:
            try:
                schemas.append(pq.read_schema(path, filesystem=fs))
            except (OSError, pa.ArrowInvalid) as exc:
                raise MonitoringError(f"the prediction log of {model} cannot be read: {path}: {exc}") from None
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        names = None
        if columns is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise MonitoringError(f"the prediction log of {model} has no column {', '.join(map(repr, missing))}")
            names = [c for c in schema.names if c in LOG_COLUMNS] + [c for c in columns if c not in LOG_COLUMNS]
        selected = ds.dataset(files, schema=schema, filesystem=fs, format="parquet")
        table = selected.to_table(columns=names, filter=_row_filter(start, end, version))
    except (OSError, pa.ArrowInvalid) as exc:
        raise MonitoringError(f"the prediction log of {model} under {root} cannot be read: {exc}") from None
    if table.num_rows == 0:
        return nothing()
    frame = table.to_pandas()
    return frame.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)


__all__ = [
    "DEFAULT_ENTITY_COLUMN",
    "FEATURE_PREFIX",
    "LOG_COLUMNS",
    "MODEL_COLUMN",
    "REQUEST_ID_COLUMN",
    "SCORE_COLUMN",
    "TIME_COLUMN",
    "VARIANT_COLUMN",
    "VERSION_COLUMN",
    "PredictionLogConfig",
    "PredictionLogger",
    "check_model_name",
    "describe_window",
    "logged_name",
    "predictions_root",
    "read_predictions",
    "resolve_filesystem",
    "with_feature_names",
    "write_parquet_atomically",
]
