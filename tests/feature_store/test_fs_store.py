"""Feast end to end on the local stores: build, point-in-time join, row accounting, online reads.

Each build costs a Feast apply + materialise + retrieval, so builds are module-scoped and
shared by the tests that only read their results.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feature_store.config import FeatureConfig
from feature_store.store import (
    OnlineFeatureReader,
    TrainingSetResult,
    build_training_set,
    online_features,
    open_store,
)
from mlops.errors import FeatureStoreError
from training.modeling import FeatureSchema
from training.sample_data import SENSITIVE_COLUMNS, TARGET_COLUMN, generate_credit_risk

CREDIT_CARRY = [TARGET_COLUMN, *SENSITIVE_COLUMNS]
START = pd.Timestamp("2025-02-01", tz="UTC")


def row(frame: pd.DataFrame, label: Any, columns: list[str]) -> dict[str, Any]:
    """One row's values, for exact comparison."""
    return {column: frame.loc[label, column] for column in columns}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feast")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return generate_credit_risk(2000)


@pytest.fixture(scope="module")
def credit_features(sample_schema: FeatureSchema) -> list[str]:
    return sample_schema.columns


@pytest.fixture(scope="module")
def credit_build(credit: pd.DataFrame, credit_features: list[str], state: Path) -> TrainingSetResult:
    return build_training_set(
        credit,
        name="credit-risk",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        feature_columns=credit_features,
        carry_columns=CREDIT_CARRY,
        state_dir=state,
        config=FeatureConfig(),
    )


def events_frame() -> pd.DataFrame:
    """Another shape: int ids, five observations per customer, bool and categorical features."""
    rng = np.random.default_rng(3)
    customers, per = 200, 5
    ids = np.repeat(np.arange(1000, 1000 + customers), per)
    step = np.tile(np.arange(per), customers)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "observed_at": START + pd.to_timedelta(step * 24 + ids % 24, unit="h"),
            "spend": rng.gamma(2.0, 50.0, size=ids.size).round(2),
            "visits": rng.poisson(3, size=ids.size),
            "is_premium": rng.random(ids.size) < 0.3,
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], size=ids.size)),
            "churned": rng.integers(0, 2, size=ids.size),
            "region_code": rng.choice(["n", "s"], size=ids.size),
        }
    )
    # Shuffle so the deterministic output order is the function's doing, not the input's.
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return events_frame()


@pytest.fixture(scope="module")
def events_build(events: pd.DataFrame, state: Path, credit_build: TrainingSetResult) -> TrainingSetResult:
    # Same state folder as the credit build: two datasets live side by side in one registry.
    return build_training_set(
        events,
        name="events",
        entity_column="customer_id",
        timestamp_column="observed_at",
        feature_columns=["spend", "visits", "is_premium", "plan"],
        carry_columns=["churned", "region_code"],
        state_dir=state,
        config=FeatureConfig(ttl_days=30),
    )


# --------------------------------------------------------------------------- credit sample
def test_credit_build_returns_every_row_in_order(credit_build: TrainingSetResult, credit_features: list[str]) -> None:
    frame = credit_build.frame
    assert (credit_build.rows_in, credit_build.rows_out, credit_build.dropped) == (2000, 2000, 0)
    assert len(frame) == 2000
    assert frame.columns.tolist() == ["applicant_id", "application_ts", *CREDIT_CARRY, *credit_features]
    assert str(frame["application_ts"].dtype) == "datetime64[ns, UTC]"
    keys = list(zip(frame["application_ts"], frame["applicant_id"], strict=True))
    assert keys == sorted(keys)


def test_credit_build_joins_the_right_values(
    credit: pd.DataFrame, credit_build: TrainingSetResult, credit_features: list[str]
) -> None:
    source = credit.set_index("applicant_id")
    out = credit_build.frame.set_index("applicant_id")
    for entity in ["APP-0000000", "APP-0000777", "APP-0001234", "APP-0001999"]:
        assert row(out, entity, credit_features) == row(source, entity, credit_features), entity
    # Every value, not just the samples: the join must not shift rows between entities.
    pd.testing.assert_frame_equal(
        out[credit_features].sort_index(), source[credit_features].sort_index(), check_dtype=False
    )


