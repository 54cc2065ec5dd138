"""Apply a dataset's PII policy to a frame, column by column (vectorised pandas).

- ``hash``: HMAC-SHA256 with a secret key, so equal inputs stay joinable while the key
  keeps the mapping from being rebuilt from a dictionary of names or e-mails;
- ``mask``: every character but the last ``keep_last`` becomes ``*``;
- ``drop``: the column is removed;
- ``generalise``: numbers to ``bucket``-wide ranges, timestamps to their month or year,
  strings to their first ``prefix`` characters;
- ``redact``: free text keeps its words but e-mails, phone numbers and long digit runs
  become placeholders.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import assert_never

import pandas as pd

from mlops.config import PiiColumn, PiiDrop, PiiGeneralise, PiiHash, PiiMask, PiiRedact
from mlops.errors import DatasetError

EMAIL_RE = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
PHONE_RE = r"\+?\d[\d\s().-]{6,}\d"
DIGITS_RE = r"\d{4,}"


@dataclass(frozen=True)
class AnonymizationReport:
    """What was done to which column (no values)."""

    actions: dict[str, str] = field(default_factory=dict)
    rows: int = 0


def keyed_digest(value: object, key: bytes) -> str:
    """What ``hash`` makes of one value (erasure looks for it too)."""
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:32]


def _keyed_hash(values: pd.Series, key: bytes) -> pd.Series:
    out = values.map(lambda v: keyed_digest(v, key), na_action="ignore")
    return out.astype(object)


def _mask(values: pd.Series, keep_last: int) -> pd.Series:
    text = values.astype("string")
    if keep_last == 0:
        return text.str.replace(r".", "*", regex=True).astype(object)
    head = text.str.slice(0, -keep_last).str.replace(r".", "*", regex=True)
    return (head + text.str.slice(-keep_last)).astype(object)


def _generalise(values: pd.Series, policy: PiiGeneralise, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        if policy.period is None:
            raise DatasetError(f"column {column!r}: generalising a timestamp needs period: month|year")
        freq = "M" if policy.period == "month" else "Y"
        naive = values.dt.tz_convert(None) if values.dt.tz is not None else values
        return naive.dt.to_period(freq).astype(str)
    if pd.api.types.is_numeric_dtype(values):
        if policy.bucket is None:
            raise DatasetError(f"column {column!r}: generalising a number needs bucket: WIDTH")
        width = policy.bucket
        low = (values // width) * width
        return low.map(lambda v: f"{v:g}-{v + width:g}", na_action="ignore").astype(object)
    if policy.prefix is None:
        raise DatasetError(f"column {column!r}: generalising text needs prefix: N")
    return values.astype("string").str.slice(0, policy.prefix).astype(object)


def _redact(values: pd.Series) -> pd.Series:
    text = values.astype("string")
    text = text.str.replace(EMAIL_RE, "[EMAIL]", regex=True)
    text = text.str.replace(PHONE_RE, "[PHONE]", regex=True)
    return text.str.replace(DIGITS_RE, "[NUMBER]", regex=True).astype(object)


def anonymize(
    df: pd.DataFrame, policies: dict[str, PiiColumn], *, hash_key: str | None
) -> tuple[pd.DataFrame, AnonymizationReport]:
    """Return a copy of ``df`` with every PII column treated by its policy.

    A policy naming a column the frame does not have is an error: silently skipping it
    would let raw PII through under a renamed column.
    """
    missing = [c for c in policies if c not in df.columns]
    if missing:
        raise DatasetError(f"PII columns not in the dataset: {', '.join(missing)}")
    needs_key = any(isinstance(p, PiiHash) for p in policies.values())
    if needs_key and not hash_key:
        raise DatasetError("a hash key is required for PII columns with action 'hash'")
    key = (hash_key or "").encode()
    out = df.copy()
    actions: dict[str, str] = {}
    for column, policy in policies.items():
        match policy:
            case PiiDrop():
                out = out.drop(columns=column)
            case PiiHash():
                out[column] = _keyed_hash(out[column], key)
            case PiiMask(keep_last=keep_last):
                out[column] = _mask(out[column], keep_last)
            case PiiGeneralise():
                out[column] = _generalise(out[column], policy, column)
            case PiiRedact():
                out[column] = _redact(out[column])
            case _:
                assert_never(policy)
        actions[column] = policy.action
    return out, AnonymizationReport(actions=actions, rows=len(out))
