"""Benchmark ``mlops backup``: backup time and size, verify time, restore time, on the local stack.

    python -m performance.benchmarks.backup --rows 100000 --out bench-results/backup.json

Starts a local reference deployment in a temporary folder (``python -m infrastructure.local_stack``),
fills the MLflow database with an MLflow-like metrics table of ``--rows`` rows (plus a few MB of
artifacts and online keys), then times a full backup (every target), ``verify`` (every stored
object re-read + every file re-hashed) and a ``--force`` restore of every target; then the same
with a registry ten times larger. The stored size is what the repository's objects take in the
bucket (encrypted, compressed by pg_dump, deduplicated by restic).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backup import (
    BackupEnvironment,
    Repository,
    create_backup,
    default_key_file,
    restore_backup,
    stack_environment,
    verify_backup,
)
from performance.benchmarks.report import write_report

ROOT = Path(__file__).resolve().parents[1]


def _stack(state: Path, action: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "infrastructure.local_stack",
            action,
            "--state",
            str(state),
            *(["--purge"] * (action == "down")),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def seed(env: BackupEnvironment, rows: int) -> None:
    import psycopg
    import redis

    pg = env.postgres
    assert pg is not None
    assert env.redis is not None
    assert env.object_store is not None
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="mlflow", autocommit=True
    ) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_metrics")
        conn.execute(
            "CREATE TABLE bench_metrics (run_uuid text, key text, value double precision, step bigint, ts bigint)"
        )
        conn.execute(
            "INSERT INTO bench_metrics SELECT md5((i / 100)::text), 'metric_' || (i %% 20), random(), i %% 100, i "
            "FROM generate_series(1, %s) AS i",
            (rows,),
        )
    with redis.Redis(host=env.redis.host, port=env.redis.port, password=env.redis.password) as client:
        pipe = client.pipeline(transaction=False)
        for i in range(10_000):
            pipe.hset(f"credit_risk:{i}", mapping={"income": str(i * 1.5), "age": str(i % 90)})
        pipe.execute()
    store = env.object_store.filesystem()
    for i in range(5):
        with store.open_output_stream(f"artifacts/mlflow/{i}/model.pkl") as out:
            out.write(os.urandom(1 << 20))


def stored_bytes(env: BackupEnvironment, prefix: str) -> int:
    from pyarrow import fs

    assert env.object_store is not None
    infos = env.object_store.filesystem().get_file_info(fs.FileSelector(prefix, recursive=True))
    return sum(i.size or 0 for i in infos if i.type == fs.FileType.File)


def measure(env: BackupEnvironment, state: Path, rows: int, name: str) -> dict[str, Any]:
    assert env.object_store is not None
    seed(env, rows)
    repo = Repository(
        f"s3:{env.object_store.endpoint}/backups/{name}",
        default_key_file(state),
        store=env.object_store,
        cache_dir=state / "backup" / "cache",
    )
    work = state / "backup" / "work"
    start = time.monotonic()
    manifest = create_backup(env, repo, work)
    backup_s = time.monotonic() - start
    start = time.monotonic()
    verify_backup(repo, work, manifest.backup_id)
    verify_s = time.monotonic() - start
    start = time.monotonic()
    restore_backup(repo, env, work, manifest.backup_id, force=True)
    restore_s = time.monotonic() - start
    return {
        "registry_rows": rows,
        "backup_s": round(backup_s, 2),
        "verify_s": round(verify_s, 2),
        "restore_s": round(restore_s, 2),
        "dump_bytes": manifest.size,
        "stored_bytes": stored_bytes(env, f"backups/{name}"),
        "targets": {t.name: t.size for t in manifest.targets},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="metric rows in the registry (then 10x)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/backup.json"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    folder.chmod(0o711)  # PostgreSQL's unprivileged account traverses it
    try:
        _stack(folder, "up")
        env = stack_environment(folder, ROOT / "config")
        results = [measure(env, folder, args.rows, "base"), measure(env, folder, args.rows * 10, "x10")]
    finally:
        _stack(folder, "down")
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "benchmark": "backup",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    write_report(args.out, report)
    for r in results:
        dumps, stored = r["dump_bytes"] / 1e6, r["stored_bytes"] / 1e6
        print(
            f"registry {r['registry_rows']:>9} rows: backup {r['backup_s']:.1f} s, verify {r['verify_s']:.1f} s, "
            f"restore {r['restore_s']:.1f} s, dumps {dumps:.1f} MB, stored {stored:.1f} MB"
        )


if __name__ == "__main__":
    main()
