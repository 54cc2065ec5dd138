"""Feature freshness read back from a real local Feast store (SQLite online, parquet offline).

Two datasets are built with feature_store.store.build_training_set (apply + materialise), one
whose newest row is ten minutes before ``NOW`` and one three days older; a third view is
applied and never materialised. Ages are checked to the second against the event timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_store.config import FeatureConfig
from feature_store.definitions import build_definitions
from feature_store.freshness import FreshnessResult, feature_freshness
from feature_store.store import build_training_set, offline_source_path, open_store
from feature_store.transformations import prepare_offline_source, write_offline_source
from mlops.errors import FeatureStoreError
from mlops.state import StateLayout

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FRESH_END = NOW - timedelta(minutes=10)
STALE_END = NOW - timedelta(days=3, minutes=10)


def frame(end: datetime, entities: int = 30, seed: int = 0) -> pd.DataFrame:
    """One row per entity, an hour apart, the newest at ``end`` (whole seconds: the online store
    keeps event times to the second)."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp(end) - pd.to_timedelta(np.arange(entities)[::-1], unit="h")
    return pd.DataFrame(
        {
            "customer_id": np.arange(100, 100 + entities),
            "observed_at": stamps,
            "spend": rng.gamma(2.0, 10.0, entities).round(2),
            "visits": rng.integers(0, 9, entities),
            "churned": rng.integers(0, 2, entities),
        }
    )


def build(state: Path, name: str, df: pd.DataFrame) -> str:
    result = build_training_set(
        df,
        name=name,
        entity_column="customer_id",
        timestamp_column="observed_at",
        feature_columns=["spend", "visits"],
        carry_columns=["churned"],
        state_dir=StateLayout(state).feast,
        config=FeatureConfig(),
    )
    (view,) = result.feature_views
    return view


def apply_only(state: Path, name: str, df: pd.DataFrame) -> str:
    """Apply a dataset's definitions without materialising them."""
    feast_dir = StateLayout(state).feast
    features = {"spend": "float64", "visits": "int64"}
    source = prepare_offline_source(
        df, entity_column="customer_id", entity_type="int64", timestamp_column="observed_at", features=features
    )
    path = write_offline_source(source, offline_source_path(feast_dir, name, "manual"))
    defs = build_definitions(
        name=name,
        entity_column="customer_id",
        timestamp_column="observed_at",
        features=features,
        source_path=path,
        ttl=timedelta(days=30),
        entity_type="int64",
        key="manual",
    )
    open_store(feast_dir).apply(defs.objects)
    return defs.view.name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    state = tmp_path_factory.mktemp("state")
    views = {
        "fresh": build(state, "orders", frame(FRESH_END)),
        "stale": build(state, "returns", frame(STALE_END, seed=1)),
        "never": apply_only(state, "refunds", frame(FRESH_END, seed=2)),
    }
    return state, views


@pytest.fixture(scope="module")
def measured(store: tuple[Path, dict[str, str]]) -> dict[str, FreshnessResult]:
    state, _ = store
    return feature_freshness(state, FeatureConfig(), "dev", now=NOW)


def test_every_view_is_reported(store: tuple[Path, dict[str, str]], measured: dict[str, FreshnessResult]) -> None:
    _, views = store
    assert sorted(measured) == sorted(views.values())


def test_fresh_and_stale_ages_come_from_the_newest_online_value(
    store: tuple[Path, dict[str, str]], measured: dict[str, FreshnessResult]
) -> None:
    _, views = store
    fresh, stale = measured[views["fresh"]], measured[views["stale"]]
    assert (fresh.basis, fresh.newest_value, fresh.age_s) == ("online", FRESH_END, 600.0)
    assert (stale.basis, stale.newest_value, stale.age_s) == ("online", STALE_END, 3 * 86400 + 600.0)
    for result in (fresh, stale):
        assert result.materialized
        # Every entity was read back (fewer than the sample size), and each had its value online.
        assert (result.sampled, result.missing_online, result.note) == (30, 0, "")
        # The registry's own figure: the build materialises up to one second past the newest row.
        assert result.newest_value is not None
        assert result.materialized_until == result.newest_value + timedelta(seconds=1)
        assert result.registry_updated is not None


def test_age_follows_now(store: tuple[Path, dict[str, str]]) -> None:
    state, views = store
    later = feature_freshness(state, FeatureConfig(), "dev", now=NOW + timedelta(hours=2), sample=1)
    fresh = later[views["fresh"]]
    assert fresh.age_s == 600.0 + 7200.0
    assert fresh.sampled == 1  # the newest entity alone is enough to find the newest value


def test_a_view_never_materialised_is_reported_not_raised(
    store: tuple[Path, dict[str, str]], measured: dict[str, FreshnessResult]
) -> None:
    _, views = store
    never = measured[views["never"]]
    assert not never.materialized
    assert (never.basis, never.age_s, never.newest_value, never.materialized_until) == ("never", None, None, None)
    assert "never materialised" in never.note
    assert never.to_dict()["materialized"] is False


def test_to_dict_is_json_ready(store: tuple[Path, dict[str, str]], measured: dict[str, FreshnessResult]) -> None:
    import json

    _, views = store
    data = json.loads(json.dumps(measured[views["fresh"]].to_dict()))
    assert data["newest_value"] == FRESH_END.isoformat()
    assert data["age_s"] == 600.0


def test_without_an_offline_source_the_registry_figure_stands_in(tmp_path: Path) -> None:
    view = build(tmp_path, "orders", frame(FRESH_END))
    offline_source_path(StateLayout(tmp_path).feast, "orders", view.rsplit("_", 1)[1]).unlink()
    (result,) = feature_freshness(tmp_path, now=NOW).values()
    assert result.basis == "registry"
    assert result.age_s == 599.0  # now minus the materialised-until time (the newest row + 1 s)
    assert "read-back failed" in result.note


def test_values_missing_online_are_counted_and_the_lag_named(tmp_path: Path) -> None:
    """The offline source gains an entity materialisation never wrote, holding the newest row:
    the online store's newest value is then an hour older than its source's."""
    view = build(tmp_path, "orders", frame(FRESH_END))
    source = offline_source_path(StateLayout(tmp_path).feast, "orders", view.rsplit("_", 1)[1])
    rows = pd.read_parquet(source)
    rows.loc[rows["observed_at"].idxmax(), "customer_id"] = 999
    rows.to_parquet(source, index=False)
    (result,) = feature_freshness(tmp_path, now=NOW).values()
    assert (result.basis, result.newest_value, result.age_s) == ("online", FRESH_END - timedelta(hours=1), 4200.0)
    assert (result.sampled, result.missing_online) == (30, 1)
    assert "1 of 30 sampled entities have no online value" in result.note
    assert f"the online store lags its materialised source (newest there {FRESH_END.isoformat()})" in result.note


def test_an_empty_state_folder_has_no_views_and_stays_empty(tmp_path: Path) -> None:
    assert feature_freshness(tmp_path / "state", now=NOW) == {}
    assert not (tmp_path / "state").exists()


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match="timezone-aware"):
        feature_freshness(tmp_path, now=datetime(2025, 6, 1, 12, 0))
    with pytest.raises(FeatureStoreError, match="at least 1"):
        feature_freshness(tmp_path, now=NOW, sample=0)
    with pytest.raises(FeatureStoreError, match="no feature store template"):
        feature_freshness(tmp_path, environment="qa", now=NOW)
