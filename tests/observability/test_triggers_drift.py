"""The drift trigger on Evidently's real comparison (small frames: K-S / chi-square)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from observability.drift import Reference, build_reference, load_model_reference, reference_dir, save_reference
from observability.triggers import ChampionVersion, DriftTrigger, TriggerSettings, drift_trigger, evaluate_triggers

MODEL, VERSION = "credit_risk", "1.0.0"
CHAMPION = ChampionVersion(MODEL, VERSION, None, {"income": "number", "age": "number", "region": "string"})
# Half the features: with three, one chance chi-square alarm (frequent at these sizes) is not drift.
CONFIG = DriftTrigger(share_of_drifted_columns=0.5, window_days=7)


def frame(rows: int, seed: int, *, income_shift: float = 0.0, age_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            "income": rng.normal(50 + income_shift, 10, rows),
            "age": rng.normal(40 + age_shift, 12, rows),
            "region": rng.choice(["north", "south", "east"], rows, p=[0.5, 0.3, 0.2]),
        }
    )
    out["score"] = 1 / (1 + np.exp(-(out["income"] - 50) / 8))
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    state = tmp_path_factory.mktemp("state")
    training = frame(2000, seed=1)
    ref = build_reference(
        training, numeric=["income", "age"], categorical=["region"], prediction=training["score"], sample_rows=800
    )
    save_reference(ref, reference_dir(state, MODEL, VERSION))
    return load_model_reference(state, MODEL, VERSION)


def test_drift_fires_when_enough_features_moved(reference: Reference) -> None:
    current = frame(600, seed=2, income_shift=8, age_shift=10)
    current["entity_id"] = [f"e{i}" for i in range(len(current))]
    result = drift_trigger(CONFIG, reference, current, champion=CHAMPION)
    assert result.fired
    assert result.figure is not None
    assert result.figure >= 0.6  # income and age of three features
    assert result.reason.startswith(f"drift share {result.figure:.2f} ≥ 0.50 over the last 7 days (credit_risk 1.0.0)")
    assert "income" in result.reason
    assert "age" in result.reason
    assert result.details["tested_features"] == 3  # the score and the entity id are not features
    assert "evidently_import_s" in result.details["timings_s"]


def test_drift_stays_quiet_on_the_same_distribution(reference: Reference) -> None:
    result = drift_trigger(CONFIG, reference, frame(600, seed=3), champion=CHAMPION)
    assert not result.fired
    assert result.outcome == "quiet"
    assert result.figure is not None
    assert result.figure < 0.5
    assert " < 0.50 over the last 7 days" in result.reason


def test_too_few_predictions_decide_nothing(reference: Reference) -> None:
    result = drift_trigger(CONFIG, reference, frame(40, seed=4, income_shift=20), champion=CHAMPION)
    assert result.outcome == "no_data"
    assert result.reason == "40 predictions of credit_risk 1.0.0 logged over the last 7 days: too few to judge drift"


class _Inputs:
    def __init__(self, reference: Reference, current: pd.DataFrame) -> None:
        self.ref, self.current, self.windows = reference, current, []

    def champion(self) -> ChampionVersion:
        return CHAMPION

    def reference(self, version: str) -> Reference:
        assert version == VERSION
        return self.ref

    def predictions(self, version: str, window: timedelta, *, labels: bool) -> pd.DataFrame:
        self.windows.append((window, labels))
        return self.current

    def lineage(self, version: str) -> Any:
        raise AssertionError

    def dataset(self) -> Any:
        raise AssertionError


def test_evaluation_reads_the_drift_window_of_the_champion(reference: Reference, tmp_path: Path) -> None:
    settings = TriggerSettings(
        model=MODEL,
        dataset=None,
        schedule=None,
        drift=CONFIG,
        performance=None,
        new_data=None,
        schema_change=None,
        min_hours_between_runs=24,
    )
    inputs = _Inputs(reference, frame(600, seed=5, income_shift=8, age_shift=10))
    now = datetime(2026, 11, 20, tzinfo=UTC)
    evaluation = evaluate_triggers(settings, inputs, last_launch=None, first_evaluated=now, now=now)
    assert [r.trigger for r in evaluation.fired] == ["drift"]
    assert inputs.windows == [(timedelta(days=7), False)]
