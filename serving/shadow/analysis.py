"""Shadow comparison analytics and the promote / keep-shadowing / reject decision.

Input is the comparison store's pair log: one row per mirrored request with both models'
scores and latencies (see :class:`serving.shadow.store.ComparisonStore`). :func:`analyse`
reduces it to a :class:`ShadowReport`, plain data with no I/O: :mod:`serving.shadow.report`
reads the store and writes the report's files, :mod:`serving.shadow.html` renders its page.

Which pairs are analysed
    The store accumulates pairs across model changes, so only the pairs of one
    (champion version, challenger version) combination are analysed: the one given, or by
    default the one of the most recent pair. The others are counted as ``excluded_pairs``.

Measures
    * *compared*: pairs where the challenger returned a score. A pair whose challenger call
      failed, timed out or returned no score counts against the *error rate* (over all pairs).
    * *agreement*: both scores on the same side of ``label_threshold``.
    * *delta*: challenger score minus champion score; the checks use its absolute value.
    * *segment gap*: for every segment attribute present (e.g. ``sex``), the largest
      difference of agreement rate between two of its segments with at least
      ``min_segment_size`` compared pairs. A challenger that agrees with the champion overall
      but diverges on one group is caught here.
    * *latency ratio*: challenger p99 / champion p99, over the pairs with a latency. The
      mirror logs no latency for a timed-out call: a challenger slower than the timeout shows
      up in the error rate instead.

Decision (thresholds from ``config/shadow.yaml``, :class:`~serving.config.ShadowPolicyConfig`)
    1. fewer than ``min_pairs`` pairs → ``keep_shadowing``: too little evidence to judge,
       whatever the other checks say (they are still computed and listed);
    2. otherwise any check breached → ``reject``: error rate, agreement, mean and p95 |delta|,
       segment gap, p99 latency ratio. A check that cannot be measured (no compared pair, no
       challenger latency) counts as breached; the segment gap alone is *skipped* when no
       attribute has two segments big enough, since not every model's traffic carries
       sensitive attributes;
    3. otherwise → ``promote``.

    ``reasons`` holds one line per check naming its value and threshold, breached ones first.
    Thresholds are inclusive: ``min_*`` passes at ``>=``, ``max_*`` at ``<=``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from mlops.errors import DatasetError

if TYPE_CHECKING:
    from serving.config import ShadowPolicyConfig

Decision = Literal["promote", "keep_shadowing", "reject"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)

REQUIRED_COLUMNS = (
    "request_id",
    "ts",
    "segment",
    "champion_version",
    "challenger_version",
    "champion_score",
    "challenger_score",
    "champion_latency_ms",
    "challenger_latency_ms",
    "challenger_error",
)
# A pair that failed without an error message (the challenger answered without a score).
NO_SCORE = "no_score"


# --------------------------------------------------------------------------- report model
@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class DeltaStats:
    """Challenger score minus champion score over the compared pairs."""

    mean: float
    mean_abs: float
    p50_abs: float
    p95_abs: float
    p99_abs: float
    max_abs: float
    # Signed delta, ``len(edges) == len(counts) + 1``; the last bin includes its right edge.
    histogram_edges: list[float]
    histogram_counts: list[int]


@dataclass(frozen=True)
class SegmentStats:
    attribute: str
    value: str
    compared: int
    agreement_rate: float
    mean_delta: float
    mean_abs_delta: float
    # False: smaller than min_segment_size, shown but not part of the gap.
    counted: bool


@dataclass(frozen=True)
class LatencyStats:
    champion: Percentiles | None
    challenger: Percentiles | None
    p99_ratio: float | None


@dataclass(frozen=True)
class Check:
    """One threshold of the policy applied to one measured value."""

    name: str
    value: float | None
    threshold: float
    # "min": passes when value >= threshold; "max": when value <= threshold.
    kind: Literal["min", "max"]
    passed: bool
    # Not applied (nothing to measure and the policy allows it); counts as passed.
    skipped: bool = False

    @property
    def reason(self) -> str:
        op = ">=" if self.kind == "min" else "<="
        if self.skipped:
            return f"{self.name}: not measurable (skipped), threshold {op} {_fmt(self.threshold)}"
        if self.value is None:
            return f"{self.name}: not measurable, needs {op} {_fmt(self.threshold)} (breached)"
        shown_op, verdict = (op, "ok") if self.passed else (_negate(op), "breached")
        return f"{self.name}: {_fmt(self.value)} {shown_op} {_fmt(self.threshold)} ({verdict})"


@dataclass(frozen=True)
class ShadowReport:
    """Everything ``mlops shadow report`` computed, and the decision. JSON-ready via :meth:`to_dict`."""

    decision: Decision
    reasons: list[str]
    checks: list[Check]
    champion_version: str | None
    challenger_version: str | None
    window_start: float | None
    window_end: float | None
    pairs: int
    excluded_pairs: int
    compared: int
    challenger_errors: int
    error_rate: float | None
    timeouts: int
    errors_by_kind: dict[str, int]
    label_threshold: float
    agreement_rate: float | None
    delta: DeltaStats | None
    segments: list[SegmentStats]
    # Per attribute: the agreement gap between its counted segments (None: fewer than two).
    segment_gaps: dict[str, float | None]
    latency: LatencyStats
    policy: dict[str, Any]
    generated_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (no NaN: unmeasurable values are ``None``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowReport:
        """Inverse of :meth:`to_dict` (e.g. ``json.loads`` of ``shadow_report.json``)."""
        d = dict(data)
        d["checks"] = [Check(**c) for c in d["checks"]]
        d["delta"] = DeltaStats(**d["delta"]) if d["delta"] is not None else None
        d["segments"] = [SegmentStats(**s) for s in d["segments"]]
        lat = d["latency"]
        d["latency"] = LatencyStats(
            champion=Percentiles(**lat["champion"]) if lat["champion"] is not None else None,
            challenger=Percentiles(**lat["challenger"]) if lat["challenger"] is not None else None,
            p99_ratio=lat["p99_ratio"],
        )
        if d["decision"] not in DECISIONS:
            raise ValueError(f"unknown decision {d['decision']!r}")
        return cls(**d)


# --------------------------------------------------------------------------- analysis
def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _negate(op: str) -> str:
    return "<" if op == ">=" else ">"


def _float(value: Any) -> float | None:
    """A plain float, or None for NaN/inf/None (JSON has no NaN)."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _percentiles(values: np.ndarray) -> Percentiles | None:
    if values.size == 0:
        return None
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return Percentiles(p50=float(p50), p95=float(p95), p99=float(p99))


