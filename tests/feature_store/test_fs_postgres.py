"""Feast's PostgreSQL offline store (local-stack, staging, prod) against the real PostgreSQL of a
local stack started by this module (SeaweedFS, PostgreSQL, Redis, OpenBao, MLflow on free ports).

A build on local-stack writes its offline source into a table of the ``feast`` database and
joins there: the training set must be the one the parquet build of dev gives (values, nulls
and dtypes), the point-in-time join must not leak a value known later into an earlier label
row, and a lost online store is rebuilt from the table. The broken inputs (an unknown offline
store type, a temp-table entity mode, a view name PostgreSQL would truncate, a file source
under a PostgreSQL store) need no server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from feature_store.config import FeatureConfig
from feature_store.freshness import feature_freshness
from feature_store.offline import OFFLINE_SOURCES, PostgresOfflineSource, offline_source_for
from feature_store.rebuild import rebuild_online
from feature_store.registry import load_template, template_variables
from feature_store.store import OnlineFeatureReader, TrainingSetResult, build_training_set
from infrastructure.local_stack import write_config_dir
from mlops.errors import FeatureStoreError
from mlops.secrets import SecretResolver, set_default_resolver
from mlops.state import StateLayout
from tests.local_stack import ROOT, stack_folder
from training.sample_data import generate_credit_risk, sample_feature_schema


@dataclass(frozen=True)
class PgStack:
    state: Path
    features: FeatureConfig
    resolver: SecretResolver

    def connect(self) -> Any:
        import psycopg

        variables = self.features.variables
        return psycopg.connect(
            host=variables["FEAST_POSTGRES_HOST"],
            port=int(variables["FEAST_POSTGRES_PORT"]),
            dbname="feast",
            user="feast",
            password=self.resolver.resolve(variables["FEAST_OFFLINE_PASSWORD"]),
            autocommit=True,
        )

    def build(self, df: pd.DataFrame, folder: str, **kwargs: Any) -> TrainingSetResult:
        return build_training_set(
            df,
            state_dir=StateLayout(self.state / folder).feast,
            config=self.features,
            environment="local-stack",
            resolve=self.resolver.resolve,
            **kwargs,
        )


@pytest.fixture(scope="module")
def pg_stack() -> Iterator[PgStack]:
    from platform_config import load_platform_config

    with stack_folder("fs-postgres-") as state:
        platform = load_platform_config(write_config_dir(state, state / "config"), "local-stack")
        resolver = SecretResolver(platform.vault)
        # rebuild_online and the freshness read resolve the store's passwords themselves, as the CLI does.
        set_default_resolver(resolver)
        try:
            yield PgStack(state, platform.features, resolver)
        finally:
            set_default_resolver(None)


def _credit(n: int) -> tuple[pd.DataFrame, list[str]]:
    """The sample with nulls in a float, a string and a nullable-int feature, and a bool feature."""
    df = generate_credit_risk(n)
    rng = np.random.default_rng(7)
    df["flag"] = rng.random(n) > 0.5
    counts = pd.Series(rng.integers(0, 9, n), dtype="Int64")
    df["maybe_count"] = counts.mask(rng.random(n) > 0.8)
    df.loc[rng.random(n) > 0.9, "income"] = np.nan
    df.loc[rng.random(n) > 0.9, "region"] = None
    return df, [*sample_feature_schema().columns, "flag", "maybe_count"]


CREDIT: dict[str, Any] = {"name": "credit-risk", "entity_column": "applicant_id", "timestamp_column": "application_ts"}


@pytest.fixture(scope="module")
def credit(pg_stack: PgStack) -> tuple[pd.DataFrame, list[str], TrainingSetResult]:
    df, features = _credit(3000)
    built = pg_stack.build(df, "credit", feature_columns=features, carry_columns=["defaulted", "sex"], **CREDIT)
    return df, features, built


def test_the_postgres_build_is_the_parquet_build(credit: tuple[pd.DataFrame, list[str], TrainingSetResult]) -> None:
    df, features, on_pg = credit
    with tempfile.TemporaryDirectory() as folder:
        on_files = build_training_set(
            df,
            state_dir=Path(folder),
            config=FeatureConfig(),
            feature_columns=features,
            carry_columns=["defaulted", "sex"],
            **CREDIT,
        )
    assert on_pg.offline_source.startswith("postgresql://127.0.0.1:")
    assert on_pg.offline_source.endswith(f"/feast/features.{on_pg.feature_views[0]}")
    assert Path(on_files.offline_source).suffix == ".parquet"
    # Same rows, values, nulls and dtypes, whichever offline store ran the join.
    pd.testing.assert_frame_equal(on_pg.frame, on_files.frame)
    assert on_pg.frame[["income", "region", "maybe_count"]].isna().sum().min() > 0
    assert on_pg.rows_out == on_pg.rows_in == len(df)


def test_the_offline_table_has_typed_columns_and_nulls(
    pg_stack: PgStack, credit: tuple[pd.DataFrame, list[str], TrainingSetResult]
) -> None:
    df, _, built = credit
    view = built.feature_views[0]
    with pg_stack.connect() as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'features' AND table_name = %s",
                (view,),
            ).fetchall()
        )
        nulls = conn.execute(
            f"SELECT count(*) FILTER (WHERE income IS NULL), count(*) FILTER (WHERE region IS NULL), "
            f'count(*) FILTER (WHERE maybe_count IS NULL), count(*) FROM features."{view}"'
        ).fetchone()
        leftovers = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'features' "
            "AND table_name LIKE 'entity_rows_%'"
        ).fetchone()
    assert types["applicant_id"] == "text"
    assert types["application_ts"] == "timestamp with time zone"
    assert types["income"] == "double precision"
    assert types["credit_score"] == "bigint"
    assert types["region"] == "text"
    assert types["maybe_count"] == "bigint"
    assert nulls == (df["income"].isna().sum(), df["region"].isna().sum(), df["maybe_count"].isna().sum(), len(df))
    assert leftovers == (0,), "the entity rows' table is dropped after the join"


def test_a_value_known_later_never_reaches_an_earlier_label_row(pg_stack: PgStack) -> None:
    ts = pd.to_datetime
    df = pd.DataFrame(
        {
            "customer": [1, 1, 1, 2],
            "event_ts": ts(["2025-01-01", "2025-01-05", "2025-01-20", "2025-01-03"], utc=True),
            # When each value became known: the second row's value only five days after its event.
            "known_at": ts(["2025-01-01", "2025-01-10", "2025-01-20", "2025-01-03"], utc=True),
            "spend": [1.0, 2.0, np.nan, 5.0],
            "tier": ["gold", "silver", None, None],
            "label": [0, 1, 0, 1],
        }
    )
    result = pg_stack.build(
        df,
        "pit",
        name="orders",
        entity_column="customer",
        timestamp_column="event_ts",
        feature_timestamp_column="known_at",
        feature_columns=["spend", "tier"],
        carry_columns=["label"],
    )
    frame = result.frame.set_index("event_ts")
    # 01-05: only the 01-01 value was known; 2.0 (known 01-10) must not leak in.
    assert frame.loc[ts("2025-01-05", utc=True), "spend"] == 1.0
    assert frame.loc[ts("2025-01-05", utc=True), "tier"] == "gold"
    # 01-20: the newest known value is a null, and stays one (not the older 1.0).
    assert frame["spend"].isna().tolist() == [False, False, False, True]
    assert frame.loc[ts("2025-01-20", utc=True), "tier"] is None
    assert frame.loc[ts("2025-01-03", utc=True), "spend"] == 5.0
    assert frame["label"].tolist() == [0, 1, 1, 0]  # sorted by event time: 01-01, 01-03, 01-05, 01-20
    assert frame["customer"].dtype == "int64"


def test_a_lost_online_store_is_rebuilt_from_the_offline_table(
    pg_stack: PgStack, credit: tuple[pd.DataFrame, list[str], TrainingSetResult]
) -> None:
    import redis

    _, _, built = credit
    state = pg_stack.state / "credit"
    reader = OnlineFeatureReader(
        name="credit-risk",
        state_dir=StateLayout(state).feast,
        config=pg_stack.features,
        environment="local-stack",
        view=built.feature_views[0],
    )
    # The newest entities: those inside the online window (features.online_window_days).
    ids = built.frame["applicant_id"].drop_duplicates(keep="last").tail(200).tolist()
    before = reader.frame(ids)
    assert before.drop(columns="applicant_id").notna().any(axis=1).all()

    host, port = (pg_stack.features.redis_connection or "").split(":")
    password = pg_stack.resolver.resolve(pg_stack.features.variables["REDIS_PASSWORD"])
    with redis.Redis(host=host, port=int(port), password=password) as client:
        client.flushdb()
    assert reader.frame(ids).drop(columns="applicant_id").isna().all().all()

    rebuilt = rebuild_online(state, pg_stack.features, environment="local-stack", views=built.feature_views)
    assert [r.source for r in rebuilt] == [f'"features"."{built.feature_views[0]}"']
    pd.testing.assert_frame_equal(reader.frame(ids), before)

    fresh = feature_freshness(state, pg_stack.features, "local-stack")[built.feature_views[0]]
    assert fresh.basis == "online", fresh.note


def test_a_store_that_moved_from_parquet_files_to_postgres_builds_again(
    pg_stack: PgStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment whose registry still holds the parquet FileSource of a view (built before its
    offline store was PostgreSQL): Feast cannot update a source into another kind in place."""
    import feature_store.registry.loader as loader

    df, features = _credit(300)
    on_files = loader.load_template

    def file_offline_store(environment: str) -> dict[str, Any]:
        return {**on_files(environment), "offline_store": {"type": "file"}}

    kwargs: dict[str, Any] = {"feature_columns": features, "carry_columns": ["defaulted"], **CREDIT, "name": "moved"}
    with monkeypatch.context() as patch:
        patch.setattr(loader, "load_template", file_offline_store)
        before = pg_stack.build(df, "moved", **kwargs)
    assert before.offline_source.endswith(".parquet")
    after = pg_stack.build(df, "moved", **kwargs)
    assert after.offline_source.startswith("postgresql://")
    pd.testing.assert_frame_equal(after.frame, before.frame)


