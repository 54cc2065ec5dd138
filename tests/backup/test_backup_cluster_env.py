"""`mlops backup` on the cluster: the environment built from what a pod of the backups chart has
(restic's variables, the libpq password file, the Redis password, the artifacts URI; S3 through
the default AWS chain), every target's endpoint from it, one clear line for each broken input,
and a real round trip: `mlops backup create|verify|restore --env staging` with a cluster-shaped
pod environment against the real servers of the local stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backup import TARGETS, BackupEnvironment, ObjectStoreEndpoint, PostgresEndpoint, Tree, cluster_environment
from backup.environment import (
    ARTIFACTS_READ_ONLY,
    CONFIG_IN_IMAGE,
    CONSENT_ON_CLUSTER,
    OPENBAO_ON_CLUSTER,
    PREDICTIONS_ON_PODS,
    SHADOW_ON_PODS,
)
from backup.repository import Repository
from backup.targets import FeastOffline, _PostgresDatabase
from mlops.errors import BackupError
from tests.backup.conftest import Stack
from tests.local_stack import ROOT

RDS = "mlops-staging-registry.abc.eu-west-1.rds.amazonaws.com"
PASSWORDS = {  # pragma: allowlist secret
    "mlflow": "pw-mlflow",  # pragma: allowlist secret
    "feast_registry": "pw:with\\colon",  # pragma: allowlist secret
    "feast_offline": "pw-offline",  # pragma: allowlist secret
    "consent": "pw-consent",  # pragma: allowlist secret
}
# What a pod of the backups chart has besides the files (tests/infrastructure/test_backups_chart.py
# checks the chart sets these).
POD = {
    "MLOPS_ENV": "staging",
    "RESTIC_REPOSITORY": "s3:https://s3.amazonaws.com/mlops-staging-backups-111122223333/restic",
    "RESTIC_PASSWORD_FILE": "/vault/secrets/backup-encryption-key",  # pragma: allowlist secret
    "RESTIC_CACHE_DIR": "/tmp/restic-cache",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "MLOPS_ARTIFACTS_URI": "s3://mlops-staging-artifacts-111122223333/mlflow",
    "REDIS_PASSWORD": "redis-pw",  # pragma: allowlist secret
    "TMPDIR": "/tmp",
    # The IRSA role's web identity: what the SDKs use in place of a key pair.
    "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/mlops-staging-backup",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
}
REDIS = "redis-master.feature-store.svc:6379"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_lines(host: str, port: int, users: dict[str, str], passwords: dict[str, str]) -> str:
    """One libpq line per database, as the chart's Vault template renders them."""
    return "".join(f"{host}:{port}:{db}:{user}:{_escape(passwords[db])}\n" for db, user in users.items())


def pod_environ(tmp_path: Path, **overrides: str) -> dict[str, str]:
    pgpass = tmp_path / "pgpass"
    if not pgpass.exists():
        users = {db: db for db in ("feast_offline", "feast_registry", "mlflow", "consent")}
        pgpass.write_text("# rendered by the Vault agent\n" + pgpass_lines(RDS, 5432, users, PASSWORDS))
        pgpass.chmod(0o400)
    return POD | {"PGPASSFILE": str(pgpass)} | overrides


def build(environ: dict[str, str], redis: str | None = REDIS) -> BackupEnvironment:
    return cluster_environment("staging", config_dir=ROOT / "config", redis_connection=redis, environ=environ)


