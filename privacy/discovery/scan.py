"""Scanning a frame for PII, column by column, and comparing what is found with what is declared.

Per column: a deterministic sample of its distinct non-empty values (``sample_size``) goes
through the offline Presidio analyzer (:mod:`privacy.discovery.recognizers`). In a structured
column a value holds an entity when one match covers nearly all of it (an order number with a
card-like run inside is not a card number); in a free-text column (median of
``free_text_min_words`` words or more) every span counts. The column's name may hint entities
(``hints.yaml``): there weak matches count too, and some entities are only looked for there
(birth dates: any date is one only in a column named like ``date_of_birth``; names by their
shape in a column named like ``full_name``). A column is flagged with an entity when its share
of sampled values reaches ``min_share`` (``free_text_min_share`` for free text).

Results carry shares and masked examples only: no raw value reaches a report or a log.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import Field

from mlops.config import StrictModel
from privacy.config import DiscoveryConfig
from privacy.discovery.hints import hinted_entities
from privacy.discovery.recognizers import ENTITIES, HINTED, LANGUAGE, analyzer

# A structured value holds an entity when its matches cover this share of its characters.
COVER = 0.8
# A column of integers all shorter than this holds no card, account, id or phone number.
MIN_DIGITS = 7
BIRTH_YEARS = 120
# Values of a structured column analysed with every recogniser before unused ones are left out.
PROBE = 100
_EXAMPLES = 2
_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# What a suggested ``pii:`` entry does with each entity (free text: see ColumnFinding.suggestion).
SUGGESTED: dict[str, dict[str, str | int]] = {
    "CREDIT_CARD": {"action": "mask", "keep_last": 4},
    "IBAN_CODE": {"action": "mask", "keep_last": 4},
    "US_SSN": {"action": "drop"},
    "ES_NIF": {"action": "drop"},
    "EMAIL_ADDRESS": {"action": "hash"},
    "PHONE_NUMBER": {"action": "mask", "keep_last": 4},
    "IP_ADDRESS": {"action": "hash"},
    "PERSON": {"action": "hash"},
    "STREET_ADDRESS": {"action": "drop"},
    "DATE_OF_BIRTH": {"action": "drop"},
}
# What the `redact` action replaces in free text (e-mails, phone-like and long digit runs).
REDACTABLE = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "ES_NIF"})


class ColumnFinding(StrictModel):
    """One column flagged with PII: which entities, in what share of its sampled values."""

    column: str
    # Entity → share of the sampled values holding it (only entities at or over the threshold).
    entities: dict[str, float]
    free_text: bool
    sampled: int
    # Entities the column's name suggests.
    hinted: list[str] = Field(default_factory=list)
    # Entity → up to two MASKED examples of what was matched.
    examples: dict[str, list[str]] = Field(default_factory=dict)
    # The declared action when the dataset config declares the column as PII.
    declared: str | None = None
    # The column is the dataset's entity id, event time or target (it cannot simply be declared).
    role: str | None = None

    @property
    def main_entity(self) -> str:
        return max(self.entities, key=lambda e: (self.entities[e], e))

    def describe(self) -> str:
        kinds = ", ".join(f"{e} ({s:.0%})" for e, s in sorted(self.entities.items(), key=lambda x: -x[1]))
        return f"{self.column!r}: {kinds}" + (" in free text" if self.free_text else "")

    def suggestion(self) -> dict[str, str | int]:
        """The ``pii:`` policy suggested for the column."""
        if self.free_text:
            return {"action": "redact"} if set(self.entities) <= REDACTABLE else {"action": "drop"}
        return dict(SUGGESTED.get(self.main_entity, {"action": "drop"}))


class ScanResult(StrictModel):
    """What a scan found, and how it compares with the dataset's declared PII."""

    dataset: str
    rows: int
    columns: int
    seconds: float
    findings: list[ColumnFinding]
    declared: list[str] = Field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        return [f.column for f in self.findings]

    @property
    def undeclared(self) -> list[ColumnFinding]:
        """Flagged columns the dataset config does not declare as PII."""
        return [f for f in self.findings if f.column not in self.declared]

    @property
    def declared_not_found(self) -> list[str]:
        """Declared PII columns where nothing was found (fine when the data is anonymised already)."""
        return [c for c in self.declared if c not in self.flagged]

    def suggested_pii_block(self) -> str:
        """YAML for the dataset config's ``pii:`` block covering the undeclared columns."""
        # A key column (entity id, event time, target) cannot be declared PII: it needs replacing.
        declarable = [f for f in self.undeclared if not f.role]
        if not declarable:
            return ""
        lines = ["pii:"]
        for finding in declarable:
            key = _yaml_key(finding.column)
            policy = ", ".join(f"{k}: {v}" for k, v in finding.suggestion().items())
            why = ", ".join(sorted(finding.entities))
            note = "; redact keeps names and addresses" if finding.free_text and policy == "action: drop" else ""
            lines.append(f"  {key}: {{{policy}}}  # {why}{' in free text' if finding.free_text else ''}{note}")
        return "\n".join(lines) + "\n"

    def gate_failures(self) -> dict[str, str]:
        """Per undeclared PII column, one line naming its entities and a policy to declare."""
        out = {}
        for finding in self.undeclared:
            if finding.role:
                fix = f"it is the dataset's {finding.role}: PII cannot be a key column, use a surrogate id"
            else:
                policy = ", ".join(f"{k}: {v}" for k, v in finding.suggestion().items())
                fix = f"declare it, e.g. `pii: {{{_yaml_key(finding.column)}: {{{policy}}}}}`"
            out[finding.column] = f"undeclared PII in column {finding.describe()}; {fix}"
        return out


