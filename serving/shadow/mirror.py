"""Mirror primary requests to the challenger, off the hot path.

    request thread ── submit() ──▶ bounded queue ──▶ worker thread ──▶ challenger call pool
         (put_nowait; full → drop++)                 (timeout per call)   (daemon threads)
                                                          │
                                                          └──▶ ComparisonStore, in small batches

The request thread only ever does a ``put_nowait``: a slow, failing or absent challenger
cannot make the primary response wait. When the challenger cannot keep up, the queue fills
and further mirrors are dropped and counted, never buffered without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from serving.shadow.store import ComparisonStore, ShadowPair

log = logging.getLogger(__name__)

ChallengerPredict = Callable[[pd.DataFrame], np.ndarray]
# Called with the pairs of one replayed primary call (one pair for /predict).
PairListener = Callable[[list[ShadowPair]], None]


@dataclass(frozen=True)
class _Mirrored:
    """One primary call to replay: one row (``/predict``) or several (``/predict/batch``)."""

    request_ids: list[str]
    features: pd.DataFrame
    champion_scores: list[float]
    champion_latency_ms: float
    entity_ids: list[str | None]
    segments: list[dict[str, str]]
    ts: float


class _DaemonCallPool:
    """A few daemon threads running challenger calls.

    ``ThreadPoolExecutor`` joins its threads at interpreter exit, so a challenger that hangs
    would hang the server's shutdown; daemon threads are abandoned instead. A semaphore
    bounds the calls in flight, so calls that outlive their timeout cannot pile up.
    """

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(workers)
        self._threads = [
            threading.Thread(target=self._run, name=f"shadow-call-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as exc:
                        future.set_exception(exc)
            finally:
                self._slots.release()

    def submit(self, fn: Callable[[], Any], wait_s: float) -> Future[Any] | None:
        """Start ``fn``; None when every thread is still busy after ``wait_s``."""
        if not self._slots.acquire(timeout=max(wait_s, 0.0)):
            return None
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class ShadowMirror:
    """Replays primary requests on the challenger and logs each pair to a :class:`ComparisonStore`.

    ``threshold`` turns scores into labels for the agreement count. ``max_in_flight`` bounds
    the challenger calls running at once (timed-out calls keep their thread until they return).
    Listeners (e.g. the app's Prometheus metrics) are called with the pairs of each replayed
    call, in the worker thread; a listener that raises is logged and ignored.
    """

    def __init__(
        self,
        challenger_predict: ChallengerPredict,
        store: ComparisonStore,
        *,
        challenger_version: str,
        champion_version: str = "",
        queue_size: int = 1000,
        timeout_s: float = 0.5,
        batch_flush: int = 50,
        threshold: float = 0.5,
        max_in_flight: int = 2,
        flush_interval_s: float = 0.2,
    ) -> None:
        if queue_size < 1 or batch_flush < 1 or max_in_flight < 1:
            raise ValueError("queue_size, batch_flush and max_in_flight must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.challenger_predict = challenger_predict
        self.store = store
        self.challenger_version = challenger_version
        # create_app stamps its champion's version here when the caller left it empty.
        self.champion_version = champion_version
        self.timeout_s = timeout_s
        self.batch_flush = batch_flush
        self.threshold = threshold
        self.flush_interval_s = flush_interval_s
        self._queue: queue.Queue[_Mirrored] = queue.Queue(maxsize=queue_size)
        self._listeners: list[PairListener] = []
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("submitted", "compared", "dropped", "errors", "timeouts", "agreed", "abandoned", "store_errors"), 0
        )
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._pool = _DaemonCallPool(max_in_flight)
        self._worker = threading.Thread(target=self._work, name="shadow-mirror", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ request side
    def submit(
        self,
        request_id: str,
        features_df: pd.DataFrame,
        champion_score: float,
        champion_latency_ms: float,
        entity_id: str | None,
        segment: dict[str, str],
    ) -> bool:
        """Queue one primary request for the challenger; False (and a drop counted) when full or closed."""
        return self.submit_many(
            [request_id], features_df, [champion_score], champion_latency_ms, [entity_id], [segment]
        )

    def submit_many(
        self,
        request_ids: list[str],
        features_df: pd.DataFrame,
        champion_scores: list[float],
        champion_latency_ms: float,
        entity_ids: list[str | None],
        segments: list[dict[str, str]],
    ) -> bool:
        """Queue several rows scored in one primary call; the challenger scores them in one call too.

        Both latencies of each resulting pair are then whole-call latencies, so they stay comparable.
        """
        n = len(request_ids)
        item = _Mirrored(
            request_ids, features_df, champion_scores, champion_latency_ms, entity_ids, segments, time.time()
        )
        with self._lock:
            # Under the lock so nothing is queued after close() decided the queue was drained.
            accepted = not self._stop.is_set()
            if accepted:
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    accepted = False
            self._counts["submitted" if accepted else "dropped"] += n
        return accepted

    # ------------------------------------------------------------------ worker side
    def add_listener(self, listener: PairListener) -> None:
        self._listeners.append(listener)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def stats(self) -> dict[str, int]:
        """Row counts: ``submitted`` (queued), ``dropped`` (queue full or closed), ``compared``
        (challenger scored), ``errors``, ``timeouts``, ``agreed`` (same label), ``abandoned``
        (still queued when close() ran out of time) and ``store_errors`` (pairs lost writing)."""
        with self._lock:
            return dict(self._counts)

    def _work(self) -> None:
        pending: list[ShadowPair] = []
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval_s)
            except queue.Empty:
                item = None
            if item is not None:
                if time.monotonic() > self._deadline:
                    # Closing and out of time: what is still queued is abandoned, and counted.
                    self._count("abandoned", len(item.request_ids))
                else:
                    pairs = self._replay(item)
                    self._notify(pairs)
                    pending.extend(pairs)
            now = time.monotonic()
            if pending and (
                len(pending) >= self.batch_flush or item is None or now - last_flush >= self.flush_interval_s
            ):
                self._flush(pending)
                pending = []
                last_flush = now
            if self._stop.is_set() and self._queue.empty():
                break
        self._flush(pending)

    def _replay(self, item: _Mirrored) -> list[ShadowPair]:
        scores: np.ndarray | None = None
        error: str | None = None
        latency_ms: float | None = None
        start = time.perf_counter()
        future = self._pool.submit(lambda: self.challenger_predict(item.features), self.timeout_s)
        try:
            if future is None:
                raise FutureTimeout
            scores = np.asarray(future.result(timeout=max(self.timeout_s - (time.perf_counter() - start), 0.0)))
            latency_ms = (time.perf_counter() - start) * 1000.0
            if scores.shape != (len(item.request_ids),):
                raise ValueError(f"challenger returned shape {scores.shape} for {len(item.request_ids)} rows")
        except FutureTimeout:
            scores, latency_ms = None, None
            error = f"timeout after {self.timeout_s:g}s"
            self._count("timeouts", len(item.request_ids))
        except Exception as exc:
            scores = None
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._count("errors", len(item.request_ids))
        pairs = [
            ShadowPair(
                request_id=rid,
                ts=item.ts,
                entity_id=entity,
                segment=segment,
                champion_version=self.champion_version,
                challenger_version=self.challenger_version,
                champion_score=float(champion),
                challenger_score=None if scores is None else float(scores[i]),
                champion_latency_ms=item.champion_latency_ms,
                challenger_latency_ms=latency_ms,
                challenger_error=error,
            )
            for i, (rid, champion, entity, segment) in enumerate(
                zip(item.request_ids, item.champion_scores, item.entity_ids, item.segments, strict=True)
            )
        ]
        if scores is not None:
            self._count("compared", len(pairs))
            self._count("agreed", sum(self._agree(p) for p in pairs))
        return pairs

    def agrees(self, pair: ShadowPair) -> bool:
        """Whether both variants give ``pair`` the same label at ``threshold``."""
        return self._agree(pair)

    def _agree(self, pair: ShadowPair) -> bool:
        if pair.challenger_score is None:
            return False
        return (pair.champion_score >= self.threshold) == (pair.challenger_score >= self.threshold)

    def _notify(self, pairs: list[ShadowPair]) -> None:
        for listener in self._listeners:
            try:
                listener(pairs)
            except Exception:
                log.exception("shadow: pair listener failed")

    def _flush(self, pairs: list[ShadowPair]) -> None:
        if not pairs:
            return
        try:
            self.store.append(pairs)
        except Exception:
            log.exception("shadow: could not write %d pairs to %s", len(pairs), self.store.path)
            self._count("store_errors", len(pairs))

    # ------------------------------------------------------------------ lifecycle
    def close(self, timeout: float = 5.0) -> bool:
        """Stop accepting mirrors, replay what is queued within ``timeout`` seconds, write it, stop.

        Items still queued at the deadline are dropped (and counted). Returns True when the
        worker finished in time. Calling it again is harmless.
        """
        with self._lock:
            self._deadline = time.monotonic() + timeout
            self._stop.set()
        # The grace period covers the last in-flight call's own timeout and the final write.
        self._worker.join(timeout + self.timeout_s + 5.0)
        self._pool.shutdown()
        return not self._worker.is_alive()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()


__all__ = ["ChallengerPredict", "PairListener", "ShadowMirror"]