def _error_kind(message: str) -> str:
    # The mirror logs "ExceptionName: detail" or "timeout after 0.5s"; grouping by the
    # exception name, or the first word of a sentence, keeps details out of the breakdown.
    head = message.split(":", 1)[0].strip()
    return head.split()[0] if head else "unknown"


def _segments(value: Any) -> dict[str, str]:
    """The segment cell as a mapping; a store may hand back JSON text instead of a dict."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _select_versions(
    pairs: pd.DataFrame, champion_version: str | None, challenger_version: str | None
) -> tuple[pd.DataFrame, str | None, str | None]:
    if pairs.empty:
        return pairs, champion_version, challenger_version
    latest = pairs.iloc[int(np.argmax(pd.to_numeric(pairs["ts"], errors="coerce").to_numpy(dtype=float)))]
    champ = champion_version if champion_version is not None else str(latest["champion_version"])
    chall = challenger_version if challenger_version is not None else str(latest["challenger_version"])
    mask = (pairs["champion_version"].astype(str) == champ) & (pairs["challenger_version"].astype(str) == chall)
    return pairs[mask], champ, chall


def _delta_stats(delta: np.ndarray, bins: int) -> DeltaStats | None:
    if delta.size == 0:
        return None
    abs_delta = np.abs(delta)
    p50, p95, p99 = np.percentile(abs_delta, [50, 95, 99])
    # Symmetric range around zero, sized to the data: identical models give one spike in the
    # middle, and the tails stay visible instead of disappearing into a fixed [-1, 1] axis.
    half = float(abs_delta.max()) or 1e-6
    counts, edges = np.histogram(delta, bins=bins, range=(-half, half))
    return DeltaStats(
        mean=float(delta.mean()),
        mean_abs=float(abs_delta.mean()),
        p50_abs=float(p50),
        p95_abs=float(p95),
        p99_abs=float(p99),
        max_abs=float(abs_delta.max()),
        histogram_edges=[float(e) for e in edges],
        histogram_counts=[int(c) for c in counts],
    )


def _segment_stats(
    compared: pd.DataFrame, agree: np.ndarray, delta: np.ndarray, min_size: int
) -> tuple[list[SegmentStats], dict[str, float | None]]:
    seg = [_segments(v) for v in compared["segment"]]
    attributes = sorted({k for s in seg for k in s})
    stats: list[SegmentStats] = []
    gaps: dict[str, float | None] = {}
    for attribute in attributes:
        labels = np.array([s.get(attribute) for s in seg], dtype=object)
        rates: list[float] = []
        for value in sorted({v for v in labels if v is not None}):
            mask = labels == value
            n = int(mask.sum())
            rate = float(agree[mask].mean())
            counted = n >= min_size
            if counted:
                rates.append(rate)
            stats.append(
                SegmentStats(
                    attribute=attribute,
                    value=value,
                    compared=n,
                    agreement_rate=rate,
                    mean_delta=float(delta[mask].mean()),
                    mean_abs_delta=float(np.abs(delta[mask]).mean()),
                    counted=counted,
                )
            )
        gaps[attribute] = max(rates) - min(rates) if len(rates) >= 2 else None
    return stats, gaps


def _check(name: str, value: float | None, threshold: float, kind: Literal["min", "max"]) -> Check:
    if value is None:
        return Check(name, None, threshold, kind, passed=False)
    passed = value >= threshold if kind == "min" else value <= threshold
    return Check(name, value, threshold, kind, passed=bool(passed))


def analyse(
    pairs: pd.DataFrame,
    policy: ShadowPolicyConfig,
    *,
    champion_version: str | None = None,
    challenger_version: str | None = None,
) -> ShadowReport:
    """Compare the challenger with the champion over the logged ``pairs`` and decide.

    ``champion_version`` / ``challenger_version`` pick the pairs to analyse (default: the
    versions of the most recent pair). Raises :class:`~mlops.errors.DatasetError` when a
    column of the pair log is missing.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in pairs.columns]
    if missing:
        raise DatasetError(f"shadow pair log lacks column(s) {', '.join(missing)}")
    selected, champ, chall = _select_versions(pairs, champion_version, challenger_version)
    n_pairs = len(selected)

    champ_score = pd.to_numeric(selected["champion_score"], errors="coerce").to_numpy(dtype=float)
    chall_score = pd.to_numeric(selected["challenger_score"], errors="coerce").to_numpy(dtype=float)
    # Element-wise: an all-null column may arrive as float NaN rather than None.
    errors = [None if pd.isna(e) else str(e) for e in selected["challenger_error"]]
    has_score = ~np.isnan(chall_score)
    # A returned score is only comparable if the champion's is there too (it always should be).
    comparable = has_score & ~np.isnan(champ_score)
    failed = ~has_score | np.array([e is not None for e in errors], dtype=bool)

    kinds: dict[str, int] = {}
    for err, fail in zip(errors, failed, strict=True):
        if fail:
            kind = _error_kind(err) if err is not None else NO_SCORE
            kinds[kind] = kinds.get(kind, 0) + 1
    timeouts = sum(n for k, n in kinds.items() if "timeout" in k.lower())
    error_rate = float(failed.sum()) / n_pairs if n_pairs else None

    compared = selected[comparable]
    delta = chall_score[comparable] - champ_score[comparable]
    threshold = policy.label_threshold
    agree = (chall_score[comparable] >= threshold) == (champ_score[comparable] >= threshold)
    agreement_rate = float(agree.mean()) if agree.size else None
    delta_stats = _delta_stats(delta, policy.histogram_bins)
    segments, gaps = _segment_stats(compared, agree, delta, policy.min_segment_size)

    champ_lat = pd.to_numeric(selected["champion_latency_ms"], errors="coerce").dropna().to_numpy(dtype=float)
    chall_lat = pd.to_numeric(selected["challenger_latency_ms"], errors="coerce").dropna().to_numpy(dtype=float)
    champ_p = _percentiles(champ_lat)
    chall_p = _percentiles(chall_lat)
    ratio = chall_p.p99 / champ_p.p99 if champ_p is not None and chall_p is not None and champ_p.p99 > 0 else None
    latency = LatencyStats(champion=champ_p, challenger=chall_p, p99_ratio=_float(ratio))

    measured_gaps = {a: g for a, g in gaps.items() if g is not None}
    worst_attr = max(measured_gaps, key=lambda a: measured_gaps[a]) if measured_gaps else None
    if worst_attr is None:
        gap_check = Check("segment_agreement_gap", None, policy.max_segment_agreement_gap, "max", True, skipped=True)
    else:
        gap_check = _check(
            f"segment_agreement_gap[{worst_attr}]", measured_gaps[worst_attr], policy.max_segment_agreement_gap, "max"
        )
    checks = [
        _check("pairs", float(n_pairs), float(policy.min_pairs), "min"),
        _check("challenger_error_rate", error_rate, policy.max_challenger_error_rate, "max"),
        _check("agreement_rate", agreement_rate, policy.min_agreement_rate, "min"),
        _check("mean_abs_delta", delta_stats.mean_abs if delta_stats else None, policy.max_mean_abs_delta, "max"),
        _check("p95_abs_delta", delta_stats.p95_abs if delta_stats else None, policy.max_p95_abs_delta, "max"),
        gap_check,
        _check("p99_latency_ratio", latency.p99_ratio, policy.max_challenger_p99_latency_ratio, "max"),
    ]
    decision: Decision
    if not checks[0].passed:
        decision = "keep_shadowing"
    elif all(c.passed for c in checks[1:]):
        decision = "promote"
    else:
        decision = "reject"
    # Breached checks first: the reason that decided is the first line a reader sees.
    reasons = [c.reason for c in sorted(checks, key=lambda c: c.passed)]

    ts = pd.to_numeric(selected["ts"], errors="coerce")
    return ShadowReport(
        decision=decision,
        reasons=reasons,
        checks=checks,
        champion_version=champ,
        challenger_version=chall,
        window_start=_float(ts.min()) if n_pairs else None,
        window_end=_float(ts.max()) if n_pairs else None,
        pairs=n_pairs,
        excluded_pairs=len(pairs) - n_pairs,
        compared=int(comparable.sum()),
        challenger_errors=int(failed.sum()),
        error_rate=error_rate,
        timeouts=timeouts,
        errors_by_kind=dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        label_threshold=threshold,
        agreement_rate=agreement_rate,
        delta=delta_stats,
        segments=segments,
        segment_gaps=gaps,
        latency=latency,
        policy=policy.model_dump(mode="json"),
    )


__all__ = [
    "DECISIONS",
    "NO_SCORE",
    "REQUIRED_COLUMNS",
    "Check",
    "Decision",
    "DeltaStats",
    "LatencyStats",
    "Percentiles",
    "SegmentStats",
    "ShadowReport",
    "analyse",
]
