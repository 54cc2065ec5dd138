"""Benchmark ``mlops backup``: backup time and size, verify time, restore time, on the local stack.

    python -m performance.benchmarks.backup --rows 100000 --out bench-results/backup.json

Starts a local reference deployment in a temporary folder (``python -m infrastructure.local_stack``)
and runs the training pipeline on it (``mlops run training --env local-stack``, the version
promoted to champion): the deployment ``make up`` + a run leaves. It times a full backup (every
target), ``verify`` (every stored object re-read + every file re-hashed) and a ``--force``
restore of every target, then the DR drill (``mlops dr drill``: RTO, RPO, phases). Then it fills
the MLflow database with an MLflow-like metrics table of ``--rows`` rows (plus a few MB of
artifacts and online keys) and measures again, and again with a registry ten times larger. The
stored size is what the repository's objects take in the bucket (encrypted, compressed by
pg_dump, deduplicated by restic).
"""

from __future__ import annotations

import argparse
import json
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
from infrastructure.local_stack import write_config_dir
from performance.benchmarks.report import write_report

ROOT = Path(__file__).resolve().parents[2]


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


def _mlops(state: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {"MLOPS_ENV": "local-stack", "MLOPS_CONFIG_DIR": str(config), "MLOPS_STATE": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=ROOT, env=environ, check=True, capture_output=True, text=True
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
    """Backup, verify and restore times and sizes; ``rows`` synthetic registry rows added first (0: none)."""
    assert env.object_store is not None
    if rows:
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
        "deployment": name,
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
        config = write_config_dir(folder, folder / "config")
        for command in (["run", "training"], ["models", "promote", "credit_risk", "1.0.0", "--to", "champion"]):
            _mlops(folder, config, *command)
        results = [measure(stack_environment(folder, config), folder, 0, "after-run")]
        drill = json.loads(_mlops(folder, config, "dr", "drill", "--json").stdout)
        env = stack_environment(folder, config)  # OpenBao's token is the restored one's
        results += [measure(env, folder, args.rows, "base"), measure(env, folder, args.rows * 10, "x10")]
    finally:
        _stack(folder, "down")
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "benchmark": "backup",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
        "drill": {
            k: drill[k] for k in ("passed", "rto_s", "rpo_s", "backup_age_s", "phases", "backup_bytes", "checked")
        },
    }
    write_report(args.out, report)
    print(
        f"drill: {'verified' if drill['passed'] else 'FAILED'}, RTO {drill['rto_s']:.1f} s, RPO {drill['rpo_s']:.1f} s"
    )
    for r in results:
        dumps, stored = r["dump_bytes"] / 1e6, r["stored_bytes"] / 1e6
        print(
            f"{r['deployment']:<9} registry +{r['registry_rows']:>8} rows: backup {r['backup_s']:.1f} s, "
            f"verify {r['verify_s']:.1f} s, "
            f"restore {r['restore_s']:.1f} s, dumps {dumps:.1f} MB, stored {stored:.1f} MB"
        )


if __name__ == "__main__":
    main()
