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
"""

from __future__ import annotations

import contextlib
import os
import threading
import time


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


__all__ = ["Pacer", "lower_thread_priority"]