# --------------------------------------------------------------------------- the environment
def test_every_target_gets_its_cluster_endpoint(tmp_path: Path) -> None:
    env = build(pod_environ(tmp_path))
    # One role per database, from the password file; the password stays in the file for libpq.
    assert env.postgres is None
    assert env.database("mlflow") == PostgresEndpoint(RDS, 5432, "mlflow")
    assert env.database("feast_registry") == PostgresEndpoint(RDS, 5432, "feast_registry")
    assert env.database("feast_offline") == PostgresEndpoint(RDS, 5432, "feast_offline")
    assert all(pg.password is None for pg in env.databases.values())
    assert (env.mlflow_database, env.feast_database, env.feast_offline_database) == (
        "mlflow",
        "feast_registry",
        "feast_offline",
    )
    # S3 through the default AWS chain: AWS's own endpoint in the pod's region, no key pair.
    s3 = ObjectStoreEndpoint(None, region="eu-west-1")
    assert env.artifacts == Tree("mlops-staging-artifacts-111122223333/mlflow", s3, read_only=ARTIFACTS_READ_ONLY)
    assert env.object_store == s3
    assert env.redis is not None
    assert (env.redis.host, env.redis.port, env.redis.password) == ("redis-master.feature-store.svc", 6379, "redis-pw")
    assert env.repository is not None
    assert env.repository.location == POD["RESTIC_REPOSITORY"]
    assert env.repository.key_file == Path("/vault/secrets/backup-encryption-key")
    assert env.repository.cache_dir == Path("/tmp/restic-cache")
    assert env.repository.store == s3
    assert env.repository.generate_key is False
    assert env.workdir == Path("/tmp/mlops-backup")  # the scratch volume, not the 1 GiB state one
    # What each target does here: dumps, or a reason printed and written to the manifest.
    why = {name: env.unavailable.get(name) or cls().missing(env) for name, cls in TARGETS.items()}
    assert why == {
        "mlflow-db": None,
        "consent-db": None,
        "feast-registry": None,
        "feast-offline": None,
        "artifacts": None,
        "online-store": None,
        "prediction-logs": PREDICTIONS_ON_PODS,
        "shadow-logs": SHADOW_ON_PODS,
        "openbao": OPENBAO_ON_CLUSTER,
        "config": None,
    }
    assert "backup/playbooks/openbao.md" in OPENBAO_ON_CLUSTER
    offline = FeastOffline()._database(env)
    assert offline is not None
    assert (offline.pg, offline.database) == (
        PostgresEndpoint(RDS, 5432, "feast_offline"),
        "feast_offline",
    )
    # A restore goes back into the databases and Redis; the rest is refused with why.
    refused = {name: r for name, cls in TARGETS.items() if (r := env.unavailable.get(name) or cls().unrestorable(env))}
    assert refused == {
        "artifacts": ARTIFACTS_READ_ONLY,
        "prediction-logs": PREDICTIONS_ON_PODS,
        "shadow-logs": SHADOW_ON_PODS,
        "openbao": OPENBAO_ON_CLUSTER,
        "config": CONFIG_IN_IMAGE,
    }


def test_a_password_file_without_the_consent_database_skips_its_target(tmp_path: Path) -> None:
    """The consent database is optional to the backup: without its line (a chart whose values
    left it out) consent-db is skipped with the reason, the other databases are still dumped."""
    users = {db: db for db in ("feast_offline", "feast_registry", "mlflow")}
    (tmp_path / "pgpass").write_text(pgpass_lines(RDS, 5432, users, PASSWORDS))
    env = build(pod_environ(tmp_path))
    assert env.unavailable["consent-db"] == CONSENT_ON_CLUSTER
    assert TARGETS["consent-db"]().missing(env) == "no consent database"
    assert TARGETS["mlflow-db"]().missing(env) is None


def test_no_password_is_kept_or_shown(tmp_path: Path) -> None:
    env = build(pod_environ(tmp_path))
    shown = repr(env)
    for secret in (*PASSWORDS.values(), "redis-pw"):
        assert secret not in shown
    # pg_dump gets no PGPASSWORD: libpq reads PGPASSFILE itself.
    assert "PGPASSWORD" not in _PostgresDatabase(env.databases["mlflow"], "mlflow")._env()


