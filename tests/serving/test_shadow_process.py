"""The challenger scored in a child process: same scores as in-process, errors carried back,
a dead or hung child reported as an error (never a hang of the caller's close)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.errors import ChallengerProcessError
from serving.models import LoadedModel
from serving.shadow import ComparisonStore, ProcessChallenger, ShadowMirror
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk


class Failing:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        raise ValueError(f"cannot score {len(frame)} rows")


class Sleeping:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.seconds)
        return np.zeros(len(frame))


@pytest.fixture(scope="module")
def model_and_rows(sample_schema: FeatureSchema) -> tuple[LoadedModel, pd.DataFrame]:
    data = generate_credit_risk(1500)
    fitted = build_pipeline(ModelConfig(family="logistic_regression"), sample_schema).fit(
        data[sample_schema.columns], data["defaulted"]
    )
    return LoadedModel("credit_risk", "1.1.0", fitted, sample_schema.to_dict()), data.head(300)


def test_scores_match_the_in_process_model(model_and_rows: tuple[LoadedModel, pd.DataFrame]) -> None:
    model, rows = model_and_rows
    with ProcessChallenger(model) as challenger:
        assert challenger.alive
        for size in (1, 7, 300):
            np.testing.assert_array_equal(challenger(rows.head(size)), model.predict(rows.head(size)))
    assert not challenger.alive


def test_rows_go_to_the_child_as_dicts_and_score_as_in_process(
    model_and_rows: tuple[LoadedModel, pd.DataFrame],
) -> None:
    """A model that scores rows is sent them as they are (typed in the child); gaps stay gaps."""
    model, frame = model_and_rows
    rows = frame[model.columns].head(40).to_dict("records")
    rows[3] = {**rows[3], "credit_score": None}
    rows[5] = {**rows[5], "region": None}
    with ProcessChallenger(model) as challenger:
        assert challenger.takes_rows
        np.testing.assert_array_equal(challenger(rows), model.score_rows(rows))
    with ProcessChallenger(Failing()) as frames_only:
        assert not frames_only.takes_rows


def test_the_child_runs_at_a_lower_priority_once_ready(model_and_rows: tuple[LoadedModel, pd.DataFrame]) -> None:
    import psutil

    model, _ = model_and_rows
    own = psutil.Process().nice()
    with ProcessChallenger(model, nice=7) as challenger:
        assert psutil.Process(challenger._process.pid).nice() == min(own + 7, 19)
    with ProcessChallenger(model, nice=0) as same:
        assert psutil.Process(same._process.pid).nice() == own
    with pytest.raises(ValueError, match="nice must be 0-19"):
        ProcessChallenger(model, nice=-5)


def test_a_model_error_comes_back_named_and_the_child_survives_it() -> None:
    with ProcessChallenger(Failing()) as challenger:
        for _ in range(3):
            with pytest.raises(ChallengerProcessError, match="ValueError: cannot score 2 rows"):
                challenger(pd.DataFrame({"a": [1, 2]}))
        assert challenger.alive


def test_a_dead_child_is_an_error_not_a_hang(model_and_rows: tuple[LoadedModel, pd.DataFrame]) -> None:
    model, rows = model_and_rows
    with ProcessChallenger(model) as challenger:
        os.kill(challenger._process.pid or 0, signal.SIGKILL)
        challenger._process.join(5)
        with pytest.raises(ChallengerProcessError, match="exited"):
            challenger(rows.head(1))


def test_a_hung_child_times_out_in_the_mirror_and_close_kills_it(tmp_path: Path) -> None:
    challenger = ProcessChallenger(Sleeping(60))
    mirror = ShadowMirror(challenger, ComparisonStore(tmp_path / "pairs.sqlite"), challenger_version="x", timeout_s=0.2)
    assert mirror.submit("r1", pd.DataFrame({"a": [1.0]}), 0.3, 1.0, None, {})
    assert mirror.close(2.0)
    assert mirror.stats()["timeouts"] == 1
    started = time.monotonic()
    challenger.close(timeout=1.0)
    assert time.monotonic() - started < 5
    assert not challenger.alive
