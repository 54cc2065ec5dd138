"""Consent records and the files they are imported from (CSV, or JSON lines).

A file is read and checked whole before anything is stored: one bad line and nothing is
imported. Each problem names the file, the line and what was expected; at most
:data:`MAX_PROBLEMS` are listed, then how many more there are.

CSV: a header line with ``subject_id,purpose,status,time`` and optionally ``source``, fields
split at the delimiter the header tells (``,``, ``;``, tab or ``|``, as spreadsheets in many
locales export), in the encoding given (UTF-8 by default, a byte-order mark skipped); JSON
lines (``.jsonl``/``.ndjson``): one object per line with the same keys. ``time`` is ISO 8601
with a UTC offset (``2024-05-01T09:30:00+02:00`` or ``…Z``): a consent given "at 9:30" without
a zone is ambiguous by hours, so a naive time is refused rather than guessed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from mlops.delimited import (
    codec_name,
    delimiter_of,
    header_codec,
    name_the_encoding,
    shown_encoding,
    undecodable,
    undecodable_at,
)
from mlops.errors import PrivacyError

ConsentStatus = Literal["granted", "withdrawn"]
STATUSES: tuple[ConsentStatus, ...] = ("granted", "withdrawn")
REQUIRED = ("subject_id", "purpose", "status", "time")
OPTIONAL = ("source",)
MAX_PROBLEMS = 20
MAX_SUBJECT_LENGTH = 256
MAX_SOURCE_LENGTH = 200
# Records stamped later than this ahead of the clock are refused: a future consent is a typo.
CLOCK_SKEW = timedelta(minutes=5)
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_SHOWN = 40


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One statement of a subject about one purpose, at one time (UTC), from one source."""

    subject_id: str
    purpose: str
    status: ConsentStatus
    time: datetime
    source: str


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")


def parse_time(value: str) -> datetime:
    """An aware ISO 8601 time, in UTC; ValueError says what was expected."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"an ISO 8601 time with a UTC offset such as 2024-05-01T09:30:00+00:00, got {_shown(value)}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"a time with a UTC offset (+00:00 or Z), got {_shown(value)} without one")
    return parsed.astimezone(UTC)


def _record(fields: dict[str, Any], purposes: Sequence[str], default_source: str, now: datetime) -> ConsentRecord:
    """One record from one line's fields; ValueError lists every problem of the line."""
    problems = []
    if isinstance(fields.get("subject_id"), int) and not isinstance(fields["subject_id"], bool):
        fields = {**fields, "subject_id": str(fields["subject_id"])}  # JSON numbers as ids
    missing = [k for k in REQUIRED if fields.get(k) is None or str(fields[k]).strip() == ""]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    unknown = sorted(set(fields) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        problems.append(
            f"unknown field(s) {', '.join(map(_shown, unknown))} (expected {', '.join(REQUIRED + OPTIONAL)})"
        )
    for key in (*REQUIRED, *OPTIONAL):
        if fields.get(key) is not None and not isinstance(fields[key], str):
            problems.append(f"{key}: a string, got {type(fields[key]).__name__}")
    if problems:
        raise ValueError("; ".join(problems))
    subject = fields["subject_id"].strip()
    purpose = fields["purpose"].strip()
    status = fields["status"].strip()
    source = (fields.get("source") or "").strip() or default_source
    if len(subject) > MAX_SUBJECT_LENGTH:
        problems.append(f"subject_id: at most {MAX_SUBJECT_LENGTH} characters")
    if purpose not in purposes:
        problems.append(f"purpose: one of {', '.join(purposes)} (privacy.consent.purposes), got {_shown(purpose)}")
    if status not in STATUSES:
        problems.append(f"status: granted or withdrawn, got {_shown(status)}")
    if len(source) > MAX_SOURCE_LENGTH:
        problems.append(f"source: at most {MAX_SOURCE_LENGTH} characters")
    time = None
    try:
        time = parse_time(fields["time"])
    except ValueError as exc:
        problems.append(f"time: {exc}")
    if time is not None and time > now + CLOCK_SKEW:
        problems.append(f"time: not in the future, got {time.isoformat()}")
    if problems or time is None:
        raise ValueError("; ".join(problems))
    return ConsentRecord(subject, purpose, cast(ConsentStatus, status), time, source)


def _csv_lines(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, delimiter=delimiter_of(lines[0]) if lines else ",")
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise PrivacyError(f"{path}: empty file; expected a header line {','.join(REQUIRED)}[,source]") from None
    lacking = [k for k in REQUIRED if k not in header]
    extra = [h for h in header if h not in REQUIRED + OPTIONAL]
    if lacking or extra or len(set(header)) != len(header):
        raise PrivacyError(
            f"{path}:1: header {_shown(','.join(header))}: expected the columns {','.join(REQUIRED)} "
            f"and optionally source, each once"
        )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"not valid CSV ({exc})"
            return
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield reader.line_num, f"{len(row)} fields, expected {len(header)} ({','.join(header)})"
            continue
        yield reader.line_num, dict(zip(header, row, strict=True))


def _jsonl_lines(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(value, dict):
            yield number, f"a JSON object with {', '.join(REQUIRED)}, got {type(value).__name__}"
            continue
        yield number, value


def read_consent_file(
    path: Path, purposes: Sequence[str], *, now: datetime | None = None, encoding: str = "utf-8"
) -> list[ConsentRecord]:
    """Every record of ``path``, or PrivacyError listing the bad lines (file:line: what was expected).

    Records without a ``source`` get ``import:<file name>``. ``encoding``: the file's text
    encoding (any codec Python knows).
    """
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise PrivacyError(f"{path}: a .csv or .jsonl/.ndjson file (JSON lines), got {suffix or 'no suffix'}")
    try:
        encoding = codec_name(encoding)
    except LookupError:
        expected = "a text encoding Python knows (utf-8, cp1252, ...)"
        raise PrivacyError(f"{path}: encoding {encoding!r}: {expected}") from None
    try:
        data = path.read_bytes()
        text = data.decode(header_codec(encoding))  # UTF-8: without the byte-order mark spreadsheets write
    except FileNotFoundError:
        raise PrivacyError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        offset, line = undecodable_at(io.BytesIO(data), encoding) or (0, None)
        raise PrivacyError(
            f"{path}:{line or 1}: {shown_encoding(encoding)} text expected, but the file is "
            f"{undecodable(encoding, (offset, None))}: " + name_the_encoding("--encoding")
        ) from None
    except OSError as exc:
        raise PrivacyError(f"{path}: cannot be read ({exc.strerror})") from None
    lines = _csv_lines(path, text) if suffix in CSV_SUFFIXES else _jsonl_lines(text)
    moment = now or datetime.now(UTC)
    default_source = f"import:{path.name}"
    records: list[ConsentRecord] = []
    problems: list[str] = []
    bad = 0
    for number, fields in lines:
        try:
            if isinstance(fields, str):
                raise ValueError(fields)
            records.append(_record(fields, purposes, default_source, moment))
        except ValueError as exc:
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"{path}:{number}: {exc}")
    if bad:
        more = [f"… and {bad - len(problems)} more bad line(s)"] if bad > len(problems) else []
        raise PrivacyError("\n".join([f"{path}: {bad} bad line(s), nothing imported:", *problems, *more]))
    if not records:
        raise PrivacyError(f"{path}: no records (expected one per line after the header)")
    return records


__all__ = ["STATUSES", "ConsentRecord", "ConsentStatus", "parse_time", "read_consent_file"]
