"""Prometheus metrics of one app, in the app's own registry.

A registry per app (not prometheus_client's global one) lets a process, or a test session,
build many apps without "duplicated timeseries" errors, and keeps each app's figures its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from serving.shadow.store import ShadowPair

# Scoring one row takes milliseconds; the upper buckets catch a stalled challenger.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """What ``/metrics`` exposes.

    ``serving_prediction_latency_seconds{variant}`` times the model call alone, so champion
    and challenger are compared like for like; ``serving_request_latency_seconds{endpoint}``
    times the whole primary handler (validation, feature read, scoring).
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_latency = Histogram(
            "serving_request_latency_seconds",
            "Primary request handling time",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prediction_latency = Histogram(
            "serving_prediction_latency_seconds",
            "Model scoring time per call, by variant",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("serving_predictions", "Rows scored, by variant", ["variant"], registry=r)
        self.errors = Counter(
            "serving_errors",
            "Primary requests that failed: validation (422), unavailable (503), internal (500), "
            "too_large (413, body over its limit) or timeout (408, body not received in time)",
            ["endpoint", "kind"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "serving_shadow_dropped", "Rows not mirrored because the shadow queue was full", registry=r
        )
        self.shadow_shed = Counter(
            "serving_shadow_shed", "Rows not mirrored because the serving process had no CPU to spare", registry=r
        )
        self.shadow_compared = Counter("serving_shadow_compared", "Mirrored rows the challenger scored", registry=r)
        self.shadow_agreement = Counter(
            "serving_shadow_agreement", "Mirrored rows where both variants gave the same label", registry=r
        )
        self.shadow_challenger_errors = Counter(
            "serving_shadow_challenger_errors",
            "Mirrored rows the challenger failed to score, by kind (error, timeout)",
            ["kind"],
            registry=r,
        )
        self.ab_requests = Counter(
            "serving_ab_requests", "Rows routed to each A/B variant", ["variant", "alias"], registry=r
        )
        self.ab_errors = Counter("serving_ab_errors", "Rows an A/B variant failed to score", ["variant"], registry=r)
        self.ab_latency = Histogram(
            "serving_ab_prediction_latency_seconds",
            "Model scoring time per call, by A/B variant",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "serving_model_info", "The versions served (value 1)", ["variant", "model", "version"], registry=r
        )
        # CPU seconds, resident memory and start time of the process: what cost per 1,000
        # predictions and the right-sizing hints are computed from.
        ProcessCollector(registry=r)

    def watch_prediction_log(self, stats: Callable[[], dict[str, int]]) -> None:
        """Expose the prediction log's counters, read at scrape time (nothing on the hot path)."""
        self.registry.register(_PredictionLogCollector(stats))

    def observe_shadow_call(self, pairs: list[ShadowPair], agreed: int) -> None:
        """Count the pairs of one replayed call, ``agreed`` of them with the same label (worker thread)."""
        if not pairs:
            return
        first = pairs[0]
        if first.challenger_score is None:
            kind = "timeout" if (first.challenger_error or "").startswith("timeout") else "error"
            self.shadow_challenger_errors.labels(kind).inc(len(pairs))
            return
        if first.challenger_latency_ms is not None:
            self.prediction_latency.labels("challenger").observe(first.challenger_latency_ms / 1000.0)
        self.predictions.labels("challenger").inc(len(pairs))
        self.shadow_compared.inc(len(pairs))
        self.shadow_agreement.inc(agreed)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PredictionLogCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.stats()
        rows = CounterMetricFamily(
            "serving_prediction_log_rows",
            "Scored rows by what the prediction log did with them (written, dropped, sampled_out)",
            labels=["outcome"],
        )
        for outcome in ("written", "dropped", "sampled_out"):
            rows.add_metric([outcome], s[f"rows_{outcome}"])
        yield rows
        yield CounterMetricFamily(
            "serving_prediction_log_write_errors", "Failed prediction log writes", value=s["write_errors"]
        )
        yield GaugeMetricFamily(
            "serving_prediction_log_buffered_rows", "Rows waiting to be written", value=s["buffered_rows"]
        )


__all__ = ["LATENCY_BUCKETS", "ServingMetrics"]
