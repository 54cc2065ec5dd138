"""The ``build_features`` step called in-process as its component calls it: Feast on local files
under the run's state folder, the point-in-time training set, the online store (fixtures from
:mod:`tests.steps`)."""

from __future__ import annotations

import pandas as pd
import pytest

from feature_store.store import OnlineFeatureReader, registry_path
from mlops.contracts import DataContract
from mlops.state import StateLayout
from tests.steps import SAMPLE_ROWS, StepRun, recorded


def test_the_training_set_carries_every_row_and_the_feature_references(
    sample_run: StepRun, ingested: DataContract, featured: DataContract
) -> None:
    roles = ingested.roles
    # The contract is the ingested one plus the feature references, with the rows Feast returned.
    assert featured.roles == roles
    assert featured.dataset_hash == ingested.dataset_hash
    assert featured.rows == SAMPLE_ROWS
    view = featured.feature_view
    assert view.startswith("credit_risk_features_")
    assert featured.feature_refs == [f"{view}:{f}" for f in roles.features]

    frame = pd.read_parquet(sample_run.artifact("build_features", "training_set"))
    assert list(frame.columns) == [roles.entity, roles.timestamp, roles.target, *roles.sensitive, *roles.features]
    assert len(frame) == SAMPLE_ROWS
    assert frame[roles.timestamp].is_monotonic_increasing
    # Point in time: each entity's features are the values of its own row.
    clean = pd.read_parquet(sample_run.artifact("validate_data", "clean"))
    joined = frame.merge(clean, on=roles.entity, suffixes=("", "_clean"))
    for column in ("income", "credit_score", "employment_type", roles.target):
        assert (joined[column] == joined[f"{column}_clean"]).all(), column

    rec = recorded(sample_run, "build_features")
    figures = rec["figures"]
    assert (figures["rows_in"], figures["rows_out"], figures["dropped"]) == (SAMPLE_ROWS, SAMPLE_ROWS, 0)
    assert figures["features"] == len(roles.features)
    assert {"write_source_s", "apply_s", "materialize_s", "retrieval_s"} <= set(figures)


def test_the_feast_state_lives_under_the_state_folder(sample_run: StepRun, featured: DataContract) -> None:
    feast = StateLayout(sample_run.state).feast
    assert registry_path(feast).is_file()
    assert registry_path(feast).is_relative_to(sample_run.state)
    assert list(feast.rglob(f"{featured.feature_view}.parquet"))


def test_the_online_store_serves_the_latest_window_only(sample_run: StepRun, featured: DataContract) -> None:
    roles = featured.roles
    frame = pd.read_parquet(sample_run.artifact("build_features", "training_set"))
    reader = OnlineFeatureReader(
        name=roles.name,
        state_dir=StateLayout(sample_run.state).feast,
        config=sample_run.config.platform.features,
        view=featured.feature_view,
    )
    assert reader.features == roles.features
    latest, oldest = frame.iloc[-1], frame.iloc[0]
    online = reader.row(latest[roles.entity])
    assert online["credit_score"] == latest["credit_score"]
    assert online["income"] == pytest.approx(latest["income"])
    assert online["employment_type"] == latest["employment_type"]
    # Only the last `online_window_days` are materialised: a year-old entity is unknown online.
    window = sample_run.config.platform.features.online_window_days
    assert window is not None
    assert latest[roles.timestamp] - oldest[roles.timestamp] > pd.Timedelta(days=window)
    assert all(v is None for v in reader.row(oldest[roles.entity]).values())
