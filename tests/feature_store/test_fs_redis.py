"""Feast's Redis online store (staging/prod) against a real Redis started by the test session.

The same build as on SQLite, written to Redis: online reads must return the same values, and
a Redis that stops answering must surface as an error, not as empty features.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from feature_store.config import FeatureConfig
from feature_store.store import OnlineFeatureReader, build_training_set
from performance.servers import redis_server
from training.modeling import FeatureSchema
from training.sample_data import generate_credit_risk


def build(data: pd.DataFrame, features: list[str], state: Path, config: FeatureConfig) -> None:
    build_training_set(
        data,
        name="credit-risk",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        feature_columns=features,
        carry_columns=["defaulted"],
        state_dir=state,
        config=config,
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_credit_risk(1500)


@pytest.fixture(scope="module")
def features(sample_schema: FeatureSchema) -> list[str]:
    return sample_schema.columns


@pytest.fixture(scope="module")
def redis_config(redis_connection: str) -> FeatureConfig:
    return FeatureConfig(online_store="redis", redis_connection=redis_connection, online_window_days=None)


@pytest.fixture(scope="module")
def stores(
    data: pd.DataFrame, features: list[str], redis_config: FeatureConfig, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    sqlite_state, redis_state = tmp_path_factory.mktemp("sqlite"), tmp_path_factory.mktemp("redis")
    sqlite_config = FeatureConfig(online_window_days=None)
    build(data, features, sqlite_state, sqlite_config)
    build(data, features, redis_state, redis_config)
    return {
        "sqlite": OnlineFeatureReader(name="credit-risk", state_dir=sqlite_state, config=sqlite_config),
        "redis": OnlineFeatureReader(name="credit-risk", state_dir=redis_state, config=redis_config),
    }


def test_redis_holds_the_materialised_features(redis_connection: str, stores: dict) -> None:
    import redis  # Feast's own Redis client (feast[redis])

    host, port = redis_connection.split(":")
    with redis.Redis(host=host, port=int(port), socket_timeout=5) as client:
        keys = client.dbsize()
    # Feast writes one hash per entity key; every sampled applicant is an entity.
    assert keys >= 1000


def test_redis_and_sqlite_online_reads_agree(data: pd.DataFrame, features: list[str], stores: dict) -> None:
    latest = data.sort_values("application_ts").groupby("applicant_id").tail(1)
    ids = [*latest["applicant_id"].sample(200, random_state=1).tolist(), "nobody-has-this-id"]
    on_redis = stores["redis"].frame(ids)
    on_sqlite = stores["sqlite"].frame(ids)
    pd.testing.assert_frame_equal(on_redis, on_sqlite)
    expected = latest.set_index("applicant_id").loc[ids[:-1], features].reset_index(drop=True)
    got = on_redis.iloc[:-1][features].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert on_redis.iloc[-1][features].isna().all(), "an unknown entity reads as nulls"


def test_a_stopped_redis_is_an_error_not_empty_features(
    data: pd.DataFrame, features: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    state = tmp_path_factory.mktemp("redis-down")
    with redis_server(tmp_path_factory.mktemp("redis-short")) as connection:
        config = FeatureConfig(online_store="redis", redis_connection=connection, online_window_days=None)
        build(data.head(200), features, state, config)
        reader = OnlineFeatureReader(name="credit-risk", state_dir=state, config=config)
        assert reader.row(data["applicant_id"].iloc[0])["income"] is not None
    with pytest.raises(Exception, match="(?i)connect|refused|redis"):
        reader.row(data["applicant_id"].iloc[0])
