"""The serving room's own settings: ``config/ab_testing.yaml``, ``config/shadow.yaml``, and the
online app's micro-batching (``mlops serve --micro-batching/--batch-max-size/--batch-max-wait-ms``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops.config import StrictModel

# `mlops serve`'s shadow mirror sheds rows while the serving process uses more than this share
# of its CPU (serving.shadow.mirror: requests first, the shadow only in the room they leave).
SHADOW_MAX_CPU = 0.7


class AbTestingConfig(StrictModel):
    """``config/ab_testing.yaml``: weighted variants with sticky assignment."""

    class Variant(StrictModel):
        alias: Literal["champion", "challenger"]
        weight: float = Field(ge=0, le=1)

    enabled: bool = False
    sticky_key: str = "entity_id"
    variants: dict[str, Variant]

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> AbTestingConfig:
        total = sum(v.weight for v in self.variants.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"variant weights summing to 1.0 (they sum to {total:g})")
        return self


class ShadowPolicyConfig(StrictModel):
    """``config/shadow.yaml``: when ``mlops shadow report`` promotes, keeps shadowing or rejects.

    Every ``min_*`` is a floor and every ``max_*`` a ceiling; the rule applying them is in
    :mod:`serving.shadow.analysis`. Rates are fractions (0.95, not 95).
    """

    # Fewer logged pairs than this: not enough evidence either way, keep shadowing.
    min_pairs: int = Field(default=500, ge=1)
    # Scores at or above this are the positive label when agreement is counted.
    label_threshold: float = Field(default=0.5, gt=0, lt=1)
    min_agreement_rate: float = Field(default=0.95, ge=0, le=1)
    # On |challenger score - champion score|, over the compared pairs.
    max_mean_abs_delta: float = Field(default=0.05, ge=0, le=1)
    max_p95_abs_delta: float = Field(default=0.15, ge=0, le=1)
    # Largest difference of agreement rate between two segments of one attribute (e.g. sex).
    max_segment_agreement_gap: float = Field(default=0.05, ge=0, le=1)
    # Segments with fewer compared pairs are reported but do not decide the gap.
    min_segment_size: int = Field(default=30, ge=1)
    # Challenger calls that failed or timed out, over all pairs.
    max_challenger_error_rate: float = Field(default=0.01, ge=0, le=1)
    # Challenger p99 latency / champion p99 latency.
    max_challenger_p99_latency_ratio: float = Field(default=1.5, gt=0)
    # Bins of the signed score-delta histogram in the report.
    histogram_bins: int = Field(default=20, ge=2, le=200)


class MicroBatchingConfig(StrictModel):
    """Adaptive micro-batching of ``POST /predict`` (:mod:`serving.batching`).

    Concurrent single-row requests are scored together in one model call of at most
    ``max_batch_size`` rows. A request never waits for company: a batch starts as soon as the
    scorer is free and no further request is already arriving, and no later than
    ``max_wait_ms`` after its oldest request was queued (while the scorer is busy, requests
    queue behind it as they would anyway).
    """

    enabled: bool = True
    max_batch_size: int = Field(default=32, ge=1, le=1000)
    max_wait_ms: float = Field(default=1.0, ge=0, le=50)


__all__ = ["AbTestingConfig", "MicroBatchingConfig", "ShadowPolicyConfig"]
