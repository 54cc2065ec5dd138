"""``mlops backup`` against the real stores of the local reference deployment: a round trip of
every target through restic in the object store, and each fault of the issue — a flipped byte,
a run killed half-way, the object store down, a wrong key, a newer manifest format, a
non-empty restore target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pyarrow import fs as pafs

from backup import (
    TARGETS,
    BackupEnvironment,
    Retention,
    Strategy,
    Target,
    TargetDump,
    create_backup,
    find_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from mlops.errors import (
    BackupError,
    BackupKeyError,
    BackupUnavailableError,
    BackupVerifyError,
    RestoreRefusedError,
)
from tests.backup.conftest import Stack
from tests.local_stack import ROOT

KV = "secret"


def _pg(stack: Stack, db: str = "mlflow") -> Any:
    import psycopg

    pg = stack.env.postgres
    assert pg is not None
    return psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=db, autocommit=True)


def _redis(stack: Stack) -> Any:
    import redis

    assert stack.env.redis is not None
    r = stack.env.redis
    return redis.Redis(host=r.host, port=r.port, password=r.password)


def _bao(stack: Stack) -> Any:
    import hvac

    assert stack.env.openbao is not None
    return hvac.Client(url=stack.env.openbao.url, token=stack.env.openbao.token)


def _s3(stack: Stack) -> Any:
    assert stack.env.object_store is not None
    return stack.env.object_store.filesystem()


def _put(stack: Stack, path: str, data: bytes) -> None:
    with _s3(stack).open_output_stream(path) as out:
        out.write(data)


def _seed(stack: Stack) -> None:
    with _pg(stack) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS backup_probe (name text PRIMARY KEY, version int)")
        conn.execute("INSERT INTO backup_probe VALUES ('credit_risk', 3) ON CONFLICT DO NOTHING")
    with _pg(stack, "consent") as conn:  # privacy.consent's records: a withdrawal to keep
        conn.execute("CREATE TABLE IF NOT EXISTS consent_probe (subject_id text PRIMARY KEY, status text)")
        conn.execute("INSERT INTO consent_probe VALUES ('APP-1', 'withdrawn') ON CONFLICT DO NOTHING")
    with _pg(stack, "feast") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS feast_registry (id text PRIMARY KEY, proto bytea)")
        conn.execute("INSERT INTO feast_registry VALUES ('project', '\\x0102') ON CONFLICT DO NOTHING")
        # An offline table of Feast's PostgreSQL offline store (schema `features`, one table per view).
        conn.execute("CREATE SCHEMA IF NOT EXISTS features")
        conn.execute("CREATE TABLE IF NOT EXISTS features.credit_risk_features (applicant_id text, income float8)")
        conn.execute(
            "INSERT INTO features.credit_risk_features SELECT 'APP-1', NULL "
            "WHERE NOT EXISTS (SELECT 1 FROM features.credit_risk_features)"
        )
    with _redis(stack) as client:
        client.hset("credit_risk:42", mapping={"income": "51000.5", "age": "37"})
        client.set("credit_risk:43", "x", ex=3600)
    _put(stack, "artifacts/mlflow/1/model.pkl", b"model bytes " * 1000)
    for folder, name, data in (
        ("predictions/credit_risk", "part-0.parquet", b"PAR1 predictions"),
        ("shadow", "credit_risk.sqlite", b"SQLite format 3\x00"),
    ):
        (stack.state / folder).mkdir(parents=True, exist_ok=True)
        (stack.state / folder / name).write_bytes(data)
    _bao(stack).secrets.kv.v2.create_or_update_secret(
        path="mlops/local-stack/drill", secret={"value": "before"}, mount_point=KV
    )


def _cli(stack: Stack, *args: str, repo: str, key: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    assert stack.env.object_store is not None
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_cli",
            "backup",
            *args,
            "--state",
            str(stack.state),
            "--config-dir",
            str(stack.env.config_dir),
            "--repository",
            f"s3:{stack.env.object_store.endpoint}/backups/{repo}",
            "--key-file",
            str(key),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_target_round_trips_through_the_cli(backup_stack: Stack) -> None:
    stack = backup_stack
    _seed(stack)
    key = stack.state / "secrets" / "cli.key"
    made = _cli(stack, "create", "--env", "local-stack", "--strategy", "nightly", "--json", repo="cli", key=key)
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert key.stat().st_mode & 0o777 == 0o600, "the key file is created private"
    assert manifest["status"] == "complete"
    assert manifest["format"] == 1
    assert manifest["strategy"] == "nightly"
    assert [t["name"] for t in manifest["targets"]] == list(TARGETS)
    # Feast's offline store is PostgreSQL on the stack: its tables are in the feast database's dump.
    statuses = {t["name"]: t["status"] for t in manifest["targets"]}
    offline = next(t for t in manifest["targets"] if t["name"] == "feast-offline")
    assert offline["status"] == "skipped"
    assert "feast-registry" in offline["detail"]
    assert statuses == dict.fromkeys(TARGETS, "complete") | {"feast-offline": "skipped"}
    files = {f["path"]: f for t in manifest["targets"] for f in t["files"]}
    assert {
        "mlflow-db/mlflow.dump",
        "consent-db/consent.dump",
        "feast-registry/feast.dump",
        "online-store/keys.bin",
        "openbao/raft.snap",
    } <= set(files)
    assert "artifacts/mlflow/1/model.pkl" in files
    # The state folder's stores are targets of their own.
    assert {
        "prediction-logs/credit_risk/part-0.parquet",
        "shadow-logs/credit_risk.sqlite",
    } <= set(files)
    assert files["artifacts/mlflow/1/model.pkl"]["size"] == 12000
    assert all(len(f["sha256"]) == 64 for f in files.values())
    assert {"restic", "pg_dump", "redis", "openbao"} <= set(manifest["tool_versions"])
    assert manifest["code_version"]
    assert manifest["started_at"] <= manifest["ended_at"]

    listed = _cli(stack, "list", "--env", "local-stack", "--json", repo="cli", key=key)
    assert listed.returncode == 0, listed.stderr
    assert [b["backup_id"] for b in json.loads(listed.stdout)] == [manifest["backup_id"]]
    human = _cli(stack, "list", "--env", "local-stack", repo="cli", key=key)
    assert manifest["backup_id"] in human.stdout
    assert "nightly" in human.stdout

    verified = _cli(stack, "verify", "--env", "local-stack", "--backup", manifest["backup_id"], repo="cli", key=key)
    assert verified.returncode == 0, verified.stderr
    assert f"{len(files)} file(s)" in verified.stdout

    # Lose data in every store, then restore.
    with _pg(stack) as conn:
        conn.execute("DROP TABLE backup_probe")
        conn.execute("CREATE TABLE scratch (x int)")
    with _pg(stack, "consent") as conn:
        conn.execute("DROP TABLE consent_probe")
    with _pg(stack, "feast") as conn:
        conn.execute("DROP TABLE features.credit_risk_features")
    with _redis(stack) as client:
        client.delete("credit_risk:42")
    _s3(stack).delete_file("artifacts/mlflow/1/model.pkl")
    _bao(stack).secrets.kv.v2.create_or_update_secret(
        path="mlops/local-stack/drill", secret={"value": "after"}, mount_point=KV
    )

    refused = _cli(stack, "restore", "--backup", manifest["backup_id"], "--to", "local-stack", repo="cli", key=key)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert "mlflow-db" in refused.stderr
    assert "--force" in refused.stderr
    with _pg(stack) as conn:  # nothing was touched
        assert conn.execute("SELECT to_regclass('backup_probe')").fetchone() == (None,)

    restored = _cli(
        stack, "restore", "--backup", manifest["backup_id"], "--to", "local-stack", "--force", repo="cli", key=key
    )
    assert restored.returncode == 0, restored.stderr
    with _pg(stack) as conn:
        assert conn.execute("SELECT name, version FROM backup_probe").fetchall() == [("credit_risk", 3)]
    with _pg(stack, "consent") as conn:
        assert conn.execute("SELECT * FROM consent_probe").fetchall() == [("APP-1", "withdrawn")]
    with _pg(stack, "feast") as conn:  # the offline table came back with the feast database
        assert conn.execute("SELECT * FROM features.credit_risk_features").fetchall() == [("APP-1", None)]
    with _redis(stack) as client:
        assert client.hgetall("credit_risk:42") == {b"income": b"51000.5", b"age": b"37"}
        assert 0 < client.ttl("credit_risk:43") <= 3600
    assert _s3(stack).open_input_stream("artifacts/mlflow/1/model.pkl").read() == b"model bytes " * 1000
    client = _bao(stack)
    deadline = time.monotonic() + 30
    while True:  # a raft restore re-elects the leader for a moment
        try:
            secret = client.secrets.kv.v2.read_secret_version(path="mlops/local-stack/drill", mount_point=KV)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert secret["data"]["data"] == {"value": "before"}


def _blob_of(repo: Any, snapshot: str, path: str) -> str:
    # `restic cat blob`-free: the file's content ids come from the snapshot's tree.
    tree = json.loads(repo.run(["cat", "snapshot", snapshot]).stdout)["tree"]
    for part in path.strip("/").split("/"):
        node = next(n for n in json.loads(repo.run(["cat", "blob", tree]).stdout)["nodes"] if n["name"] == part)
        tree = node.get("subtree", "")
    return str(node["content"][0])


def _locate(repo: Any, blob: str) -> tuple[str, int, int]:
    for index in repo.run(["list", "index"]).stdout.split():
        for pack in json.loads(repo.run(["cat", "index", index]).stdout)["packs"]:
            for entry in pack["blobs"]:
                if entry["id"] == blob:
                    return pack["id"], entry["offset"], entry["length"]
    raise AssertionError(f"blob {blob} is in no index")


def test_a_flipped_byte_fails_verify_naming_the_object_and_the_target(backup_stack: Stack) -> None:
    stack = backup_stack
    _seed(stack)
    repo = stack.repository("flip")
    manifest = create_backup(stack.env, repo, stack.state / "work", targets=["mlflow-db", "artifacts"])
    snapshot, _ = find_backup(repo, manifest.backup_id)
    pack, offset, length = _locate(repo, _blob_of(repo, snapshot, "/mlflow-db/mlflow.dump"))
    stored = f"backups/flip/data/{pack[:2]}/{pack}"
    data = bytearray(_s3(stack).open_input_file(stored).read())
    data[offset + length // 2] ^= 0x01
    _put(stack, stored, bytes(data))

    with pytest.raises(BackupVerifyError) as failure:
        verify_backup(repo, stack.state / "work", manifest.backup_id)
    message = str(failure.value)
    assert f"data/{pack[:2]}/{pack}" in message
    assert "target mlflow-db file mlflow-db/mlflow.dump" in message
    assert "target artifacts" not in message, "an intact file is not blamed"
    # A restore of the damaged file is refused before any store is touched.
    with pytest.raises(BackupVerifyError, match="nothing restored.*mlflow-db/mlflow.dump"):
        restore_backup(repo, stack.env, stack.state / "work", manifest.backup_id, targets=["mlflow-db"], force=True)


class _Explodes(Target):
    """A target that fails after the first target has dumped (a run dying half-way)."""

    name = "explodes"
    description = "fails"

    def missing(self, env: BackupEnvironment) -> str | None:
        return None

    def dump(self, into: Path, env: BackupEnvironment) -> TargetDump:
        (into / "partial").write_bytes(b"half")
        raise RuntimeError("disk full")

    def restore(self, from_: Path, env: BackupEnvironment, force: bool) -> None:
        raise AssertionError("never")

    def is_empty(self, env: BackupEnvironment) -> bool:
        return True


def test_a_run_that_dies_half_way_is_never_listed_and_the_next_one_succeeds(backup_stack: Stack) -> None:
    stack = backup_stack
    _seed(stack)
    repo = stack.repository("killed")
    work = stack.state / "work-killed"
    first = create_backup(stack.env, repo, work, targets=["config"])
    registry: dict[str, type[Target]] = {"mlflow-db": TARGETS["mlflow-db"], "explodes": _Explodes}
    with pytest.raises(BackupError, match=r"target explodes: RuntimeError: disk full"):
        create_backup(stack.env, repo, work, registry=registry)
    assert [b.backup_id for b in list_backups(repo)] == [first.backup_id]
    assert list(work.glob("staging-*")) == [], "the failed run's dumps are removed"

    # Killed for real while restic uploads: a stale lock and an unfinished upload stay behind.
    big = stack.state / "big-config"
    big.mkdir(exist_ok=True)
    (big / "blob.bin").write_bytes(os.urandom(120 * 1024 * 1024))
    key = stack.state / "secrets" / "killed.key"
    assert stack.env.object_store is not None
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cli",
            "backup",
            "create",
            "--env",
            "local-stack",
            "--targets",
            "config",
            "--state",
            str(stack.state),
            "--config-dir",
            str(big),
            "--repository",
            repo.location,
            "--key-file",
            str(key),
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _restic_backup_running(proc.pid):
            assert proc.poll() is None, "the backup ended before restic started"
            assert time.monotonic() < deadline, "restic backup never started"
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(_s3(stack).get_file_info(pafs.FileSelector("backups/killed/locks"))), "the killed run left a lock"
    assert [b.backup_id for b in list_backups(repo)] == [first.backup_id]

    # The next run clears the stale lock (check needs an exclusive one) and succeeds.
    second = create_backup(stack.env, repo, stack.state / "backup" / "work", targets=["mlflow-db"])
    assert [b.backup_id for b in list_backups(repo)] == [first.backup_id, second.backup_id]
    assert verify_backup(repo, work, second.backup_id).files == 1
    (big / "blob.bin").unlink()


def _restic_backup_running(session: int) -> bool:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                if cmd[:2] == [b"restic", b"backup"] and os.getsid(int(proc.name)) == session:
                    return True
            except (OSError, ProcessLookupError):
                continue
    return False


def test_the_object_store_down_fails_within_seconds_after_retries(backup_stack: Stack) -> None:
    stack = backup_stack
    record = json.loads((stack.state / "stack" / "stack.json").read_text())
    weed = int(record["servers"]["s3"]["pid"])
    os.kill(weed, signal.SIGSTOP)  # hung, not gone: the harder case (connections open, no answer)
    try:
        start = time.monotonic()
        done = _cli(stack, "create", "--env", "local-stack", "--targets", "config", repo="down", key=stack.state / "k")
        took = time.monotonic() - start
    finally:
        os.kill(weed, signal.SIGCONT)
    assert done.returncode == 1
    assert "does not answer after 3 tries" in done.stderr
    assert stack.env.object_store is not None
    assert stack.env.object_store.endpoint in done.stderr
    assert took < 20, f"took {took:.1f} s"
    # Nothing but the tries' backoff and timeouts: no key created for a repository never reached.
    assert not (stack.state / "k").exists()

    refused = stack.repository("down-refused")
    refused.location = "s3:http://127.0.0.1:1/backups/none"
    assert refused.store is not None
    from backup import ObjectStoreEndpoint

    refused.store = ObjectStoreEndpoint("http://127.0.0.1:1", refused.store.access_key, refused.store.secret_key)
    start = time.monotonic()
    with pytest.raises(BackupUnavailableError, match=r"127\.0\.0\.1:1 does not answer after 3 tries"):
        list_backups(refused)
    assert 1.0 < time.monotonic() - start < 10, "retried with backoff, bounded"


def test_a_wrong_key_is_named_and_nothing_is_restored(backup_stack: Stack) -> None:
    stack = backup_stack
    _seed(stack)
    repo = stack.repository("wrongkey")
    manifest = create_backup(stack.env, repo, stack.state / "work", targets=["online-store"])
    with _redis(stack) as client:
        client.delete("credit_risk:42")
    wrong = stack.state / "secrets" / "not-the-key"
    wrong.write_text("not the key\n")  # pragma: allowlist secret
    thief = stack.repository("wrongkey", key_file=wrong)
    with pytest.raises(BackupKeyError, match=rf"{wrong}.* does not open .*wrongkey"):
        restore_backup(thief, stack.env, stack.state / "work", manifest.backup_id, force=True)
    with _redis(stack) as client:
        assert client.exists("credit_risk:42") == 0, "nothing was restored"
    missing = stack.repository("wrongkey", key_file=stack.state / "secrets" / "lost-key")
    with pytest.raises(BackupKeyError, match="lost-key is missing"):
        list_backups(missing)
    assert not (stack.state / "secrets" / "lost-key").exists(), "an existing repository never gets a new key"


def test_a_backup_in_a_newer_manifest_format_is_refused_with_the_reason(backup_stack: Stack, tmp_path: Path) -> None:
    stack = backup_stack
    repo = stack.repository("future")
    create_backup(stack.env, repo, stack.state / "work", targets=["config"])
    future = tmp_path / "future"
    (future / "config").mkdir(parents=True)
    (future / "config" / "platform.yaml").write_text("state_dir: .mlops\n")
    (future / "manifest.json").write_text(
        json.dumps({"format": 2, "backup_id": "20991231T000000Z-future", "status": "complete", "targets": []})
    )
    repo.run(["backup", "--host", "mlops", "--tag", "mlops-backup,id:20991231T000000Z-future", "."], cwd=future)
    with pytest.raises(RestoreRefusedError, match="manifest format 2; this code reads formats up to 1"):
        restore_backup(repo, stack.env, stack.state / "work", "20991231T000000Z-future", force=True)
    assert (stack.env.config_dir / "platform.yaml").read_text() != "state_dir: .mlops\n"  # type: ignore[operator]


def test_prune_keeps_what_the_strategy_retains(backup_stack: Stack) -> None:
    stack = backup_stack
    repo = stack.repository("prune")
    keep_two = Strategy(name="nightly", schedule="30 1 * * *", retention=Retention(keep_last=2), targets=["config"])
    other = Strategy(name="hourly", schedule="15 * * * *", retention=Retention(keep_last=1), targets=["config"])
    made = [create_backup(stack.env, repo, stack.state / "work", strategy=keep_two).backup_id for _ in range(3)]
    manual = create_backup(stack.env, repo, stack.state / "work", targets=["config"]).backup_id
    result = prune_backups(repo, [keep_two, other])
    assert sorted(result["nightly"]["kept"]) == made[1:]
    assert result["nightly"]["removed"] == [made[0]]
    assert result["hourly"] == {"kept": [], "removed": []}
    assert [b.backup_id for b in list_backups(repo)] == [*made[1:], manual], "other strategies' backups stay"
