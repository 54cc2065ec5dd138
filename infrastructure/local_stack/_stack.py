"""``up``, ``down`` and ``status`` of the whole stack.

``up`` starts the stopped servers side by side (one thread each: the slowest start decides the
wait, not their sum), each bounded by ``timeout_s``. If one fails, the servers this call
started are stopped again, so a failed ``up`` leaves nothing behind. A lock file keeps two
``up``/``down`` of one state folder from interleaving.
"""

from __future__ import annotations

import fcntl
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from infrastructure.local_stack._process import (
    pid_alive,
    port_is_free,
    processes_in,
    program_and_ports,
    stop,
    wait_for,
)
from infrastructure.local_stack._servers import DATABASES, SERVERS, ObjectStore, Postgres, Server
from infrastructure.local_stack._state import (
    Layout,
    StackRecord,
    load_record,
    new_credentials,
    now,
    save_record,
)
from mlops.errors import LocalStackError


@dataclass(frozen=True)
class ServerStatus:
    """One server after a command: ``state`` is what happened or what is."""

    name: str
    title: str
    state: str
    pid: int | None
    endpoint: str
    log: str
    detail: str = ""


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LocalStackError(f"another `up` or `down` of {layout.state} is running (lock {layout.lock})") from None
        yield


def _load(layout: Layout) -> StackRecord | None:
    try:
        return load_record(layout)
    except (ValidationError, ValueError) as exc:
        raise LocalStackError(f"{layout.record} cannot be read ({exc}); `down --purge` removes the stack") from None


def _new_record(layout: Layout, preferred_ports: Mapping[str, int | None] | None) -> StackRecord:
    taken: set[int] = set()
    servers = {}
    for name, cls in SERVERS.items():
        preferred = cls.default_port if preferred_ports is None else preferred_ports.get(name, cls.default_port)
        servers[name] = cls.new_record(layout, taken, preferred)
    return StackRecord(created_at=now(), servers=servers, credentials=new_credentials(DATABASES))


def _servers(layout: Layout, record: StackRecord) -> dict[str, Server]:
    missing = set(SERVERS) - set(record.servers)
    if missing:
        raise LocalStackError(f"{layout.record} lacks {', '.join(sorted(missing))}; `down --purge` starts afresh")
    return {name: cls(layout, record.servers[name], record.credentials) for name, cls in SERVERS.items()}


def _detail(server: Server) -> str:
    try:
        return server.detail()
    except Exception as exc:  # the line is informative only: a failed look-up must not fail the command
        return f"(no detail: {type(exc).__name__})"


def _status(server: Server, state: str, *, detail: bool = False) -> ServerStatus:
    return ServerStatus(
        name=server.name,
        title=server.title,
        state=state,
        pid=server.record.pid,
        endpoint=server.record.endpoint,
        log=str(server.log),
        detail=_detail(server) if detail else "",
    )


def _taken_ports(server: Server) -> list[str]:
    return [
        f"{server.title}: port {port} ({label}), kept since the first start, is in use by another program"
        for label, port in server.record.ports.items()
        if not port_is_free(port)
    ]


def _each(servers: list[Server], action: Callable[[Server], object]) -> list[LocalStackError]:
    """Run ``action`` on every server side by side; the errors, each naming its server."""
    errors: list[LocalStackError] = []
    if not servers:
        return errors
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = [(server, pool.submit(action, server)) for server in servers]
        for server, future in futures:
            try:
                future.result()
            except LocalStackError as exc:
                errors.append(exc)
            except Exception as exc:  # a client library's error while setting the server up
                errors.append(server.failure(f"failed: {type(exc).__name__}: {exc}"))
    return errors