def _yaml_key(column: str) -> str:
    return column if _SAFE_KEY.match(column) else json.dumps(column)


def mask(text: str) -> str:
    """Every letter and digit but the last two becomes ``*`` (separators kept, cut to 32)."""
    text = text[:32]
    keep = sum(c.isalnum() for c in text) - 2
    out = []
    for c in text:
        if c.isalnum() and keep > 0:
            out.append("*")
            keep -= 1
        else:
            out.append(c)
    return "".join(out)


def column_texts(series: pd.Series, *, sample_size: int, seed: int) -> list[str]:
    """The distinct non-empty values of ``series`` as text (a seeded sample of ``sample_size``).

    Numbers that cannot hold an identifier (a column with fractions, or of short integers only)
    give nothing; dates
    become ISO dates (times only when present), so a birth date read from parquet matches.
    """
    values = series.dropna()
    if values.empty or ptypes.is_bool_dtype(values):
        return []
    if ptypes.is_datetime64_any_dtype(values):
        stamps = pd.DatetimeIndex(values.unique())
        fmt = "%Y-%m-%d" if bool((stamps == stamps.normalize()).all()) else "%Y-%m-%dT%H:%M:%S"
        texts = pd.Series(stamps.strftime(fmt)).unique().tolist()
    elif ptypes.is_numeric_dtype(values):
        numbers = np.unique(values.to_numpy(dtype=float))
        numbers = numbers[np.isfinite(numbers)]
        # Fractions mean amounts or measures; short integers cannot be an identifier.
        if numbers.size == 0 or bool((np.mod(numbers, 1) != 0).any()):
            return []
        if float(np.abs(numbers).max()) < 10 ** (MIN_DIGITS - 1):
            return []
        texts = [str(int(v)) for v in numbers]
    else:
        text = values.astype(str).str.strip()
        texts = text[text != ""].unique().tolist()
    if len(texts) > sample_size:
        picked = np.random.default_rng(seed).choice(len(texts), size=sample_size, replace=False)
        texts = [texts[i] for i in np.sort(picked)]
    return [str(t) for t in texts]


def is_free_text(texts: list[str], min_words: int) -> bool:
    return bool(texts) and float(np.median([len(t.split()) for t in texts])) >= min_words