def test_restic_keeps_the_pods_web_identity_and_uses_the_vault_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_cli.backup import repository

    environ = pod_environ(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    env = build(environ)
    repo = repository(env, tmp_path / "state", None, None)
    assert (repo.location, repo.key_file, repo.cache_dir, repo.generate_key) == (
        POD["RESTIC_REPOSITORY"],
        Path(POD["RESTIC_PASSWORD_FILE"]),
        Path("/tmp/restic-cache"),
        False,
    )
    child = repo._env()
    assert child["AWS_ROLE_ARN"] == POD["AWS_ROLE_ARN"]
    assert child["AWS_WEB_IDENTITY_TOKEN_FILE"] == POD["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert child["AWS_REGION"] == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in child
    assert "AWS_ENDPOINT_URL" not in child
    assert child["RESTIC_REPOSITORY"] == POD["RESTIC_REPOSITORY"]
    # --repository / --key-file still win over the pod's variables.
    other = repository(env, tmp_path / "state", "s3:https://s3.amazonaws.com/other/restic", tmp_path / "k")
    assert (other.location, other.key_file, other.store) == (
        "s3:https://s3.amazonaws.com/other/restic",
        tmp_path / "k",
        env.object_store,
    )
    # A keyless store opens a pyarrow file system on the default chain (no request is made).
    assert env.object_store is not None
    assert env.object_store.filesystem().region == "eu-west-1"


def test_a_missing_key_file_is_never_replaced_by_a_new_key(tmp_path: Path) -> None:
    from mlops.errors import BackupKeyError

    key = tmp_path / "backup-encryption-key"
    repo = Repository(str(tmp_path / "repo"), key, generate_key=False)
    with pytest.raises(BackupKeyError, match=f"the repository key file {key} is missing"):
        repo.ensure(create=True)
    assert not key.exists()


@pytest.mark.parametrize(
    ("repository", "endpoint", "region"),
    [
        ("s3:https://s3.eu-central-1.amazonaws.com/b/restic", None, "eu-central-1"),
        ("s3:https://s3.amazonaws.com/b/restic", None, "eu-west-1"),
        ("s3:https://minio.backup.svc:9000/b/restic", "https://minio.backup.svc:9000", "eu-west-1"),
    ],
)
def test_the_store_follows_the_repository_host(
    tmp_path: Path, repository: str, endpoint: str | None, region: str
) -> None:
    env = build(pod_environ(tmp_path, RESTIC_REPOSITORY=repository))
    assert env.object_store == ObjectStoreEndpoint(endpoint, region=region)


def test_a_prediction_log_in_s3_is_backed_up(tmp_path: Path) -> None:
    env = cluster_environment(
        "prod",
        config_dir=None,
        redis_connection=REDIS,
        environ=pod_environ(tmp_path),
        prediction_log_root="s3://mlops-prod-logs/predictions/",
    )
    assert env.prediction_logs == Tree("mlops-prod-logs/predictions", ObjectStoreEndpoint(None, region="eu-west-1"))
    assert "prediction-logs" not in env.unavailable
    assert TARGETS["prediction-logs"]().missing(env) is None


def test_without_a_redis_connection_the_online_store_says_why(tmp_path: Path) -> None:
    environ = pod_environ(tmp_path)
    del environ["REDIS_PASSWORD"]
    env = build(environ, redis=None)
    assert env.redis is None
    assert env.unavailable["online-store"] == "features.redis_connection is not set in the platform config"


# --------------------------------------------------------------------------- broken inputs
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("db.example:5432:mlflow:mlflow", r"line 2: 4 field\(s\), expected 5: host:port:database:user:password"),
        ("db.example:5432:mlflow:mlflow:pw:extra", r"line 2: 6 field\(s\), expected 5"),
        ("*:5432:mlflow:mlflow:pw", r"line 2: the host field must name one host, not '\*'"),
        ("db.example:54x2:mlflow:mlflow:pw", r"line 2: port '54x2' is not a port number"),
        ("db.example:5432::mlflow:pw", r"line 2: the database field must name one database, not 'nothing'"),
    ],
)
def test_a_malformed_pgpass_line_is_named_by_file_and_number(tmp_path: Path, line: str, message: str) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"# comment\n{line}\n")
    with pytest.raises(BackupError, match=f"^PGPASSFILE {re.escape(str(pgpass))}, {message}") as raised:
        build(pod_environ(tmp_path))
    assert "mlflow:pw" not in str(raised.value), "the line is not echoed"
    assert "extra" not in str(raised.value), "the line is not echoed"
    assert "\n" not in str(raised.value)