def test_credit_carry_columns_pass_through_untouched(
    credit: pd.DataFrame, credit_build: TrainingSetResult, credit_features: list[str]
) -> None:
    source = credit.set_index("applicant_id")[CREDIT_CARRY].sort_index()
    out = credit_build.frame.set_index("applicant_id")[CREDIT_CARRY].sort_index()
    pd.testing.assert_frame_equal(out, source)
    # The target and sensitive attributes are never written to the offline store.
    stored = pd.read_parquet(credit_build.offline_source)
    assert stored.columns.tolist() == ["applicant_id", "application_ts", *credit_features]


def test_credit_build_reports_refs_views_timings_and_registry(
    credit_build: TrainingSetResult, credit_features: list[str]
) -> None:
    (view,) = credit_build.feature_views
    assert view.startswith("credit_risk_features_")
    assert credit_build.feature_refs == [f"{view}:{c}" for c in credit_features]
    assert credit_build.feature_service == view.replace("_features_", "_training_")
    assert set(credit_build.timings) >= {"apply", "materialize", "retrieval"}
    assert all(v > 0 for v in credit_build.timings.values())
    assert credit_build.registry_path.is_file()
    assert credit_build.summary()["dropped_fraction"] == 0.0


def test_credit_online_read_matches_the_source(
    credit: pd.DataFrame, credit_build: TrainingSetResult, credit_features: list[str], state: Path
) -> None:
    # The two newest applicants are inside the default 30-day online window; the oldest is
    # only in the offline store (the online store serves current values), the last is unknown.
    ids = ["APP-0001990", "APP-0001900", "APP-0000005", "APP-9999999"]
    got = online_features(ids, name="credit-risk", state_dir=state)
    assert got["applicant_id"].tolist() == ids
    source = credit.set_index("applicant_id")
    for position, entity in enumerate(ids[:2]):
        assert row(got, position, credit_features) == row(source, entity, credit_features), entity
    assert got.iloc[2][credit_features].isna().all()
    assert got.iloc[3][credit_features].isna().all()


# --------------------------------------------------------------------------- another shape
def test_events_build_with_int_ids_and_repeated_entities(events: pd.DataFrame, events_build: TrainingSetResult) -> None:
    frame = events_build.frame
    assert (events_build.rows_in, events_build.rows_out, events_build.dropped) == (1000, 1000, 0)
    assert frame["customer_id"].dtype == np.dtype("int64")
    assert frame["is_premium"].isin([0, 1]).all()
    assert set(frame["plan"]) == {"basic", "plus", "pro"}
    # Each observation gets its own row's features, not another observation of the same customer.
    expected = events.assign(is_premium=events["is_premium"].astype(int), plan=events["plan"].astype(str))
    expected = expected.sort_values(["observed_at", "customer_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected[frame.columns], check_dtype=False)


def test_events_online_read_returns_the_latest_value_per_entity(
    events: pd.DataFrame, events_build: TrainingSetResult, state: Path
) -> None:
    latest = events.sort_values("observed_at").groupby("customer_id").tail(1).set_index("customer_id")
    ids = [1000, 1042, 1199]
    got = online_features(ids, name="events", state_dir=state).set_index("customer_id")
    columns = ["spend", "visits", "is_premium", "plan"]
    for entity in ids:
        expected = row(latest, entity, columns)
        expected["is_premium"] = int(expected["is_premium"])
        assert row(got, entity, columns) == expected, entity


def test_two_datasets_share_one_registry(events_build: TrainingSetResult, state: Path) -> None:
    store = open_store(state)
    names = {v.name for v in store.list_feature_views()}
    assert len(names) == 2
    assert {n.rsplit("_", 1)[0] for n in names} == {"credit_risk_features", "events_features"}


def test_unknown_dataset_online_read_names_the_known_views(events_build: TrainingSetResult, state: Path) -> None:
    with pytest.raises(FeatureStoreError, match=r"no feature view 'nope_features'.*events_features_"):
        online_features([1], name="nope", state_dir=state)


def test_a_new_feature_schema_leaves_the_view_older_versions_read(tmp_path: Path) -> None:
    """A version trained before a feature was dropped still reads it: each schema keeps its view."""
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "ts": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True),
            "x": [1.0, 2.0, 3.0],
            "z": ["p", "q", "r"],
            "y": [0, 1, 0],
        }
    )
    common = {"name": "shapes", "entity_column": "id", "timestamp_column": "ts", "carry_columns": ["y"]}
    old = build_training_set(frame, feature_columns=["x", "z"], state_dir=tmp_path, config=FeatureConfig(), **common)
    new = build_training_set(frame, feature_columns=["x"], state_dir=tmp_path, config=FeatureConfig(), **common)
    assert old.feature_views != new.feature_views
    got = online_features(["c"], name="shapes", state_dir=tmp_path, view=old.feature_views[0])
    assert got[["x", "z"]].iloc[0].tolist() == [3.0, "r"]
    latest = online_features(["c"], name="shapes", state_dir=tmp_path)  # no view named: the newest build's
    assert list(latest.columns) == ["id", "x"]
    again = build_training_set(frame, feature_columns=["x"], state_dir=tmp_path, config=FeatureConfig(), **common)
    assert again.feature_views == new.feature_views  # same schema, same view (replaced)


