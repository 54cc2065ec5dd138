"""The local reference deployment (``make up`` / ``make down``) with its real servers.

One stack for the module, driven through its life in file order: first start (a taken port is
avoided), every server answers real clients, ``up`` again changes nothing, ``down`` + ``up``
keeps every store's data and unseals OpenBao, a kept port taken by another program or a server
that cannot start is reported by name, and ``down --purge`` deletes it all. The finalizer stops
whatever still runs in the stack's folder, whichever test failed.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infrastructure.local_stack import (
    BUCKETS,
    KV_MOUNT,
    SERVERS,
    LocalStackError,
    StackRecord,
    down,
    load_record,
    secret_files,
    status,
    up,
)
from infrastructure.local_stack._state import Layout
from tests.infrastructure.validator import ROOT
from tests.local_stack import servers_in, state_folder

AREAS = "mlops/local-stack"  # under the KV mount


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    with state_folder("local-stack-") as folder:
        yield folder


@pytest.fixture(scope="module")
def first_up(state: Path) -> dict[str, Any]:
    """The first ``up``: Redis asked for a port another program holds, PostgreSQL for a free one."""
    held = _listener()
    held_port = held.getsockname()[1]
    free = _listener()
    free_port = free.getsockname()[1]
    free.close()
    try:
        rows = up(
            state,
            preferred_ports={"redis": held_port, "postgres": free_port, "s3": None, "openbao": None, "mlflow": None},
        )
    finally:
        held.close()
    return {"rows": rows, "held": held_port, "free": free_port}


def _record(state: Path) -> StackRecord:
    record = load_record(Layout(state))
    assert record is not None
    return record


def _servers(state: Path) -> dict[str, Any]:
    record = _record(state)
    layout = Layout(state)
    return {name: cls(layout, record.servers[name], record.credentials) for name, cls in SERVERS.items()}


def _bao(state: Path) -> Any:
    server = _servers(state)["openbao"]
    return server.client(server.root_token())


def _secret(state: Path, area: str) -> dict[str, Any]:
    """``secret/mlops/local-stack/<area>``'s current version: ``data`` and ``metadata``."""
    kv = _bao(state).secrets.kv.v2
    return dict(
        kv.read_secret_version(path=f"{AREAS}/{area}", mount_point=KV_MOUNT, raise_on_deleted_version=True)["data"]
    )


def test_first_start_avoids_a_taken_port_and_takes_a_free_preferred_one(state: Path, first_up: dict[str, Any]) -> None:
    assert [(r.name, r.state) for r in first_up["rows"]] == [
        ("s3", "started"),
        ("postgres", "started"),
        ("redis", "started"),
        ("openbao", "started"),
        ("mlflow", "started"),
    ]
    ports = {name: server.ports for name, server in _record(state).servers.items()}
    assert ports["redis"]["redis"] != first_up["held"]
    assert ports["postgres"]["postgres"] == first_up["free"]
    every_port = [port for server in ports.values() for port in server.values()]
    assert len(every_port) == len(set(every_port)), "two servers share a port"
    assert all(
        row.endpoint.startswith(("http://127.0.0.1:", "postgresql://127.0.0.1:", "redis://127.0.0.1:"))
        for row in first_up["rows"]
    )


def test_every_server_answers_real_clients(state: Path, first_up: dict[str, Any]) -> None:
    import hvac
    import psycopg
    import redis
    from pyarrow import fs
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    servers = _servers(state)
    creds = _record(state).credentials

    s3 = fs.S3FileSystem(
        access_key=creds.s3_access_key,
        secret_key=creds.s3_secret_key,
        endpoint_override=f"127.0.0.1:{servers['s3'].port}",
        scheme="http",
        region="us-east-1",
    )
    assert sorted(i.base_name for i in s3.get_file_info(fs.FileSelector("/"))) == sorted(BUCKETS)
    wrong_key = fs.S3FileSystem(
        access_key=creds.s3_access_key,
        secret_key="not-the-key",  # pragma: allowlist secret
        endpoint_override=f"127.0.0.1:{servers['s3'].port}",
        scheme="http",
        region="us-east-1",
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
    )
    with pytest.raises(OSError, match="(?i)signature|denied"):
        wrong_key.get_file_info(fs.FileSelector("/"))

    # Each database with its own role, the password read from OpenBao where the platform reads it.
    registry = _secret(state, "registry")["data"]
    feast = _secret(state, "feature-store")["data"]
    port = servers["postgres"].port
    for db, password in (("mlflow", registry["db_password"]), ("feast", feast["registry_password"])):
        with psycopg.connect(host="127.0.0.1", port=port, dbname=db, user=db, password=password) as conn:
            assert conn.execute("SELECT current_database(), current_user").fetchone() == (db, db)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(host="127.0.0.1", port=port, dbname="feast", user="mlflow", password=registry["db_password"])

    client = redis.Redis(host="127.0.0.1", port=servers["redis"].port, password=feast["redis_password"])
    assert client.ping() is True
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=servers["redis"].port, retry=Retry(NoBackoff(), 0)).ping()

    # The PII hash key where the config's vault:// references point, with the rotation policy's shape.
    key = _secret(state, "privacy")["data"]["pii_hash_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert _bao(state).sys.read_health_status(method="GET")["sealed"] is False
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=servers["openbao"].record.endpoint, token="not-a-token").secrets.kv.v2.read_secret_version(
            path=f"{AREAS}/privacy", mount_point=KV_MOUNT
        )