def test_a_pgpass_without_a_database_names_it(tmp_path: Path) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(pgpass_lines(RDS, 5432, {"mlflow": "mlflow"}, PASSWORDS))
    with pytest.raises(BackupError) as raised:
        build(pod_environ(tmp_path))
    assert str(raised.value) == f"PGPASSFILE {pgpass}: no line for database(s) feast_registry, feast_offline"


def test_an_unreadable_pgpass_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "nowhere" / "pgpass"
    with pytest.raises(BackupError, match=f"^PGPASSFILE {re.escape(str(gone))} cannot be read: No such file"):
        build(pod_environ(tmp_path, PGPASSFILE=str(gone)))


@pytest.mark.parametrize(
    "variable", ["RESTIC_REPOSITORY", "RESTIC_PASSWORD_FILE", "PGPASSFILE", "MLOPS_ARTIFACTS_URI", "REDIS_PASSWORD"]
)
def test_a_missing_variable_is_named(tmp_path: Path, variable: str) -> None:
    environ = pod_environ(tmp_path)
    del environ[variable]
    with pytest.raises(BackupError) as raised:
        build(environ)
    assert str(raised.value) == (
        f"environment staging: variable(s) {variable} not set "
        "(the backups chart's CronJobs set them: infrastructure/helm/backups)"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"RESTIC_REPOSITORY": "/srv/restic"},
            "RESTIC_REPOSITORY '/srv/restic': expected s3:https://HOST/BUCKET/PREFIX",
        ),
        ({"RESTIC_REPOSITORY": "s3:bucket/restic"}, "RESTIC_REPOSITORY 's3:bucket/restic': expected s3:https://"),
        (
            {"MLOPS_ARTIFACTS_URI": "s3://artifacts"},
            "MLOPS_ARTIFACTS_URI 's3://artifacts': expected s3://BUCKET/PREFIX",
        ),
        ({"MLOPS_ARTIFACTS_URI": "gs://a/mlflow"}, "MLOPS_ARTIFACTS_URI 'gs://a/mlflow': expected s3://BUCKET/PREFIX"),
    ],
)
def test_a_malformed_variable_is_named_with_what_was_expected(
    tmp_path: Path, override: dict[str, str], message: str
) -> None:
    with pytest.raises(BackupError, match=f"^{re.escape(message)}"):
        build(pod_environ(tmp_path, **override))


def test_a_malformed_redis_connection_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"^features.redis_connection 'redis-master': expected host:port$"):
        build(pod_environ(tmp_path), redis="redis-master")


# --------------------------------------------------------------------------- a real round trip
# The cluster's roles, one per database, made in the stack's PostgreSQL. MLflow's own role owns
# its database there (and the stack's MLflow uses it): a read-only role dumps it instead.
ROLES = {"mlflow": "mlflow_reader", "feast_registry": "feast_registry", "feast_offline": "feast_offline"}


def _connect(stack: Stack, db: str, user: str | None = None, password: str | None = None) -> Any:
    import psycopg

    pg = stack.env.postgres
    assert pg is not None
    return psycopg.connect(
        host=pg.host,
        port=pg.port,
        user=user or pg.user,
        password=password or pg.password,
        dbname=db,
        autocommit=True,
    )