def test_an_unknown_offline_store_type_is_named() -> None:
    config: Any = SimpleNamespace(offline_store=SimpleNamespace(type="bigquery"))
    with pytest.raises(FeatureStoreError, match=r"offline_store.type 'bigquery'.*file, postgres"):
        offline_source_for(Path("."), config)
    assert set(OFFLINE_SOURCES) == {"file", "postgres"}


def _pg_source(**offline: Any) -> PostgresOfflineSource:
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import EntitySelectMode

    settings = {"db_schema": "features", "entity_select_mode": EntitySelectMode.embed_query, **offline}
    return PostgresOfflineSource(Path("."), SimpleNamespace(offline_store=SimpleNamespace(**settings)))  # type: ignore[arg-type]


def test_the_temp_table_entity_mode_is_refused() -> None:
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import EntitySelectMode

    source = _pg_source(entity_select_mode=EntitySelectMode.temp_table)
    with pytest.raises(FeatureStoreError, match="entity_select_mode is 'temp_table'.*'embed_query'"):
        source.historical(None, pd.DataFrame(), [])  # type: ignore[arg-type]


def test_a_view_name_postgres_would_truncate_is_refused() -> None:
    with pytest.raises(FeatureStoreError, match="at most 63"):
        _pg_source().write(
            pd.DataFrame(), view="v" * 64, entity_column="e", entity_type="string", timestamp_column="t", features={}
        )


