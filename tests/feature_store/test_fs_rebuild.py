"""The online store rebuilt from the offline sources answers exactly as it did before it was lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from feature_store.config import FeatureConfig
from feature_store.rebuild import rebuild_online
from feature_store.store import OnlineFeatureReader, TrainingSetResult, build_training_set, materialization_window
from mlops.errors import FeatureStoreError
from mlops.state import StateLayout
from training.modeling import FeatureSchema
from training.sample_data import SENSITIVE_COLUMNS, TARGET_COLUMN, generate_credit_risk


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sample_schema: FeatureSchema) -> tuple[Path, TrainingSetResult]:
    state = tmp_path_factory.mktemp("rebuild")
    result = build_training_set(
        generate_credit_risk(1500),
        name="credit-risk",
        entity_column="applicant_id",
        timestamp_column="application_ts",
        feature_columns=sample_schema.columns,
        carry_columns=[TARGET_COLUMN, *SENSITIVE_COLUMNS],
        state_dir=StateLayout(state).feast,
        config=FeatureConfig(),
    )
    return state, result


def _reader(state: Path) -> OnlineFeatureReader:
    return OnlineFeatureReader(name="credit-risk", state_dir=StateLayout(state).feast)


def test_a_lost_online_store_is_rebuilt_identically(built: tuple[Path, TrainingSetResult]) -> None:
    state, result = built
    ids = result.frame["applicant_id"].tolist()
    before = _reader(state).frame(ids)
    assert before.drop(columns="applicant_id").notna().any(axis=1).sum() > 0  # something was online

    (StateLayout(state).feast / "online.db").unlink()
    rebuilt = rebuild_online(state)

    assert [r.view for r in rebuilt] == result.feature_views
    pd.testing.assert_frame_equal(_reader(state).frame(ids), before)


def test_an_unknown_view_is_named(built: tuple[Path, TrainingSetResult]) -> None:
    state, _ = built
    with pytest.raises(FeatureStoreError, match="no feature view nope_features"):
        rebuild_online(state, views=["nope_features"])


def test_a_missing_offline_source_is_named(tmp_path: Path, built: tuple[Path, TrainingSetResult]) -> None:
    state, result = built
    source = Path(result.offline_source)
    moved = tmp_path / source.name
    source.rename(moved)
    try:
        with pytest.raises(FeatureStoreError, match=f"offline source {source}"):
            rebuild_online(state)
    finally:
        moved.rename(source)


def test_the_window_matches_the_online_window() -> None:
    stamps = pd.Series(pd.to_datetime(["2025-01-01", "2025-03-01", "2025-03-31"], utc=True))
    start, end = materialization_window(stamps, FeatureConfig(online_window_days=30))
    assert start == pd.Timestamp("2025-03-01", tz="UTC").to_pydatetime()
    assert end == pd.Timestamp("2025-03-31 00:00:01", tz="UTC").to_pydatetime()
    start, _ = materialization_window(stamps, FeatureConfig(online_window_days=None))
    assert start == pd.Timestamp("2025-01-01", tz="UTC").to_pydatetime()