def _cluster_databases(stack: Stack, passwords: dict[str, str]) -> None:
    from psycopg import sql

    with _connect(stack, "postgres") as conn:
        for db, role in ROLES.items():
            ident = sql.Identifier(role)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(passwords[db])))
            if (
                db != "mlflow"
                and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None
            ):
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), ident))
        conn.execute("GRANT pg_read_all_data TO mlflow_reader")
        conn.execute("GRANT CONNECT ON DATABASE mlflow TO mlflow_reader")


def _seed_cluster(stack: Stack, passwords: dict[str, str]) -> None:
    with _connect(stack, "mlflow") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS cluster_probe (name text PRIMARY KEY)")
        conn.execute("INSERT INTO cluster_probe VALUES ('credit_risk') ON CONFLICT DO NOTHING")
    with _connect(stack, "feast_registry", "feast_registry", passwords["feast_registry"]) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS projects (id text PRIMARY KEY, proto bytea)")
        conn.execute("INSERT INTO projects VALUES ('mlops', '\\x0102') ON CONFLICT DO NOTHING")
    with _connect(stack, "feast_offline", "feast_offline", passwords["feast_offline"]) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS features")
        conn.execute("CREATE TABLE IF NOT EXISTS features.credit_risk (applicant_id text PRIMARY KEY, income float8)")
        conn.execute("INSERT INTO features.credit_risk VALUES ('APP-1', 51000.5) ON CONFLICT DO NOTHING")
    import redis

    assert stack.env.redis is not None
    with redis.Redis(host=stack.env.redis.host, port=stack.env.redis.port, password=stack.env.redis.password) as r:
        r.set("cluster:APP-1", "51000.5")
    assert stack.env.object_store is not None
    s3 = stack.env.object_store.filesystem()
    for path, data in (("artifacts/mlflow/7/model.pkl", b"cluster model"), ("artifacts/elsewhere/x", b"not mlflow")):
        with s3.open_output_stream(path) as out:
            out.write(data)