def test_a_file_source_under_a_postgres_store_is_named() -> None:
    from feast import FileSource

    old = FileSource(name="old", path="/nowhere/old.parquet", timestamp_field="ts")
    with pytest.raises(FeatureStoreError, match="its source is a FileSource.*'postgres'"):
        _pg_source().check_kind(old, "credit_risk_features_0123abcd")


@pytest.mark.parametrize("environment", ["local-stack", "staging", "prod"])
def test_every_postgres_environment_loads_entity_rows_the_way_the_source_reads_them(environment: str) -> None:
    offline = load_template(environment)["offline_store"]
    assert offline["type"] == "postgres"
    assert offline["entity_select_mode"] == "embed_query"


def test_the_local_stack_overlay_fills_every_template_variable() -> None:
    """A ${VAR} of local-stack.yaml that features.variables does not set would fail only when a
    build opens the store."""
    needed = template_variables(load_template("local-stack")) - {"FEAST_STATE_DIR", "REDIS_CONNECTION"}
    overlay = yaml.safe_load((ROOT / "config" / "environments" / "local-stack.yaml").read_text())
    assert needed <= set(overlay["features"]["variables"])
    assert "FEAST_OFFLINE_PASSWORD" in needed


def test_the_entity_row_number_column_name_is_reserved(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": ["a"], "ts": pd.to_datetime(["2025-01-01"], utc=True), "entity_row__": [1.0]})
    with pytest.raises(FeatureStoreError, match="'entity_row__' is reserved"):
        build_training_set(
            df,
            name="d",
            entity_column="id",
            timestamp_column="ts",
            feature_columns=["entity_row__"],
            carry_columns=[],
            state_dir=tmp_path,
            config=FeatureConfig(),
        )
