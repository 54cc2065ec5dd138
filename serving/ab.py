"""A/B routing: weighted variants with sticky assignment by entity id (``config/ab_testing.yaml``).

An entity id is hashed with SHA-256 (salted) to a point in [0, 1); the variants, in name
order, own consecutive slices of [0, 1) as wide as their weights, and the id goes to the
variant whose slice holds its point. Consequences:

* sticky: the same id, salt and weights give the same variant in every process and on every
  restart (Python's ``hash`` is randomised per process, so it cannot be used);
* slices follow variant *names*, not their order in the YAML, so reordering the file moves
  nobody; changing weights moves only the ids whose point changes slice;
* a variant with weight 0 owns an empty slice and never receives traffic;
* a different salt (one per experiment) reshuffles ids, so the same users do not land in
  the treatment group of every experiment.

Whether A/B routing is on at all (``config.enabled``) is the caller's decision.
:class:`AbRouter` binds the variants to loaded models for the online app; requests without an
entity id go to the variant serving the champion. :class:`VariantTally` counts requests,
errors, latency and scores per variant for reporting.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from serving.config import AbTestingConfig

if TYPE_CHECKING:
    from serving.models import LoadedModel

# 64 bits of the digest: slices are exact far beyond any realistic weight precision.
_HASH_BITS = 64


def bucket(entity_id: str, *, salt: str = "") -> float:
    """The id's stable point in [0, 1)."""
    # A separator keeps ("ab", "c") and ("a", "bc") apart.
    digest = hashlib.sha256(f"{salt}\x1f{entity_id}".encode()).digest()
    return int.from_bytes(digest[: _HASH_BITS // 8], "big") / 2**_HASH_BITS


def assign_variant(entity_id: str, config: AbTestingConfig, *, salt: str = "") -> str:
    """The name of the variant serving ``entity_id`` (sticky, weighted by ``config``).

    Raises ``ValueError`` for an empty id: every anonymous request would share one bucket and
    skew the split, so the caller must decide what such requests get (usually the champion).
    """
    if not entity_id:
        raise ValueError("an entity id is needed for sticky A/B assignment (got an empty one)")
    point = bucket(entity_id, salt=salt)
    upper = 0.0
    last_positive = ""
    for name in sorted(config.variants):
        weight = config.variants[name].weight
        if weight <= 0:
            continue
        last_positive = name
        upper += weight
        if point < upper:
            return name
    # Weights sum to 1 within float rounding; a point above the rounded total belongs to the
    # last variant that receives traffic, never to a zero-weight one.
    return last_positive


class AbRouter:
    """Sticky weighted routing of requests to loaded models, by registry alias.

    ``models`` maps an alias (``champion``, ``challenger``) to the model it names now. Every
    alias a variant with traffic uses must be loaded, or the router refuses to start.
    """

    def __init__(self, config: AbTestingConfig, models: Mapping[str, LoadedModel], *, salt: str = "") -> None:
        missing = sorted({v.alias for v in config.variants.values() if v.weight > 0 and v.alias not in models})
        if missing:
            raise ValueError(f"A/B variants need the {', '.join(missing)} model(s), which are not loaded")
        champions = sorted(n for n, v in config.variants.items() if v.alias == "champion")
        if not champions:
            raise ValueError(
                "A/B testing needs a variant serving the champion (requests without an entity id go there)"
            )
        self.config = config
        self.salt = salt
        self.models = {name: models[v.alias] for name, v in config.variants.items() if v.alias in models}
        self.default = champions[0]
        self.tally = VariantTally()

    def route(self, entity_id: object | None) -> str:
        """The variant name for a request (the champion's variant when there is no id)."""
        if entity_id is None or entity_id == "":
            return self.default
        return assign_variant(str(entity_id), self.config, salt=self.salt)

    def alias(self, variant: str) -> str:
        return self.config.variants[variant].alias

    def status(self) -> dict[str, Any]:
        """The figures ``GET /ab`` shows: per variant its alias, weight and model version, the
        requests and errors it has served, and their mean latency and score."""
        stats = self.tally.snapshot()
        variants: dict[str, Any] = {}
        for name, variant in sorted(self.config.variants.items()):
            model = self.models.get(name)
            served = stats.get(name)
            variants[name] = {
                "alias": variant.alias,
                "weight": variant.weight,
                "model_version": None if model is None else model.version,
                "requests": 0 if served is None else served.requests,
                "errors": 0 if served is None else served.errors,
                "error_rate": 0.0 if served is None else served.error_rate,
                "mean_latency_ms": None if served is None else served.mean_latency_ms,
                "mean_score": None if served is None else served.mean_score,
            }
        return {"enabled": True, "sticky_key": self.config.sticky_key, "variants": variants}


@dataclass(frozen=True)
class VariantStats:
    requests: int
    errors: int
    error_rate: float
    mean_latency_ms: float
    # Mean predicted score over the successful requests (the positive-class probability).
    mean_score: float | None


class VariantTally:
    """Thread-safe per-variant counters (requests, errors, latency, scores)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._latency_sum: dict[str, float] = {}
        self._score_sum: dict[str, float] = {}
        self._scored: dict[str, int] = {}

    def record(self, variant: str, latency_ms: float, *, score: float | None = None, error: bool = False) -> None:
        with self._lock:
            self._requests[variant] = self._requests.get(variant, 0) + 1
            self._latency_sum[variant] = self._latency_sum.get(variant, 0.0) + latency_ms
            if error:
                self._errors[variant] = self._errors.get(variant, 0) + 1
            elif score is not None:
                self._score_sum[variant] = self._score_sum.get(variant, 0.0) + score
                self._scored[variant] = self._scored.get(variant, 0) + 1

    def snapshot(self) -> dict[str, VariantStats]:
        """A consistent copy of the counts so far, by variant name."""
        with self._lock:
            out: dict[str, VariantStats] = {}
            for name in sorted(self._requests):
                n = self._requests[name]
                errors = self._errors.get(name, 0)
                scored = self._scored.get(name, 0)
                out[name] = VariantStats(
                    requests=n,
                    errors=errors,
                    error_rate=errors / n,
                    mean_latency_ms=self._latency_sum[name] / n,
                    mean_score=self._score_sum[name] / scored if scored else None,
                )
            return out


__all__ = ["AbRouter", "VariantStats", "VariantTally", "assign_variant", "bucket"]