def _plausible_birth(text: str, today: datetime) -> bool:
    """A date in the last BIRTH_YEARS years, not in the future (month-first, else day-first)."""
    from dateutil import parser

    for dayfirst in (False, True):
        try:
            when = parser.parse(text, dayfirst=dayfirst, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return today.year - BIRTH_YEARS <= when.year and when <= today
    return False


def _drop_overlaps(matches: list[tuple[str, int, int, float]]) -> list[tuple[str, int, int, float]]:
    """Where matches of different entities overlap, the higher score keeps the span (a
    Luhn-valid card number is not also a phone number)."""
    kept: list[tuple[str, int, int, float]] = []
    for m in sorted(matches, key=lambda x: -x[3]):
        if not any(k[0] != m[0] and m[1] < k[2] and k[1] < m[2] and k[3] > m[3] for k in kept):
            kept.append(m)
    return kept


def _covered(spans: list[tuple[int, int]], text: str) -> float:
    hit = np.zeros(len(text), dtype=bool)
    for start, end in spans:
        hit[start:end] = True
    solid = np.array([not c.isspace() for c in text], dtype=bool)
    return float((hit & solid).sum() / max(int(solid.sum()), 1))


def classify(
    texts: Iterable[str], *, hinted: frozenset[str], free_text: bool, config: DiscoveryConfig
) -> list[dict[str, str]]:
    """Per value: the entities it holds, each with the matched text (one entity at most for a
    structured value: the hinted one first, then the best score).

    A structured column is probed first (PROBE values spread over the sample): recognisers
    that match none of them are not run on the rest, since an entity a column is flagged with
    holds at least ``min_share`` of its values. Free text is never pruned (its threshold is low).
    """
    values = list(texts)
    wanted = [*ENTITIES, *(h for h, target in HINTED.items() if target in hinted)]
    if "PHONE_NUMBER" in hinted:
        wanted.remove("PHONE_NUMBER")  # possible numbers include the valid ones
    today = datetime.now(UTC)
    out: list[dict[str, str] | None] = [None] * len(values)
    order = list(range(len(values)))
    if not free_text and len(values) > 2 * PROBE:
        step = len(values) / PROBE
        probe = sorted({int(i * step) for i in range(PROBE)})
        seen: set[str] = set()
        for i in probe:
            out[i] = _analyze(values[i], wanted, hinted, free_text, config, today, seen)
        wanted = [e for e in wanted if e in seen]
        order = [i for i in order if out[i] is None]
    for i in order:
        out[i] = _analyze(values[i], wanted, hinted, free_text, config, today, set()) if wanted else {}
    return [o or {} for o in out]


def _analyze(
    text: str,
    wanted: list[str],
    hinted: frozenset[str],
    free_text: bool,
    config: DiscoveryConfig,
    today: datetime,
    seen: set[str],
) -> dict[str, str]:
    """One value's entities (see :func:`classify`); recognised entity names are added to ``seen``."""
    raw = []
    for r in analyzer().analyze(text, language=LANGUAGE, entities=wanted):
        entity = HINTED.get(r.entity_type, r.entity_type)
        if r.score < config.min_score and entity not in hinted:
            continue
        if entity == "DATE_OF_BIRTH" and not _plausible_birth(text[r.start : r.end], today):
            continue
        seen.add(r.entity_type)
        raw.append((entity, r.start, r.end, r.score))
    matches: dict[str, list[tuple[int, int, float]]] = {}
    for entity, start, end, score in raw if not free_text else _drop_overlaps(raw):
        matches.setdefault(entity, []).append((start, end, score))
    if not free_text:
        whole = {e: m for e, m in matches.items() if _covered([(s, t) for s, t, _ in m], text) >= COVER}
        if whole:
            best = max(whole, key=lambda e: (e in hinted, max(x[2] for x in whole[e])))
            matches = {best: whole[best]}
        else:
            matches = {}
    return {e: text[m[0][0] : m[0][1]] for e, m in matches.items()}


def scan_column(series: pd.Series, config: DiscoveryConfig) -> ColumnFinding | None:
    """The column's finding, or None when no entity reaches its threshold."""
    column = str(series.name)
    texts = column_texts(series, sample_size=config.sample_size, seed=config.seed)
    if not texts:
        return None
    hinted = hinted_entities(column)
    free_text = is_free_text(texts, config.free_text_min_words)
    found = classify(texts, hinted=hinted, free_text=free_text, config=config)
    threshold = config.free_text_min_share if free_text else config.min_share
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for value in found:
        for entity, matched in value.items():
            counts[entity] = counts.get(entity, 0) + 1
            if len(examples.setdefault(entity, [])) < _EXAMPLES:
                examples[entity].append(mask(matched))
    shares = {e: round(n / len(texts), 4) for e, n in counts.items() if n / len(texts) >= threshold}
    if not shares:
        return None
    return ColumnFinding(
        column=column,
        entities=shares,
        free_text=free_text,
        sampled=len(texts),
        hinted=sorted(hinted),
        examples={e: x for e, x in examples.items() if e in shares},
    )


def scan_frame(
    df: pd.DataFrame,
    config: DiscoveryConfig,
    *,
    dataset: str = "frame",
    declared: Mapping[str, str] | None = None,
    roles: Mapping[str, str] | None = None,
) -> ScanResult:
    """Scan every column of ``df``; ``declared`` maps declared PII columns to their action and
    ``roles`` key columns (entity id, event time, target) to their role."""
    started = time.perf_counter()
    declared = dict(declared or {})
    roles = dict(roles or {})
    findings = []
    for column in df.columns:
        finding = scan_column(df[column], config)
        if finding is not None:
            findings.append(
                finding.model_copy(update={"declared": declared.get(str(column)), "role": roles.get(str(column))})
            )
    return ScanResult(
        dataset=dataset,
        rows=len(df),
        columns=len(df.columns),
        seconds=round(time.perf_counter() - started, 3),
        findings=findings,
        declared=list(declared),
    )


__all__ = [
    "COVER",
    "REDACTABLE",
    "SUGGESTED",
    "ColumnFinding",
    "ScanResult",
    "classify",
    "column_texts",
    "is_free_text",
    "mask",
    "scan_column",
    "scan_frame",
]
