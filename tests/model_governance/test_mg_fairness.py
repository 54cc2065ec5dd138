from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops.config import FairnessGate
from model_governance.fairness import MISSING_GROUP, FairnessReport, assess_fairness

GATE = FairnessGate(max_demographic_parity_difference=0.2, max_equalized_odds_difference=0.2, min_group_size=30)


def _balanced(n_per_group: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Two equal groups, same base rate, predictions = truth with 10% random flips everywhere."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_group
    y_true = (rng.random(n) < 0.3).astype(int)
    flip = rng.random(n) < 0.1
    y_pred = np.where(flip, 1 - y_true, y_true)
    sensitive = pd.DataFrame(
        {
            "sex": np.repeat(["female", "male"], n_per_group),
            "age_band": rng.choice(["18-35", "36-65"], size=n),
        }
    )
    return y_true, y_pred, sensitive


def test_balanced_predictions_pass() -> None:
    y_true, y_pred, sensitive = _balanced()

    report = assess_fairness(y_true, y_pred, sensitive, GATE)

    assert report.passed
    assert report.violations == []
    sex = report.per_attribute["sex"]
    assert sex.passed
    assert [row["group"] for row in sex.groups] == ["female", "male"]
    assert [row["count"] for row in sex.groups] == [600, 600]
    assert sex.demographic_parity_difference is not None
    assert sex.demographic_parity_difference < 0.1
    assert sex.equalized_odds_difference is not None
    assert sex.equalized_odds_difference < 0.1
    assert set(report.per_attribute) == {"sex", "age_band"}


def test_predictions_biased_against_one_group_fail_and_name_the_violation() -> None:
    y_true, y_pred, sensitive = _balanced()
    rng = np.random.default_rng(1)
    female = (sensitive["sex"] == "female").to_numpy()
    # Predict default for 60% of women regardless of their record.
    y_pred = np.where(female, (rng.random(len(y_pred)) < 0.6).astype(int), y_pred)

    report = assess_fairness(y_true, y_pred, sensitive, GATE)

    assert not report.passed
    sex = report.per_attribute["sex"]
    assert not sex.passed
    assert report.per_attribute["age_band"].passed
    rates = {row["group"]: row["selection_rate"] for row in sex.groups}
    assert rates["female"] is not None
    assert rates["male"] is not None
    expected_dp = rates["female"] - rates["male"]
    assert sex.demographic_parity_difference == pytest.approx(expected_dp)
    dp_violation = [v for v in report.violations if "demographic_parity_difference" in v]
    assert len(dp_violation) == 1
    assert dp_violation[0].startswith("sex: ")
    assert f"{expected_dp:.4f}" in dp_violation[0]
    assert "0.2000" in dp_violation[0]
    assert any(v.startswith("sex: equalized_odds_difference") for v in report.violations)
    assert all(v.startswith("sex: ") for v in report.violations)


def test_small_groups_are_reported_but_do_not_decide_the_gate() -> None:
    y_true, y_pred, sensitive = _balanced()
    # Ten rows of a third group, every one wrongly predicted to default: rates of 1.0 vs ~0.3.
    y_true = np.concatenate([y_true, np.zeros(10, dtype=int)])
    y_pred = np.concatenate([y_pred, np.ones(10, dtype=int)])
    extra = pd.DataFrame({"sex": ["other"] * 10, "age_band": ["18-35"] * 10})
    sensitive = pd.concat([sensitive, extra], ignore_index=True)

    report = assess_fairness(y_true, y_pred, sensitive, GATE)

    sex = report.per_attribute["sex"]
    other = next(row for row in sex.groups if row["group"] == "other")
    assert other["count"] == 10
    assert other["in_gate"] is False
    assert other["selection_rate"] == 1.0
    assert sex.excluded_groups == ["other"]
    assert sex.demographic_parity_difference_all_groups is not None
    assert sex.demographic_parity_difference_all_groups > 0.5
    assert report.passed, report.violations

    strict = assess_fairness(y_true, y_pred, sensitive, GATE.model_copy(update={"min_group_size": 5}))
    assert not strict.passed
    assert strict.per_attribute["sex"].excluded_groups == []
    assert any(v.startswith("sex: demographic_parity_difference") for v in strict.violations)


def test_attribute_with_a_single_large_group_warns_instead_of_deciding() -> None:
    y_true = np.array([0, 1] * 50 + [1] * 5)
    y_pred = np.array([0, 1] * 50 + [0] * 5)
    sensitive = pd.DataFrame({"region": ["north"] * 100 + ["south"] * 5})

    report = assess_fairness(y_true, y_pred, sensitive, GATE)

    region = report.per_attribute["region"]
    assert report.passed
    assert region.demographic_parity_difference is None
    assert region.equalized_odds_difference is None
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("region: fewer than two groups")


def test_report_is_json_serialisable_and_round_trips() -> None:
    y_true, y_pred, sensitive = _balanced(100)
    sensitive.loc[:9, "age_band"] = None

    report = assess_fairness(pd.Series(y_true), pd.Series(y_pred), sensitive, GATE)
    text = json.dumps(report.to_dict(), allow_nan=False)

    assert FairnessReport.from_dict(json.loads(text)) == report
    groups = [row["group"] for row in report.per_attribute["age_band"].groups]
    assert MISSING_GROUP in groups
    assert json.loads(text)["thresholds"] == {
        "max_demographic_parity_difference": 0.2,
        "max_equalized_odds_difference": 0.2,
        "min_group_size": 30,
    }


def test_rows_are_matched_by_position_not_index() -> None:
    y_true, y_pred, sensitive = _balanced(100)
    reversed_index = pd.Index(range(len(y_true) - 1, -1, -1))

    by_series = assess_fairness(
        pd.Series(y_true, index=reversed_index), pd.Series(y_pred, index=reversed_index), sensitive, GATE
    )

    assert by_series == assess_fairness(y_true, y_pred, sensitive, GATE)


@pytest.mark.parametrize(
    ("y_pred", "message"),
    [
        (np.full(4, 0.7), "binary labels"),
        (np.array([0, 1, 1]), "same number of rows"),
    ],
)
def test_invalid_inputs_raise(y_pred: np.ndarray, message: str) -> None:
    sensitive = pd.DataFrame({"sex": ["f", "m", "f", "m"]})
    with pytest.raises(ValueError, match=message):
        assess_fairness(np.array([0, 1, 0, 1]), y_pred, sensitive, GATE)