def test_the_platform_resolves_its_vault_references_against_it(
    state: Path, first_up: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.secrets import SecretResolver

    server = _servers(state)["openbao"]
    monkeypatch.setenv("VAULT_ADDR", server.record.endpoint)
    monkeypatch.setenv("VAULT_TOKEN", server.root_token())
    resolver = SecretResolver()
    key = _secret(state, "privacy")["data"]["pii_hash_key"]
    assert resolver.resolve("vault://secret/mlops/local-stack/privacy#pii_hash_key") == key
    creds = _record(state).credentials
    assert resolver.resolve("vault://secret/mlops/local-stack/object-store#secret_access_key") == creds.s3_secret_key


def test_the_prediction_log_writes_to_the_object_store_by_uri(
    state: Path, first_up: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prediction_log.root: s3://…`` as on a cluster: credentials from the environment, the
    endpoint in the URI; what was written reads back whole."""
    import pandas as pd

    from observability.prediction_log import PredictionLogConfig, PredictionLogger, read_predictions

    creds = _record(state).credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.s3_access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.s3_secret_key)
    root = f"s3://artifacts/predictions?endpoint_override=127.0.0.1:{_servers(state)['s3'].port}&scheme=http"
    log = PredictionLogger(root, PredictionLogConfig(root=root), exclude_columns={"email"})
    frame = pd.DataFrame({"income": [1.0, 2.0, 3.0], "email": ["a@x", "b@x", "c@x"]})
    assert log.record(frame, [0.1, 0.2, 0.3], model="credit_risk", version="1.0.0", request_ids="r1") == 3
    assert log.close(30)
    assert log.stats()["rows_written"] == 3
    logged = read_predictions(root, "credit_risk")
    assert list(logged["income"]) == [1.0, 2.0, 3.0]
    assert "email" not in logged.columns


def test_secret_files_are_private_and_no_secret_is_on_a_command_line(state: Path, first_up: dict[str, Any]) -> None:
    for path in secret_files(state):
        assert path.stat().st_mode & 0o777 == 0o600, path
    creds = _record(state).credentials
    values = [
        creds.s3_secret_key,
        creds.redis_password,
        creds.postgres_superuser_password,
        *creds.database_passwords.values(),
    ]
    root_token = _servers(state)["openbao"].root_token()
    for pid in servers_in(state):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(v in cmdline for v in [*values, root_token]), f"a secret is in the command line of {pid}"


def test_mlflow_runs_without_job_runners(state: Path, first_up: dict[str, Any]) -> None:
    # MLflow's job execution (on by default) would add a job runner and seven task consumers,
    # each a Python process importing MLflow, that the platform never gives work to.
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in servers_in(state)]
    mlflow = [c for c in commands if "mlflow" in c]
    assert any(" server " in c for c in mlflow), commands
    assert not [c for c in mlflow if "huey" in c or "_job_runner" in c]


def test_up_again_changes_nothing(state: Path, first_up: dict[str, Any]) -> None:
    before = _record(state)
    rows = up(state)
    assert {r.state for r in rows} == {"already running"}
    assert _record(state) == before
    # The secrets were written once: no new version at a second `up`.
    assert _secret(state, "privacy")["metadata"]["version"] == 1


def test_down_then_up_keeps_every_store_and_unseals_openbao(state: Path, first_up: dict[str, Any]) -> None:
    import psycopg
    from pyarrow import fs

    servers = _servers(state)
    creds = _record(state).credentials
    ports = {name: s.record.ports for name, s in servers.items()}
    s3 = servers["s3"].client()
    with s3.open_output_stream("artifacts/models/1/model.pkl") as out:
        out.write(b"model bytes")
    mlflow_pw = creds.database_passwords["mlflow"]
    with psycopg.connect(
        host="127.0.0.1", port=servers["postgres"].port, dbname="mlflow", user="mlflow", password=mlflow_pw
    ) as conn:
        conn.execute("CREATE TABLE kept_rows (id text PRIMARY KEY)")
        conn.execute("INSERT INTO kept_rows VALUES ('run-1')")
    with servers["redis"].client() as client:
        client.set("feature:42", "0.5")
    _bao(state).secrets.kv.v2.create_or_update_secret(path=f"{AREAS}/extra", secret={"k": "v"}, mount_point=KV_MOUNT)
    pids = [s.record.pid for s in servers.values()]

    rows = down(state)
    assert {r.state for r in rows} == {"stopped"}
    assert servers_in(state) == [], "a server still runs after down"
    assert [p for port in ports["s3"].values() for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")] == []
    assert {r.state for r in status(state)} == {"not running"}

    assert {r.state for r in up(state)} == {"started"}
    servers = _servers(state)
    assert {name: s.record.ports for name, s in servers.items()} == ports
    assert all(s.record.pid not in pids for s in servers.values())
    assert servers["openbao"].health() == 200, "OpenBao is not unsealed after a restart"
    assert servers["s3"].client().open_input_stream("artifacts/models/1/model.pkl").read() == b"model bytes"
    assert sorted(i.base_name for i in servers["s3"].client().get_file_info(fs.FileSelector("/"))) == sorted(BUCKETS)
    with psycopg.connect(
        host="127.0.0.1", port=servers["postgres"].port, dbname="mlflow", user="mlflow", password=mlflow_pw
    ) as conn:
        assert conn.execute("SELECT id FROM kept_rows").fetchall() == [("run-1",)]
    with servers["redis"].client() as client:
        assert client.get("feature:42") == b"0.5"
    assert _secret(state, "extra")["data"] == {"k": "v"}


def test_a_kept_port_held_by_another_program_starts_nothing(state: Path, first_up: dict[str, Any]) -> None:
    down(state)
    redis_port = _record(state).servers["redis"].ports["redis"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", redis_port))
        holder.listen()
        with pytest.raises(LocalStackError, match=rf"Redis: port {redis_port} \(redis\).*in use") as failure:
            up(state)
    assert "nothing was started" in str(failure.value)
    assert servers_in(state) == []


def test_a_server_that_cannot_start_is_named_with_its_log_and_the_others_are_stopped(
    state: Path, first_up: dict[str, Any]
) -> None:
    redis = _servers(state)["redis"]
    dump = redis.dir / "dump.rdb"
    saved = dump.read_bytes()
    dump.write_bytes(b"REDIS0009 this is not an RDB file")
    try:
        with pytest.raises(LocalStackError) as failure:
            up(state, timeout_s=20)
        message = str(failure.value)
        assert message.startswith("Redis exited")
        assert str(redis.log) in message
        assert "stopped again: " in message
        assert servers_in(state) == []
        assert {r.state for r in status(state)} == {"not running"}
    finally:
        dump.write_bytes(saved)


def test_cli_status_and_down_purge_even_with_a_broken_state_file(state: Path, first_up: dict[str, Any]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infrastructure.local_stack", *args, "--state", str(state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    stopped = cli("status")
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert stopped.stdout.count("not running") == len(SERVERS)
    started = cli("up")
    assert started.returncode == 0, started.stderr
    endpoints = [s.record.endpoint for s in _servers(state).values()]
    assert all(e in started.stdout for e in endpoints)
    running = cli("status")
    assert running.returncode == 0, running.stdout
    assert running.stdout.count(" running ") == len(SERVERS), running.stdout
    assert json.loads((state / "stack" / "openbao" / "init.json").read_text())["keys_base64"]

    # An unreadable stack.json: named by every command; `down --purge` still stops every server.
    s3_ports = list(_record(state).servers["s3"].ports.values())
    (state / "stack" / "stack.json").write_text("{not json")
    broken = cli("status")
    assert broken.returncode == 1
    assert "stack.json cannot be read" in broken.stderr
    assert cli("down").returncode == 1
    assert len(servers_in(state)) >= 4
    purged = cli("down", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (state / "stack").exists()
    assert servers_in(state) == []
    assert [p for port in s3_ports for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")] == []
    assert cli("status").returncode == 3