def up(
    state: Path,
    *,
    preferred_ports: Mapping[str, int | None] | None = None,
    timeout_s: float = 60.0,
) -> list[ServerStatus]:
    """Start every stopped server (first start: choose ports, generate credentials, initialise
    the data); leave running ones as they are. ``preferred_ports`` (server -> port, ``None`` for
    any free port) applies at first start only; otherwise each server's usual port, when free."""
    layout = Layout(state)
    with _locked(layout):
        # Traversable by PostgreSQL's unprivileged account when running as root; listing stays private.
        layout.root.chmod(0o711 if Postgres.run_as() is not None else 0o700)
        record = _load(layout)
        if record is None:
            record = _new_record(layout, preferred_ports)
            save_record(layout, record)
        servers = _servers(layout, record)
        running = {name for name, server in servers.items() if server.running()}
        to_start = [server for name, server in servers.items() if name not in running]
        if missing := [str(e) for e in _each(to_start, lambda server: server.program())]:
            raise LocalStackError("nothing was started:\n" + "\n".join(missing))
        if taken := [line for server in to_start for line in _taken_ports(server)]:
            raise LocalStackError(
                "nothing was started:\n"
                + "\n".join(taken)
                + "\nstop the program that holds it, or `down --purge` to start afresh on new ports"
            )
        save_lock = threading.Lock()

        def start(server: Server) -> None:
            server.prepare()
            pid = server.launch()
            with save_lock:
                server.record.pid = pid
                save_record(layout, record)
            reason = wait_for(server.answers, timeout_s=timeout_s, exited=lambda: not pid_alive(pid))
            if reason is not None:
                raise server.failure(reason)
            server.configure()

        def check(server: Server) -> None:
            if not server.answers():
                raise server.failure(f"runs (pid {server.record.pid}) but does not answer: `down`, then `up`")
            server.configure()  # idempotent: finds everything in place (unseals OpenBao if it was sealed)

        errors = _each(to_start, start) + _each([servers[name] for name in running], check)
        if errors:
            # Every server this call was to start, also one whose launch failed half-way (a
            # PostgreSQL that pg_ctl gave up waiting for is found through its pid file).
            outcomes: dict[str, str] = {}
            _each(to_start, lambda server: outcomes.__setitem__(server.title, _stop_one(server)))
            save_record(layout, record)
            stopped = ", ".join(title for title, outcome in outcomes.items() if outcome != "not running")
            raise LocalStackError(
                "\n".join(str(e) for e in errors) + (f"\nstopped again: {stopped}" if stopped else "")
            )
        return [
            _status(server, "already running" if name in running else "started", detail=True)
            for name, server in servers.items()
        ]


def _stop_one(server: Server) -> str:
    """Stop ``server`` if it runs: ``stopped``, ``killed`` (after its grace period) or ``not running``."""
    outcome = "not running"
    if server.running() and (pid := server.record.pid) is not None:
        outcome = "killed" if stop(pid, server.stop_signal, server.grace_s) else "stopped"
        server.after_stop()
    server.record.pid = None
    return outcome


def down(state: Path, *, purge: bool = False) -> list[ServerStatus]:
    """Stop every server (its signal, then a kill after its grace period); the data stays,
    unless ``purge``."""
    layout = Layout(state)
    if not layout.root.exists():
        return []
    with _locked(layout):
        try:
            record = _load(layout)
        except LocalStackError:
            if not purge:
                raise
            record = None
        statuses: list[ServerStatus] = []
        if record is not None:
            servers = _servers(layout, record)
            outcomes: dict[str, str] = {}
            errors = _each(list(servers.values()), lambda server: outcomes.__setitem__(server.name, _stop_one(server)))
            save_record(layout, record)
            statuses = [_status(server, outcomes.get(name, "unknown")) for name, server in servers.items()]
            if errors:
                raise LocalStackError("\n".join(str(e) for e in errors))
        # Whatever else still runs in the stack's folders is a server whose pid was lost (an
        # unreadable stack.json, an interrupted `up`): stopped too, so no data is left in use.
        for pid in processes_in(layout.root):
            program, ports = program_and_ports(pid)
            stop(pid, signal.SIGTERM, grace_s=20)
            if program == ObjectStore.executable:
                ObjectStore.remove_sockets(ports)
        if purge:
            shutil.rmtree(layout.root)
        return statuses


def status(state: Path) -> list[ServerStatus]:
    """What runs, and whether it answers (an authenticated request each)."""
    layout = Layout(state)
    record = _load(layout) if layout.root.exists() else None
    if record is None:
        return []
    result = []
    for server in _servers(layout, record).values():
        if not server.running():
            result.append(_status(server, "not running"))
        elif server.answers():
            result.append(_status(server, "running", detail=True))
        else:
            result.append(_status(server, "running, not answering"))
    return result


def secret_files(state: Path) -> list[Path]:
    """The files of the stack that hold secrets (each mode 600)."""
    layout = Layout(state)
    return [
        layout.record,
        layout.server_dir("s3") / "s3.json",
        layout.server_dir("redis") / "redis.conf",
        layout.server_dir("openbao") / "init.json",
    ]
