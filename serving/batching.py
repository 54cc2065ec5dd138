"""Adaptive micro-batching: concurrent requests scored together in one model call.

    /predict ─ submit(job) ─▶ queue ─▶ drain (one at a time: the request that found the
                                  │        batcher idle scores the first batch itself when
                                  │        scoring is on the loop; a task drains the rest)
                 await ◀── result │      gather: while requests keep arriving, at most
                                  │        max_batch_size jobs, at most max_wait after the oldest
                                  └──▶ score(jobs) ─▶ one result per job (or its own error)

As MLServer's and Triton's adaptive batching, with one difference: nothing ever waits on a
timer. A batch starts as soon as the scorer is free and no further request is already on its
way in: the drain yields to the event loop once, and keeps yielding only while that
brings new jobs (requests whose bytes had already arrived), up to ``max_batch_size`` jobs and
``max_wait_s`` after the oldest one was queued. A lone request is therefore scored at once
(one loop turn, ~10 µs, not a millisecond), and batches form by themselves under load: while
one batch is scored, the next requests queue, and they are scored together next.

Errors stay per request: when a batch's call raises, each of its jobs is scored again alone,
so only the job at fault gets the exception (validation errors never reach the queue: the
endpoints check their rows first). A request that went away (its future cancelled) is skipped.

``offload``: the scoring call runs in the thread pool (scikit-learn, ~3 ms per call, would
stall the event loop and every health check behind it); otherwise on the loop itself, which
the compiled scorer (~30 µs a row) can afford: a full batch of 32 rows is about a millisecond.

The counts (calls, rows, retries) are exposed at scrape time by :class:`BatchCollector`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from serving.config import MicroBatchingConfig

T = TypeVar("T")
R = TypeVar("R")

# What a batch is scored with: the jobs in, one result per job out, in order.
ScoreMany = Callable[[list[T]], Sequence[R]]


class MicroBatcher(Generic[T, R]):
    """Scores jobs submitted concurrently (from one event loop) in shared calls of ``score``."""

    def __init__(
        self,
        score: ScoreMany[T, R],
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.001,
        offload: bool = False,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be 0 or more, got {max_wait_s}")
        self.score = score
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.offload = offload
        self._queue: deque[tuple[T, asyncio.Future[R], float]] = deque()
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        # Read by /metrics from another thread.
        self._lock = threading.Lock()
        self._counts = {"calls": 0, "rows": 0, "retried": 0, "largest": 0}

    @classmethod
    def from_config(cls, score: ScoreMany[T, R], config: MicroBatchingConfig, *, offload: bool) -> MicroBatcher[T, R]:
        return cls(score, max_batch_size=config.max_batch_size, max_wait_s=config.max_wait_ms / 1000.0, offload=offload)

    def stats(self) -> dict[str, int]:
        """``calls`` (model calls made), ``rows`` (jobs scored in them), ``retried`` (jobs scored
        again alone after their batch failed) and ``largest`` (the largest batch so far)."""
        with self._lock:
            return dict(self._counts)

    async def submit(self, job: T) -> R:
        """``job``'s result, scored with whatever else is queued; raises what scoring it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((job, future, loop.time()))
        if not self._draining:
            self._draining = True
            if self.offload:
                self._task = loop.create_task(self._drain())
            else:
                try:
                    await self._lead(loop)
                except BaseException:
                    future.cancel()  # gone: the drain task it left skips its job
                    raise
        return await future

    async def _lead(self, loop: asyncio.AbstractEventLoop) -> None:
        """The first batch after the batcher was idle, scored by the request that found it so.

        A lone request (nearly every request at low load) is then scored without a task and
        answers a loop turn sooner. Only for scoring on the loop: once the batch is taken
        nothing is awaited until it is settled, so this request can only be cancelled while
        gathering, with the others' jobs still queued. What is queued after its batch (more
        than one batch arrived, or arrived meanwhile) goes to a drain task.
        """
        live: list[tuple[T, asyncio.Future[R]]] = []
        try:
            if self.max_wait_s > 0:
                await self._gather(loop)
            else:
                await asyncio.sleep(0)  # as a drain task would start: requests already in hand join
            n = min(len(self._queue), self.max_batch_size)
            live = [(job, future) for job, future, _ in (self._queue.popleft() for _ in range(n)) if not future.done()]
            if live:
                await self._score_batch(live)
        except BaseException as exc:  # cancelled while gathering: others' jobs are still queued
            for _, future in live:
                _settle(future, error=RuntimeError(f"micro-batcher stopped: {exc!r}"))
            raise
        finally:
            if self._queue:
                # A task, not this request: a request leading the drain would answer only once
                # the queue is empty. It ends when the queue is, so no task outlives its event
                # loop. Held here: the loop keeps only a weak reference to its tasks.
                self._task = loop.create_task(self._drain())
            else:
                self._draining = False

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        live: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                await self._gather(loop)
                n = min(len(self._queue), self.max_batch_size)
                batch = [self._queue.popleft() for _ in range(n)]
                live = [(job, future) for job, future, _ in batch if not future.done()]
                if live:
                    await self._score_batch(live)
        except BaseException as exc:  # cancelled with the loop: nobody queued may wait forever
            waiting = [future for _, future in live] + [future for _, future, _ in self._queue]
            self._queue.clear()
            for future in waiting:
                _settle(future, error=RuntimeError(f"micro-batcher stopped: {exc!r}"))
            raise
        finally:
            self._draining = False

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let requests already on their way in join, while they keep coming and time allows."""
        if self.max_wait_s <= 0:
            return
        deadline = self._queue[0][2] + self.max_wait_s
        while len(self._queue) < self.max_batch_size and loop.time() < deadline:
            before = len(self._queue)
            await asyncio.sleep(0)
            if len(self._queue) == before:
                return

    async def _call(self, jobs: list[T]) -> Sequence[R]:
        results = await run_in_threadpool(self.score, jobs) if self.offload else self.score(jobs)
        if len(results) != len(jobs):
            raise RuntimeError(f"batch scoring returned {len(results)} results for {len(jobs)} jobs")
        with self._lock:
            self._counts["calls"] += 1
            self._counts["rows"] += len(jobs)
            self._counts["largest"] = max(self._counts["largest"], len(jobs))
        return results

    async def _score_batch(self, live: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._call([job for job, _ in live])
        except Exception as exc:
            if len(live) == 1:
                _settle(live[0][1], error=exc)
                return
            # One bad job must not fail its neighbours: each one alone, each with its own answer.
            with self._lock:
                self._counts["retried"] += len(live)
            for job, future in live:
                if future.done():
                    continue
                try:
                    (result,) = await self._call([job])
                except Exception as alone:
                    _settle(future, error=alone)
                else:
                    _settle(future, result=result)
            return
        for (_, future), result in zip(live, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future[R], *, result: R | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the request went away meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


class BatchCollector(Collector):
    """A batcher's counts as Prometheus counters, read at scrape time (nothing on the hot path).

    ``prefix`` names the counters (``<prefix>_calls``, ``_rows``, ``_retried``); ``calls`` says
    what one call is (a model call, an online-store read).
    """

    def __init__(
        self,
        stats: Callable[[], dict[str, int]],
        prefix: str = "serving_microbatch",
        calls: str = "Model calls made by the /predict micro-batcher",
    ) -> None:
        self.stats = stats
        self.prefix = prefix
        self.calls = calls

    def collect(self) -> Iterator[CounterMetricFamily]:
        s = self.stats()
        yield CounterMetricFamily(f"{self.prefix}_calls", self.calls, value=s["calls"])
        yield CounterMetricFamily(f"{self.prefix}_rows", "Requests served in those calls", value=s["rows"])
        yield CounterMetricFamily(
            f"{self.prefix}_retried", "Requests served again alone after their batch failed", value=s["retried"]
        )


__all__ = ["BatchCollector", "MicroBatcher", "ScoreMany"]