# --------------------------------------------------------------------------- dropped rows
def drift_frame(future: int, stale: int, rows: int = 400) -> tuple[pd.DataFrame, set[str]]:
    """One row per entity; ``future`` rows have features stamped after the event, ``stale``
    rows features older than the 30-day TTL. Returns the frame and the ids that must drop."""
    ids = [f"E{i:04d}" for i in range(rows)]
    event = START + pd.to_timedelta(np.arange(rows), unit="h")
    known = pd.Series(event)
    known.iloc[:future] = known.iloc[:future] + pd.Timedelta(hours=2)
    known.iloc[future : future + stale] = known.iloc[future : future + stale] - pd.Timedelta(days=31)
    frame = pd.DataFrame(
        {
            "entity": ids,
            "event_time": event,
            "features_known_at": known.to_numpy(),
            "x": np.arange(rows, dtype=float),
            "label": np.arange(rows) % 2,
        }
    )
    return frame, set(ids[: future + stale])


def build_drift(frame: pd.DataFrame, state: Path, max_dropped: float) -> TrainingSetResult:
    return build_training_set(
        frame,
        name="drift",
        entity_column="entity",
        timestamp_column="event_time",
        feature_timestamp_column="features_known_at",
        feature_columns=["x"],
        carry_columns=["label"],
        state_dir=state,
        config=FeatureConfig(ttl_days=30, max_dropped_fraction=max_dropped),
    )


def test_rows_without_features_in_the_ttl_are_counted(tmp_path: Path) -> None:
    frame, doomed = drift_frame(future=7, stale=5)
    result = build_drift(frame, tmp_path, max_dropped=0.5)
    assert (result.rows_in, result.rows_out, result.dropped) == (400, 388, 12)
    assert set(frame["entity"]) - set(result.frame["entity"]) == doomed
    assert row(result.frame.set_index("entity"), "E0100", ["x", "label"]) == {"x": 100.0, "label": 0}

    # Same data, no tolerance: the step fails and says how many rows were lost.
    with pytest.raises(FeatureStoreError, match=r"12 of 400 entity rows \(3\.00%\)"):
        build_drift(frame, tmp_path, max_dropped=0.0)


def test_duplicate_entity_timestamps_are_refused(credit: pd.DataFrame, tmp_path: Path) -> None:
    doubled = pd.concat([credit.head(50), credit.head(1)], ignore_index=True)
    with pytest.raises(FeatureStoreError, match="1 rows repeat an"):
        build_training_set(
            doubled,
            name="dup",
            entity_column="applicant_id",
            timestamp_column="application_ts",
            feature_columns=["income"],
            carry_columns=["defaulted"],
            state_dir=tmp_path,
            config=FeatureConfig(),
        )


