"""Background threads that share a core with request threads without delaying them.

A serving process answers on its event loop and does its bookkeeping (prediction log, shadow
pairs) in threads. In CPython those threads take turns on the interpreter lock: a thread that
converts or writes for tens of milliseconds makes the event loop wait at every hand-over (up to
the switch interval, 5 ms), and on a busy core the kernel shares the CPU evenly between them.
Two remedies, used by every such thread:

- :class:`Pacer`: the thread holds the lock for at most ``hold_s`` of work, then sleeps
  ``pause_s`` (releasing it), so its work is spread out instead of arriving as one burst;
- :func:`lower_thread_priority`: the thread's niceness is raised, so work done outside the lock
  (compression, file writes, a child process) yields the core to request threads first.

Neither makes the work free: on a core the requests already keep busy, any extra work lengthens
their queue. Best-effort work (the shadow mirror) therefore asks a :class:`CpuGauge` how busy
the process is and steps aside when it has no CPU to spare.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


class Pacer:
    """Call :meth:`breathe` between small pieces of work; it sleeps once ``hold_s`` has passed
    since the last pause. One per thread (not thread-safe)."""

    def __init__(self, hold_s: float, pause_s: float) -> None:
        if hold_s < 0 or pause_s < 0:
            raise ValueError(f"expected hold_s >= 0 and pause_s >= 0, got hold_s={hold_s}, pause_s={pause_s}")
        self.hold_s = hold_s
        self.pause_s = pause_s
        self._since = time.perf_counter()

    def start(self) -> None:
        """A new stretch of work begins now (after the thread waited for something)."""
        self._since = time.perf_counter()

    def breathe(self, pause_s: float | None = None) -> None:
        """Pause (``pause_s``, default the pacer's) if the work has held on for ``hold_s``."""
        if time.perf_counter() - self._since >= self.hold_s:
            time.sleep(self.pause_s if pause_s is None else pause_s)
            self._since = time.perf_counter()


def lower_thread_priority(by: int) -> None:
    """Raise the calling thread's niceness by ``by`` (at most 19). Linux sets it per thread;
    elsewhere, or when not allowed, nothing changes (a background thread works either way)."""
    native = getattr(threading, "get_native_id", None)
    if native is None or not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        tid = native()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + by, 19))


def cpu_capacity(cgroup_cpu_max: Path = CGROUP_CPU_MAX) -> float:
    """The CPU a Python serving process can use, in cores: at most one (its requests run on one
    event loop holding the interpreter lock), fewer when its affinity or cgroup quota allows less
    (a pod's CPU limit is ``cpu.max``: quota and period in microseconds, or ``max``)."""
    capacity = 1.0
    if hasattr(os, "sched_getaffinity"):
        capacity = min(capacity, float(len(os.sched_getaffinity(0))))
    with contextlib.suppress(OSError, ValueError):
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            capacity = min(capacity, int(quota) / int(period))
    return capacity


class CpuGauge:
    """The share of its CPU capacity (:func:`cpu_capacity`) this process used, all threads
    together (child processes not), over the last ``window_s``. :meth:`share` is cheap between
    windows (the last figure) and thread-safe enough for one updating thread."""

    def __init__(self, window_s: float = 0.25, capacity: float | None = None) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = window_s
        self.capacity = cpu_capacity() if capacity is None else capacity
        if self.capacity <= 0:
            raise ValueError(f"capacity must be positive, got {self.capacity}")
        self._wall = time.monotonic()
        self._cpu = time.process_time()
        self._share = 0.0

    def share(self) -> float:
        """The share over the last completed window (0 before the first one ends)."""
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = wall - self._wall
        if elapsed >= self.window_s:
            self._share = (cpu - self._cpu) / (elapsed * self.capacity)
            self._wall, self._cpu = wall, cpu
        return self._share


__all__ = ["CpuGauge", "Pacer", "cpu_capacity", "lower_thread_priority"]
