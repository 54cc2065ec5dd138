"""Feast's PostgreSQL offline tables (local stack, cluster): rows whose event timestamp is older
than the period are deleted in the database, the rest stay; a table not there yet is no error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from privacy.retention import OfflineTable, RetentionConfig, RetentionContext, apply_retention
from tests.local_stack import stack_folder
from tests.privacy.test_retention import NOW, OLD, RECENT


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, object]]:
    with stack_folder("retention-pg-", servers=("postgres",)) as folder:
        record = json.loads((folder / "stack" / "stack.json").read_text())
        yield {
            "host": "127.0.0.1",
            "port": int(record["servers"]["postgres"]["ports"]["postgres"]),
            "user": "postgres",
            "password": record["credentials"]["postgres_superuser_password"],
            "dbname": "postgres",
        }


def test_old_offline_rows_are_deleted_in_the_database(postgres: dict[str, object], tmp_path: Path) -> None:
    with psycopg.connect(**postgres) as conn:  # type: ignore[arg-type]
        conn.execute("CREATE SCHEMA IF NOT EXISTS feast_offline")
        conn.execute("DROP TABLE IF EXISTS feast_offline.credit_risk_features")
        conn.execute("CREATE TABLE feast_offline.credit_risk_features (applicant_id text, application_ts timestamptz)")
        rows = [("a", OLD), ("b", OLD - timedelta(days=3)), ("c", RECENT)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO feast_offline.credit_risk_features VALUES (%s, %s)", rows)

    def connect() -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(**postgres)  # type: ignore[arg-type]

    tables = [
        OfflineTable(
            "credit_risk_features", "postgres", '"feast_offline"."credit_risk_features"', "application_ts", connect
        ),
        OfflineTable("not_built_yet", "postgres", '"feast_offline"."not_built_yet"', "application_ts", connect),
    ]
    config = RetentionConfig.model_validate({"policies": [{"type": "feast_offline", "days": 30}]})
    context = RetentionContext(state_dir=tmp_path, offline_tables=lambda: tables)

    dry = apply_retention(config, context, dry_run=True, now=NOW)
    done = apply_retention(config, context, now=NOW)

    assert [(i.location, i.rows) for i in dry.stores[0].items] == [
        ('credit_risk_features: "feast_offline"."credit_risk_features"', 2)
    ]
    assert done.stores[0].rows == 2
    with psycopg.connect(**postgres) as conn:  # type: ignore[arg-type]
        left = conn.execute("SELECT applicant_id FROM feast_offline.credit_risk_features").fetchall()
    assert left == [("c",)]