def _cluster_pod(stack: Stack, root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A pod of the backups chart, pointed at the stack: the chart's variables and files, S3 keys
    from the environment (the default AWS chain's first source, as the web identity is on AWS)."""
    import secrets

    store, redis, pg = stack.env.object_store, stack.env.redis, stack.env.postgres
    assert store is not None
    assert redis is not None
    assert pg is not None
    vault = root / "vault"
    vault.mkdir(parents=True)
    passwords = {db: secrets.token_urlsafe(12) + ":\\" for db in ROLES}  # libpq's escapes exercised
    _cluster_databases(stack, passwords)
    (vault / "pgpass").write_text(pgpass_lines(pg.host, pg.port, ROLES, passwords))
    (vault / "backup-encryption-key").write_text(secrets.token_urlsafe(32) + "\n")
    for file in vault.iterdir():
        file.chmod(0o400)
    # The config image's staging file, with Redis where the stack runs it.
    config = root / "config"
    shutil.copytree(ROOT / "config", config)
    staging = config / "environments" / "staging.yaml"
    text = staging.read_text()
    assert "redis_connection: redis-master.feature-store.svc:6379" in text
    staging.write_text(text.replace("redis-master.feature-store.svc:6379", f"{redis.host}:{redis.port}"))
    (root / "scratch").mkdir()
    _seed_cluster(stack, passwords)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_", "PG", "MLOPS_"))}
    return passwords, inherited | {
        "MLOPS_ENV": "staging",
        "MLOPS_CONFIG_DIR": str(config),
        "MLOPS_STATE": str(root / "state"),
        "RESTIC_REPOSITORY": f"s3:{store.endpoint}/backups/cluster",
        "RESTIC_PASSWORD_FILE": str(vault / "backup-encryption-key"),
        "RESTIC_CACHE_DIR": str(root / "scratch" / "restic-cache"),
        "PGPASSFILE": str(vault / "pgpass"),
        "REDIS_PASSWORD": redis.password or "",
        "MLOPS_ARTIFACTS_URI": "s3://artifacts/mlflow",
        "AWS_ACCESS_KEY_ID": store.access_key or "",
        "AWS_SECRET_ACCESS_KEY": store.secret_key or "",
        "AWS_REGION": store.region,
        "TMPDIR": str(root / "scratch"),
        "COLUMNS": "200",
    }


def _mlops(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", "backup", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_cluster_pod_backs_up_and_restores_the_stacks_real_servers(backup_stack: Stack, tmp_path: Path) -> None:
    stack = backup_stack
    passwords, pod = _cluster_pod(stack, tmp_path)
    made = _mlops(pod, "create", "--strategy", "nightly", "--json")
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["environment"] == "staging"
    entries = {t["name"]: t for t in manifest["targets"]}
    files = {name: sorted(f["path"] for f in t["files"]) for name, t in entries.items()}
    assert files["mlflow-db"] == ["mlflow-db/mlflow.dump"]
    assert files["feast-registry"] == ["feast-registry/feast_registry.dump"]
    assert files["feast-offline"] == ["feast-offline/feast_offline.dump"]
    assert files["artifacts"] == ["artifacts/7/model.pkl"], "only MLflow's prefix of the bucket"
    assert entries["online-store"]["status"] == "complete"
    assert files["config"], "the image's config folder"
    for name in ("openbao", "prediction-logs", "shadow-logs"):
        assert entries[name]["status"] == "skipped", name
    assert entries["openbao"]["detail"] == OPENBAO_ON_CLUSTER
    assert entries["prediction-logs"]["detail"] == PREDICTIONS_ON_PODS
    assert not any(tmp_path.joinpath("state").glob("backup/work/*")), "dumps go to the scratch folder"

    # The readable output says why a target did not run.
    text = _mlops(pod, "create", "--targets", "openbao,shadow-logs")
    assert text.returncode == 0, text.stderr
    assert re.search(r"openbao\s+skipped: Vault on the cluster is operated separately", text.stdout), text.stdout
    assert "backup/playbooks/openbao.md" in text.stdout

    checked = _mlops(pod, "verify", "--backup", manifest["backup_id"], "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["files"] == sum(len(f) for f in files.values())

    # Lose the Feast data and the online keys; restore them into the same endpoints.
    with _connect(stack, "feast_offline", "feast_offline", passwords["feast_offline"]) as conn:
        conn.execute("DROP TABLE features.credit_risk")
    with _connect(stack, "feast_registry", "feast_registry", passwords["feast_registry"]) as conn:
        conn.execute("DELETE FROM projects")
    import redis

    assert stack.env.redis is not None
    with redis.Redis(host=stack.env.redis.host, port=stack.env.redis.port, password=stack.env.redis.password) as r:
        r.delete("cluster:APP-1")
    back = _mlops(
        pod,
        "restore",
        "--backup",
        manifest["backup_id"],
        "--to",
        "staging",
        "--targets",
        "feast-registry,feast-offline,online-store",
        "--force",
    )
    assert back.returncode == 0, back.stderr
    with _connect(stack, "feast_offline", "feast_offline", passwords["feast_offline"]) as conn:
        assert conn.execute("SELECT applicant_id, income FROM features.credit_risk").fetchall() == [("APP-1", 51000.5)]
    with _connect(stack, "feast_registry", "feast_registry", passwords["feast_registry"]) as conn:
        assert conn.execute("SELECT id FROM projects").fetchall() == [("mlops",)]
    with redis.Redis(host=stack.env.redis.host, port=stack.env.redis.port, password=stack.env.redis.password) as r:
        assert r.get("cluster:APP-1") == b"51000.5"

    # What the backup role cannot write back is refused before anything is touched.
    refused = _mlops(pod, "restore", "--backup", manifest["backup_id"], "--to", "staging", "--targets", "artifacts")
    assert refused.returncode == 1
    assert f"environment staging has no store for target(s) artifacts ({ARTIFACTS_READ_ONLY})" in refused.stderr
