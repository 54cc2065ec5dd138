"""Score the shadow challenger in a child process.

Scoring is CPU-bound Python (pandas + scikit-learn); run in a thread of the serving process it
holds the GIL for milliseconds at a time, and every primary request waits behind it. In a
child process the challenger competes only for CPU, never for the primary's interpreter:

    mirror call thread ── send(rows) ──▶ pipe ──▶ child: model.score_rows(rows) ──▶ scores
                       ◀── (ok, scores | error text) ──┘

A predictor that can score rows given as ``{column: value}`` dicts (a served
:class:`~serving.models.LoadedModel` can) is sent the mirrored rows as they are: pickling a
list of dicts is cheap, and typing them (the frame, or the compiled scorer's arrays) happens in
the child, not under the serving process's interpreter lock. Other predictors get a frame.

The child runs at a lower CPU priority (``nice``, default 10): on a shared core the kernel then
lets the primary's threads preempt it at once when a request arrives, so the challenger's calls
fill the primary's idle time instead of delaying its answers. A challenger that cannot keep up
then times out and the mirror drops and counts what it cannot replay: shadow mode is best
effort by design, the primary's latency is not.

One child, one pipe, calls serialised by a lock. A call the mirror abandoned after its
timeout still holds the lock until the child answers, so a hung challenger makes later
mirrors time out (and the mirror's queue drop and count them): it cannot reach the primary.
A child that died is reported as an error on each call, not restarted silently. Every failure
is a :class:`~mlops.errors.ChallengerProcessError`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlops.errors import ChallengerProcessError


class Predictor(Protocol):
    def predict(self, features: pd.DataFrame) -> np.ndarray: ...


# What a call sends: a frame, or (to a predictor with ``score_rows``) the rows as dicts.
Features = pd.DataFrame | Sequence[Mapping[str, Any]]


def _score(predictor: Predictor, features: Features) -> np.ndarray:
    if isinstance(features, pd.DataFrame):
        return np.asarray(predictor.predict(features), dtype="float64")
    return np.asarray(predictor.score_rows(features), dtype="float64")  # type: ignore[attr-defined]


def _serve_calls(conn: Connection, predictor: Predictor, nice: int) -> None:
    """The child: say it is ready (the model is unpickled, its libraries imported), then answer
    each call with ``(True, scores)`` or ``(False, "Type: message")``."""
    # Ctrl-C reaches the whole process group; the serving process decides when this child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        # After start-up (imports at full speed), so a busy machine does not delay readiness.
        os.nice(nice)
    conn.send((True, "ready"))
    while True:
        try:
            frame = conn.recv()
        except (EOFError, OSError):  # the serving process is gone
            return
        if frame is None:
            return
        try:
            answer: tuple[bool, Any] = (True, _score(predictor, frame))
        except Exception as exc:  # the mirror records the error with the pair
            answer = (False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:  # the serving process is gone (shut down mid-call): nothing to answer
            return


class ProcessChallenger:
    """A callable ``features -> scores`` backed by ``predictor`` in a spawned child process.

    ``predictor`` must pickle (a fitted model wrapper does). Spawn, not fork: the serving
    process may already run threads (OpenMP, the mirror), which fork does not copy safely.
    ``takes_rows``: the predictor has ``score_rows``, so callers may send rows as dicts.
    ``nice``: added to the child's niceness once it is ready (0: the primary's priority).
    """

    def __init__(self, predictor: Predictor, *, start_timeout_s: float = 120.0, nice: int = 10) -> None:
        if not 0 <= nice <= 19:
            raise ValueError(f"nice must be 0-19 (a lower priority than the primary, or the same), got {nice}")
        self.takes_rows = callable(getattr(predictor, "score_rows", None))
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_calls, args=(child, predictor, nice), name="shadow-challenger", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        # Wait until the child can score: a fresh interpreter takes seconds to import pandas and
        # scikit-learn, and mirrored calls would otherwise time out until it has.
        ready = False
        try:
            ready = self._conn.poll(start_timeout_s) and self._conn.recv() == (True, "ready")
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close(timeout=1.0)
            raise ChallengerProcessError(
                f"challenger process did not start within {start_timeout_s:g} s (exit code {self._process.exitcode})"
            )

    @property
    def pid(self) -> int | None:
        """The child's process id (to watch it, or pin it beside the server)."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def __call__(self, features: Features) -> np.ndarray:
        with self._lock:
            if not self._process.is_alive():
                raise ChallengerProcessError(f"challenger process exited with {self._process.exitcode}")
            try:
                self._conn.send(features)
                ok, payload = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise ChallengerProcessError(f"challenger process unreachable: {exc}") from exc
        if not ok:
            raise ChallengerProcessError(str(payload))
        scores: np.ndarray = payload
        return scores

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to stop; kill it when it does not within ``timeout`` (e.g. stuck in a call)."""
        if self._lock.acquire(timeout=0.1):
            try:
                if self._process.is_alive():
                    self._conn.send(None)
            except OSError:
                pass
            finally:
                self._lock.release()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
        self._conn.close()

    def __enter__(self) -> ProcessChallenger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["Features", "Predictor", "ProcessChallenger"]
