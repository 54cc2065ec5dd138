"""Mirror primary requests to the challenger, off the hot path.

    request ── submit_many(rows) ──▶ bounded queue ──▶ worker thread ──▶ challenger call pool
       (put_nowait; full → drop++)                  (timeout per call)   (daemon threads)
                                                         │
                                                         └──▶ ComparisonStore, in small batches

The request side only ever does a ``put_nowait`` of the rows it scored, as ``{column: value}``
dicts: no frame is built on the hot path. A slow, failing or absent challenger cannot make the
primary response wait. When the challenger cannot keep up, the queue fills and further mirrors
are dropped and counted, never buffered without bound.

Shadow work is best effort and steps aside when the serving process is busy: over
``max_cpu`` of its CPU (:class:`~mlops.background.CpuGauge`: at most one core, or its
cgroup quota) the mirror sheds, that is drops and counts (``shed``), every row offered and
every row still queued, without a challenger call, until the process falls back below
``max_cpu - 0.1``. On a core the requests keep busy, any extra work (replaying, pairs, the
store, the challenger child) lengthens their queue and their tail; when the core has room,
every row is mirrored.

The worker batches: from the first queued row it collects for up to ``batch_window_s`` (or
``max_batch_rows`` rows, whichever comes first) and makes one challenger call with them: the
rows as they are to a challenger process that types them itself (``takes_rows``), otherwise
one frame (typed by ``kinds``: float64 numbers, object strings, as in training). So at a
thousand primary requests a second the challenger (one pipe round trip to its process,
:mod:`serving.shadow.process`) is called a few dozen times, not a thousand. The window costs
the pairs nothing but a later write (they are on nobody's critical path), while each call's
fixed cost is CPU the primary shares. Each pair keeps its own champion latency; the
challenger latency is that of the call that scored it (a batch's, so it grows with the batch).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.background import CpuGauge, Pacer, lower_thread_priority
from serving.models import typed_frame
from serving.shadow.store import ComparisonStore, ShadowPair

log = logging.getLogger(__name__)

# Called with a frame, or with the rows as dicts when it has a true ``takes_rows`` attribute.
ChallengerPredict = Callable[[Any], np.ndarray]
# The mirror's threads run below the primary's priority: on a shared core the kernel lets the
# request threads go first (the mirror is best effort; a full queue drops and counts).
BACKGROUND_NICENESS = 10
# Called with the pairs of one challenger call (several mirrored requests).
PairListener = Callable[[list[ShadowPair]], None]
# Called with the number of rows just shed (the app counts them in its metrics).
ShedListener = Callable[[int], None]
# Shedding stops once the process's CPU share falls this far below max_cpu (no flapping at the edge).
SHED_HYSTERESIS = 0.1
# The idle worker wakes this often: to write what is pending, notice close() and read the CPU share.
IDLE_WAKE_S = 0.1


@dataclass(frozen=True)
class _Mirrored:
    """Rows of one primary call to replay (one or several requests' rows)."""

    request_ids: list[str]
    rows: Sequence[Mapping[str, Any]]
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
        lower_thread_priority(BACKGROUND_NICENESS)
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
    Listeners (e.g. the app's Prometheus metrics) are called with the pairs of each challenger
    call, in the worker thread; a listener that raises is logged and ignored. ``kinds``
    (column -> ``number``/``string``) types the challenger's frames; without it (create_app
    sets the champion's) the frame's types are inferred from the values. ``max_batch_rows``
    bounds the rows of one challenger call, ``batch_window_s`` how long the worker collects
    rows for one call after the first (0: only what is already queued). ``max_cpu``: the share
    of the process's CPU capacity above which rows are shed (None: never); ``cpu_share`` the
    share's source (default a :class:`~mlops.background.CpuGauge` of this process).
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
        batch_flush: int = 500,
        threshold: float = 0.5,
        max_in_flight: int = 2,
        flush_interval_s: float = 1.0,
        kinds: Mapping[str, str] | None = None,
        max_batch_rows: int = 256,
        batch_window_s: float = 0.05,
        max_cpu: float | None = None,
        cpu_share: Callable[[], float] | None = None,
    ) -> None:
        if queue_size < 1 or batch_flush < 1 or max_in_flight < 1 or max_batch_rows < 1:
            raise ValueError("queue_size, batch_flush, max_in_flight and max_batch_rows must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if batch_window_s < 0:
            raise ValueError("batch_window_s must be 0 or more")
        if max_cpu is not None and not 0 < max_cpu <= 1:
            raise ValueError(f"max_cpu must be in (0, 1] (a share of the process's CPU) or None, got {max_cpu}")
        self.challenger_predict = challenger_predict
        self.store = store
        self.challenger_version = challenger_version
        # create_app stamps its champion's version here when the caller left it empty.
        self.champion_version = champion_version
        self.timeout_s = timeout_s
        self.batch_flush = batch_flush
        self.threshold = threshold
        self.flush_interval_s = flush_interval_s
        self.kinds = None if kinds is None else dict(kinds)
        self.max_batch_rows = max_batch_rows
        self.batch_window_s = batch_window_s
        self.max_cpu = max_cpu
        self._cpu_share = None if max_cpu is None else (cpu_share or CpuGauge(window_s=IDLE_WAKE_S).share)
        # Read on the request side without a lock: a bool set by the worker alone.
        self._shedding = False
        self._queue: queue.Queue[_Mirrored] = queue.Queue(maxsize=queue_size)
        self._listeners: list[PairListener] = []
        self._shed_listeners: list[ShedListener] = []
        self._lock = threading.Lock()
        counted = ("submitted", "compared", "dropped", "shed", "errors", "timeouts", "agreed", "abandoned")
        self._counts = dict.fromkeys((*counted, "store_errors"), 0)
        self._stop = threading.Event()
        self._deadline = float("inf")
        # The worker's own work (pairs, listeners, the store) is paced: it shares the primary's core.
        self._pacer = Pacer(hold_s=0.0005, pause_s=0.001)
        self._pool = _DaemonCallPool(max_in_flight)
        self._worker = threading.Thread(target=self._work, name="shadow-mirror", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ request side
    @property
    def shedding(self) -> bool:
        """Whether rows offered now are shed (the process is over ``max_cpu``)."""
        return self._shedding

    def shed(self, n: int) -> bool:
        """Count ``n`` offered rows as shed if the mirror is shedding; whether it was. The request
        side asks this first, so a shed row costs it nothing more."""
        if not self._shedding:
            return False
        self._count_shed(n)
        return True

    def _count_shed(self, n: int) -> None:
        self._count("shed", n)
        for listener in self._shed_listeners:
            try:
                listener(n)
            except Exception:
                log.exception("shadow: shed listener failed")

    def submit(
        self,
        request_id: str,
        row: Mapping[str, Any],
        champion_score: float,
        champion_latency_ms: float,
        entity_id: str | None,
        segment: dict[str, str],
    ) -> bool:
        """Queue one scored row for the challenger; False (and a drop counted) when full or closed."""
        return self.submit_many([request_id], [row], [champion_score], champion_latency_ms, [entity_id], [segment])

    def submit_many(
        self,
        request_ids: list[str],
        rows: Sequence[Mapping[str, Any]],
        champion_scores: list[float],
        champion_latency_ms: float,
        entity_ids: list[str | None],
        segments: list[dict[str, str]],
    ) -> bool:
        """Queue rows scored in one primary call (``{column: value}``, None: missing), all or none.

        Nothing is copied: the rows must not be changed afterwards. False (and the rows
        counted as dropped) when the queue is full or the mirror closed.
        """
        n = len(request_ids)
        if not len(rows) == len(champion_scores) == len(entity_ids) == len(segments) == n:
            raise ValueError(
                f"submit_many(): {n} request ids, {len(rows)} rows, {len(champion_scores)} scores, "
                f"{len(entity_ids)} entity ids and {len(segments)} segments"
            )
        item = _Mirrored(request_ids, rows, champion_scores, champion_latency_ms, entity_ids, segments, time.time())
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

    def add_shed_listener(self, listener: ShedListener) -> None:
        """``listener(n)`` is called whenever ``n`` rows are shed (offered or queued)."""
        self._shed_listeners.append(listener)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def stats(self) -> dict[str, int]:
        """Row counts: ``submitted`` (queued), ``dropped`` (queue full or closed), ``shed`` (offered
        or queued while the process was busy, see ``max_cpu``), ``compared``
        (challenger scored), ``errors``, ``timeouts``, ``agreed`` (same label), ``abandoned``
        (still queued when close() ran out of time) and ``store_errors`` (pairs lost writing)."""
        with self._lock:
            return dict(self._counts)

    def _update_shedding(self) -> None:
        if self._cpu_share is None or self.max_cpu is None:
            return
        share = self._cpu_share()
        if self._shedding:
            self._shedding = share >= self.max_cpu - SHED_HYSTERESIS
        else:
            self._shedding = share >= self.max_cpu

    def _work(self) -> None:
        lower_thread_priority(BACKGROUND_NICENESS)
        pending: list[ShadowPair] = []
        last_flush = time.monotonic()
        while True:
            self._update_shedding()
            try:
                # Idle for a moment: write what is pending (cheap now) and notice close() soon.
                first: _Mirrored | None = self._queue.get(timeout=min(self.flush_interval_s, IDLE_WAKE_S))
            except queue.Empty:
                first = None
            if first is not None:
                items = [first]
                rows = len(first.request_ids)
                window_end = time.monotonic() + self.batch_window_s
                while rows < self.max_batch_rows:  # what arrives within the window joins this call
                    wait = 0.0 if self._stop.is_set() else window_end - time.monotonic()
                    try:
                        item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                    items.append(item)
                    rows += len(item.request_ids)
                if time.monotonic() > self._deadline:
                    # Closing and out of time: what is still queued is abandoned, and counted.
                    self._count("abandoned", rows)
                elif self._shedding and not self._stop.is_set():
                    # Queued before the process got busy: replaying it now would add to the load.
                    self._count_shed(rows)
                else:
                    self._pacer.start()
                    pairs = self._replay(items)
                    self._pacer.breathe()
                    self._notify(pairs)
                    self._pacer.breathe()
                    pending.extend(pairs)
            now = time.monotonic()
            if pending and (
                len(pending) >= self.batch_flush or first is None or now - last_flush >= self.flush_interval_s
            ):
                self._flush(pending)
                pending = []
                last_flush = now
            if self._stop.is_set() and self._queue.empty():
                break
        self._flush(pending)

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """``rows`` as the challenger's input: typed by ``kinds`` (float64 numbers, object strings)."""
        if self.kinds is None:
            return pd.DataFrame.from_records(list(rows))
        return typed_frame(rows, self.kinds)

    def _replay(self, items: list[_Mirrored]) -> list[ShadowPair]:
        """One challenger call for every row of ``items``; their pairs, in order."""
        request_ids = [rid for item in items for rid in item.request_ids]
        n = len(request_ids)
        scores: np.ndarray | None = None
        error: str | None = None
        latency_ms: float | None = None
        start = time.perf_counter()
        try:
            rows = items[0].rows if len(items) == 1 else [row for item in items for row in item.rows]
            # A challenger that types rows itself (in its own process) gets them as they are.
            features = rows if getattr(self.challenger_predict, "takes_rows", False) else self.frame(rows)
            future = self._pool.submit(lambda: self.challenger_predict(features), self.timeout_s)
            if future is None:
                raise FutureTimeout
            scores = np.asarray(future.result(timeout=max(self.timeout_s - (time.perf_counter() - start), 0.0)))
            latency_ms = (time.perf_counter() - start) * 1000.0
            if scores.shape != (n,):
                raise ValueError(f"challenger returned shape {scores.shape} for {n} rows")
        except FutureTimeout:
            scores, latency_ms = None, None
            error = f"timeout after {self.timeout_s:g}s"
            self._count("timeouts", n)
        except Exception as exc:
            scores = None
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._count("errors", n)
        challenger: list[float | None] = [None] * n if scores is None else [float(x) for x in scores.tolist()]
        mirrored = (
            (item, rid, champion, entity, segment)
            for item in items
            for rid, champion, entity, segment in zip(
                item.request_ids, item.champion_scores, item.entity_ids, item.segments, strict=True
            )
        )
        pairs = [
            ShadowPair(
                request_id=rid,
                ts=item.ts,
                entity_id=entity,
                segment=segment,
                champion_version=self.champion_version,
                challenger_version=self.challenger_version,
                champion_score=float(champion),
                challenger_score=challenger_score,
                champion_latency_ms=item.champion_latency_ms,
                challenger_latency_ms=latency_ms,
                challenger_error=error,
            )
            for (item, rid, champion, entity, segment), challenger_score in zip(mirrored, challenger, strict=True)
        ]
        if scores is not None:
            self._count("compared", n)
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
            self._pacer.start()
            self.store.append(pairs, self._pacer.breathe)
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


__all__ = ["ChallengerPredict", "PairListener", "ShadowMirror", "ShedListener"]
