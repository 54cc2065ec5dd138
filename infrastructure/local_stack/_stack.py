"""``up``, ``down`` and ``status`` of the whole stack.

``up`` starts the stopped servers side by side (one thread each: the slowest start decides the
wait, not their sum), each bounded by ``timeout_s``; a server that depends on others (MLflow on
PostgreSQL and the object store) starts in a second wave, once they answer. If one fails, the servers this call
started are stopped again, so a failed ``up`` leaves nothing behind. A lock file keeps two
``up``/``down`` of one state folder from interleaving.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
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
from infrastructure.local_stack._servers import DATABASES, SERVERS, ObjectStore, OpenBao, Postgres, Server
from infrastructure.local_stack._state import (
    Layout,
    StackRecord,
    load_record,
    new_credentials,
    now,
    save_record,
    write_json_private,
    write_private,
)
from mlops.errors import LocalStackError

# Per server. A wait ends as soon as the server answers, or when its process exits, so a long
# bound costs nothing on a healthy start: MLflow imports itself twice (script, then its worker)
# and took over 60 s on a busy two-core machine.
UP_TIMEOUT_S = 300.0


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
    timeout_s: float = UP_TIMEOUT_S,
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
        elif lacking := tuple(db for db in DATABASES if db not in record.credentials.database_passwords):
            # A database added since this stack was created: its role gets a password now.
            record.credentials.database_passwords.update(new_credentials(lacking).database_passwords)
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

        # Servers that need others (MLflow needs PostgreSQL and the bucket) start once those answer.
        errors = _each([servers[name] for name in running], check)
        for wave in (
            [server for server in to_start if not server.depends_on],
            [server for server in to_start if server.depends_on],
        ):
            if not errors:
                errors += _each(wave, start)
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
        # Rounds, because a server's supervisor may start a new worker while its old one is stopped.
        for _ in range(5):
            strays = processes_in(layout.root)
            if not strays:
                break
            for pid in strays:
                program, ports = program_and_ports(pid)
                stop(pid, signal.SIGTERM, grace_s=20)
                if program == ObjectStore.executable:
                    ObjectStore.remove_sockets(ports)
        if purge:
            shutil.rmtree(layout.root)
            # The escrowed OpenBao keys belong to the OpenBao just deleted; a new stack has its own.
            layout.openbao_escrow.unlink(missing_ok=True)
        return statuses


def destroy(state: Path, *, keep_buckets: Collection[str] = ("backups", "datasets")) -> list[str]:
    """Lose the deployment's data as a disaster would, for drills and playbook rehearsals.

    Every bucket but ``keep_buckets`` is emptied (the backups bucket stands for the off-site,
    object-locked copy a real deployment keeps; the datasets bucket for the data owners' lake,
    which the platform reads but does not own), then every server is stopped and its folder
    deleted. What defines the deployment stays, as Terraform state and values files would:
    ``stack.json`` (ports, credentials), and so does the operator's escrow (``<state>/secrets``).
    The next ``up`` starts every server empty. Returns what was deleted.
    """
    layout = Layout(state)
    with _locked(layout):
        record = _load(layout)
        if record is None:
            raise LocalStackError(f"no local stack in {layout.root}")
        servers = _servers(layout, record)
        store = servers[ObjectStore.name]
        if not (store.running() and store.answers()):
            raise LocalStackError(f"{store.title} must run to empty its buckets: `up` first")
        assert isinstance(store, ObjectStore)
        emptied = store.empty_buckets(keep_buckets)
    down(state)
    with _locked(layout):
        for server in servers.values():
            server.wipe()
    wiped = [f"{server.title} data" for server in servers.values() if server.name != ObjectStore.name]
    return [f"bucket {bucket}" for bucket in emptied] + wiped


def _restart(state: Path, server_name: str, change: Callable[[Server], None]) -> None:
    """Stop one server, apply ``change`` to it while it is stopped, then ``up`` (which starts it)."""
    layout = Layout(state)
    with _locked(layout):
        record = _load(layout)
        if record is None:
            raise LocalStackError(f"no local stack in {layout.root}")
        server = _servers(layout, record)[server_name]
        _stop_one(server)
        save_record(layout, record)
        change(server)
    up(state)


def reset_openbao(state: Path) -> None:
    """Replace a lost or broken OpenBao by a fresh, empty, unsealed one (new keys), into which a
    raft snapshot can be restored; its escrowed keys are left as they are (see :func:`adopt_openbao`)."""
    _restart(state, OpenBao.name, lambda server: server.wipe())


def adopt_openbao(state: Path, init_file: Path) -> None:
    """After a raft snapshot was restored into a fresh OpenBao: take the snapshot's own unseal key
    and root token (the operator's copy, ``init_file``) as the stack's, and prove them by
    restarting OpenBao and unsealing it with them."""
    try:
        keys = json.loads(init_file.read_text())
        unseal, token = keys["keys_base64"][0], keys["root_token"]
    except FileNotFoundError:
        raise LocalStackError(f"{init_file} does not exist: the unseal key and root token are needed") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise LocalStackError(f"{init_file}: expected OpenBao's init output (keys_base64, root_token): {exc}") from None
    if not isinstance(unseal, str) or not isinstance(token, str):
        raise LocalStackError(f"{init_file}: keys_base64[0] and root_token must be strings")

    def take(server: Server) -> None:
        assert isinstance(server, OpenBao)
        write_json_private(server.init_file, keys)
        write_private(server.token_file, token + "\n")

    try:
        _restart(state, OpenBao.name, take)
    except LocalStackError as exc:
        raise LocalStackError(f"OpenBao did not come back with the keys of {init_file}: {exc}") from None


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
        layout.server_dir("openbao") / "token",
    ]
