"""Detached local processes: ports, launch, identity, readiness, bounded stop.

The servers outlive the ``up`` command, so they are started in their own session with their
output in a log file, and found again later by the pid kept in ``stack.json``. A pid alone may
have been reused after a reboot: a process counts as ours only when its working directory is
the server's folder and its executable has the server's name (Linux ``/proc``).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
# Below Linux's default ephemeral range (32768-60999): a kept port is then rarely taken later
# by the local end of some outgoing connection.
PORT_RANGE = (20000, 32767)
POLL_S = 0.05

# Processes this Python process started: polling them reaps them, so a stopped server does not
# linger as a zombie that still looks alive (tests run up and down in one process).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``HOST:port`` now (servers set SO_REUSEADDR, so a
    port in TIME_WAIT counts as free; a listening socket does not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def pick_port(taken: Collection[int], preferred: int | None = None, *, offset: int | None = None) -> int:
    """``preferred`` when it is free, else a free port in :data:`PORT_RANGE` not in ``taken``.
    With ``offset``, ``port + offset`` must be free too (a server that derives a second port)."""

    def usable(port: int) -> bool:
        pair = [port] if offset is None else [port, port + offset]
        return all(p not in taken and p <= 65535 and port_is_free(p) for p in pair)

    if preferred is not None and usable(preferred):
        return preferred
    low, high = PORT_RANGE
    if offset is not None:
        high = min(high, 65535 - offset)
    for _ in range(500):
        port = random.randint(low, high)
        if usable(port):
            return port
    raise OSError(f"no free port found on {HOST} between {low} and {high}")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def is_ours(pid: int | None, cwd: Path, executable: str) -> bool:
    """Whether ``pid`` is alive, runs in ``cwd`` and is the program ``executable``."""
    if pid is None or not pid_alive(pid):
        return False
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(cwd.resolve()) and (
            Path(os.readlink(f"/proc/{pid}/exe")).name == executable
        )
    except OSError:
        return False


def _parent(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory is ``folder`` or below (this one excepted), without
    those whose parent is one of them: a server's helpers end with it (PostgreSQL's backends)."""
    root = str(folder.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in {os.getpid(), os.getppid()}:
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + "/")) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return [pid for pid in found if _parent(pid) not in found]


def program_and_ports(pid: int) -> tuple[str, list[int]]:
    """The program name of ``pid`` and the ports its ``-…port…=N`` arguments give."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        program = Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return "", []
    ports = [int(m.group(1)) for arg in args if (m := re.fullmatch(r"-[\w.]*port[\w.]*=(\d+)", arg))]
    return program, ports


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a program runs as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def launch(
    cmd: list[str], *, cwd: Path, log: Path, env: dict[str, str], run_as: RunAs | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached (own session, stdin closed), appending its output to ``log``."""
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd[:2])}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=None if run_as is None else run_as.uid,
            group=None if run_as is None else run_as.gid,
            extra_groups=None if run_as is None else [],
        )
    _CHILDREN[proc.pid] = proc
    return proc


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log yet)"
    return "\n".join("    " + line for line in text)


def wait_for(check: Callable[[], bool], *, timeout_s: float, exited: Callable[[], bool] | None = None) -> str | None:
    """Poll ``check`` until true; the reason it never became true (``None`` when it did)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return None
        if exited is not None and exited():
            return "exited"
        if time.monotonic() > deadline:
            return f"did not answer within {timeout_s:g} s"
        time.sleep(POLL_S)


def stop(pid: int, sig: signal.Signals, grace_s: float) -> bool:
    """Send ``sig``, wait up to ``grace_s`` for the process to end, then kill it.
    Whether it had to be killed."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    if wait_for(lambda: not pid_alive(pid), timeout_s=grace_s) is None:
        return False
    try:
        # The whole group when the server leads one (its helper processes go with it).
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    wait_for(lambda: not pid_alive(pid), timeout_s=10)
    return True