@pytest.mark.parametrize(
    ("features", "carry", "message"),
    [
        (["income", "nope"], ["defaulted"], "columns not in the dataset: nope"),
        (["income", "defaulted"], ["defaulted"], r"two roles.*defaulted"),
        (["income"], ["applicant_id"], r"two roles.*applicant_id"),
    ],
)
def test_bad_column_roles_fail_before_feast(
    credit: pd.DataFrame, tmp_path: Path, features: list[str], carry: list[str], message: str
) -> None:
    with pytest.raises(FeatureStoreError, match=message):
        build_training_set(
            credit.head(20),
            name="bad",
            entity_column="applicant_id",
            timestamp_column="application_ts",
            feature_columns=features,
            carry_columns=carry,
            state_dir=tmp_path,
            config=FeatureConfig(),
        )
    assert not (tmp_path / "registry.db").exists()


# --------------------------------------------------------------------------- re-runs
def test_rebuild_with_a_new_shape_adds_a_view_and_a_rebuild_replaces_its_own(
    credit: pd.DataFrame, tmp_path: Path
) -> None:
    def build(df: pd.DataFrame, entity: str, ts: str, features: list[str], carry: list[str]) -> TrainingSetResult:
        return build_training_set(
            df,
            name="reuse",
            entity_column=entity,
            timestamp_column=ts,
            feature_columns=features,
            carry_columns=carry,
            state_dir=tmp_path,
            config=FeatureConfig(),
        )

    first = build(credit.head(300), "applicant_id", "application_ts", ["income", "region"], ["defaulted"])
    again = build(credit.head(300), "applicant_id", "application_ts", ["income", "region"], ["defaulted"])
    pd.testing.assert_frame_equal(first.frame, again.frame)

    events = events_frame().head(120)
    assert again.feature_views == first.feature_views
    second = build(events, "customer_id", "observed_at", ["visits"], ["churned"])
    second = build(events, "customer_id", "observed_at", ["visits"], ["churned"])  # replaces its own view
    assert second.rows_out == 120
    (name,) = second.feature_views
    assert name != first.feature_views[0]
    store = open_store(tmp_path)
    view = store.get_feature_view(name)
    assert [f.name for f in view.features] == ["visits"]
    assert [c.name for c in view.entity_columns] == ["customer_id"]
    assert [f.name for f in store.get_feature_view(first.feature_views[0]).features] == ["income", "region"]
    # The new view's online table holds only its build: one row per (customer, feature), none left over.
    with sqlite3.connect(tmp_path / "online.db") as conn:
        stored = conn.execute(f"select count(*), count(distinct feature_name) from mlops_{name}").fetchone()
    assert stored == (events["customer_id"].nunique(), 1)
    got = online_features([int(events["customer_id"].iloc[0])], name="reuse", state_dir=tmp_path)
    assert got.columns.tolist() == ["customer_id", "visits"]
    assert got["visits"].notna().all()


def test_importing_the_package_does_not_import_feast() -> None:
    code = "import sys, feature_store.store, feature_store.registry; assert 'feast' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_a_cluster_environment_never_falls_back_to_the_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Serving pods in staging read the cluster's registry and Redis; with their secrets missing
    # the reader must say which, not open an empty local SQLite store and serve nulls.
    for name in ("FEAST_REGISTRY_USER", "FEAST_REGISTRY_PASSWORD", "FEAST_POSTGRES_HOST"):
        monkeypatch.delenv(name, raising=False)
    config = FeatureConfig(online_store="redis", redis_connection="redis-master.feature-store.svc:6379")
    with pytest.raises(FeatureStoreError, match="FEAST_REGISTRY_PASSWORD"):
        OnlineFeatureReader(name="credit-risk", state_dir=tmp_path, config=config, environment="staging")
    assert not (tmp_path / "registry.db").exists()
