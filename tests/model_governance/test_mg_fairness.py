from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from model_governance.config import FairnessGate
from model_governance.fairness import MISSING_GROUP, AttributeFairness, FairnessReport, assess_fairness

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
    assert report.not_assessed == []
    assert report.status == "passed"
    sex = report.per_attribute["sex"]
    assert sex.passed
    assert sex.status == "passed"
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
    assert report.status == "failed"
    assert report.summary() == "fail (sex: failed, age_band: passed)"
    sex = report.per_attribute["sex"]
    assert not sex.passed
    assert sex.status == "failed"
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


def _one_comparable_group() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """``sex`` has two large groups; ``region`` has one group of 100 rows and one of 5."""
    y_true = np.array([0, 1] * 50 + [1] * 5)
    y_pred = np.array([0, 1] * 50 + [0] * 5)
    # Each sex gets half of each label, so sex is fair and assessed.
    sensitive = pd.DataFrame({"sex": ["f", "f", "m", "m"] * 26 + ["f"], "region": ["north"] * 100 + ["south"] * 5})
    return y_true, y_pred, sensitive


def test_an_attribute_that_cannot_be_compared_is_not_assessed_and_warns_by_default() -> None:
    y_true, y_pred, sensitive = _one_comparable_group()

    report = assess_fairness(y_true, y_pred, sensitive, GATE)

    region = report.per_attribute["region"]
    assert region.status == "not_assessed"
    assert region.passed  # not assessed is not a failure
    assert region.demographic_parity_difference is None
    assert region.equalized_odds_difference is None
    assert region.excluded_groups == ["south"]
    assert report.passed
    assert report.status == "passed"  # sex was compared
    assert report.not_assessed == ["region"]
    assert report.violations == []
    assert report.warnings == [
        "region: not assessed: fewer than two groups with at least 30 rows (1 of 2); it does not decide the gate"
    ]
    assert report.summary() == "pass (sex: passed, region: not assessed)"


def test_with_not_assessed_fail_an_attribute_that_cannot_be_compared_fails_the_gate() -> None:
    y_true, y_pred, sensitive = _one_comparable_group()
    gate = GATE.model_copy(update={"not_assessed": "fail"})

    report = assess_fairness(y_true, y_pred, sensitive, gate)

    assert not report.passed
    assert report.status == "failed"
    assert report.per_attribute["region"].status == "not_assessed"
    assert report.per_attribute["sex"].status == "passed"
    assert report.not_assessed == ["region"]
    assert report.violations == ["region: not assessed: fewer than two groups with at least 30 rows (1 of 2)"]
    assert report.warnings == []
    assert report.summary() == "fail (sex: passed, region: not assessed)"


def test_a_gate_that_compared_nothing_is_not_assessed_as_a_whole() -> None:
    y_true, y_pred, sensitive = _one_comparable_group()

    report = assess_fairness(y_true, y_pred, sensitive[["region"]], GATE)

    assert report.passed
    assert report.status == "not_assessed"
    assert report.summary() == "pass (region: not assessed)"


def test_a_report_without_attributes_passes_and_round_trips() -> None:
    report = FairnessReport.without_attributes(GATE)

    assert report.passed
    assert report.status == "not_assessed"
    assert report.summary() == "pass"
    assert report.thresholds["not_assessed"] == "warn"
    assert FairnessReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.warnings == ["not assessed: the dataset declares no sensitive_attributes"]
    strict = FairnessReport.without_attributes(GATE.model_copy(update={"not_assessed": "fail"}))
    assert not strict.passed
    assert strict.violations == ["not assessed: the dataset declares no sensitive_attributes"]
    assert FairnessReport.from_dict(json.loads(json.dumps(strict.to_dict()))) == strict
    with pytest.raises(ValueError, match="at least one column"):
        assess_fairness([0, 1], [0, 1], pd.DataFrame(index=range(2)), GATE)


def test_groups_are_listed_in_natural_order() -> None:
    labels = ["[40, 100)", "[100, inf)", None, "(-inf, 25)", "[25, 40)"] * 40
    binned = pd.DataFrame({"age": labels, "tenure": ["10 years", "2 years", "b", "A", "1 year"] * 40})
    y = np.zeros(len(binned), dtype=int)

    report = assess_fairness(y, y, binned, GATE)

    assert [row["group"] for row in report.per_attribute["age"].groups] == [
        "(-inf, 25)",
        "[25, 40)",
        "[40, 100)",
        "[100, inf)",
        MISSING_GROUP,
    ]
    assert [row["group"] for row in report.per_attribute["tenure"].groups] == [
        "1 year",
        "2 years",
        "10 years",
        "A",
        "b",
    ]


def test_a_categorical_attribute_keeps_its_category_order() -> None:
    bands = pd.Categorical(["young", "old", "middle"] * 40, categories=["young", "middle", "old"], ordered=True)
    y = np.zeros(len(bands), dtype=int)

    report = assess_fairness(y, y, pd.DataFrame({"band": bands}), GATE)

    assert [row["group"] for row in report.per_attribute["band"].groups] == ["young", "middle", "old"]


def test_report_is_json_serialisable_and_round_trips() -> None:
    y_true, y_pred, sensitive = _balanced(100)
    sensitive.loc[:9, "age_band"] = None

    report = assess_fairness(pd.Series(y_true), pd.Series(y_pred), sensitive, GATE)
    text = json.dumps(report.to_dict(), allow_nan=False)

    assert FairnessReport.from_dict(json.loads(text)) == report
    # Readers that predate ``status`` still find each attribute's flag.
    assert json.loads(text)["per_attribute"]["sex"]["passed"] is True
    groups = [row["group"] for row in report.per_attribute["age_band"].groups]
    assert MISSING_GROUP in groups
    assert json.loads(text)["thresholds"] == {
        "max_demographic_parity_difference": 0.2,
        "max_equalized_odds_difference": 0.2,
        "min_group_size": 30,
        "not_assessed": "warn",
    }


@pytest.mark.parametrize("not_assessed", ["warn", "fail"])
def test_not_assessed_attributes_round_trip(not_assessed: str) -> None:
    y_true, y_pred, sensitive = _one_comparable_group()
    report = assess_fairness(y_true, y_pred, sensitive, GATE.model_copy(update={"not_assessed": not_assessed}))

    again = FairnessReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))

    assert again == report
    assert again.per_attribute["region"].status == "not_assessed"
    assert again.not_assessed == ["region"]


def test_reports_written_before_status_existed_are_read() -> None:
    y_true, y_pred, sensitive = _one_comparable_group()
    report = assess_fairness(y_true, y_pred, sensitive, GATE)
    old = report.to_dict()
    del old["not_assessed"]
    for attr in old["per_attribute"].values():
        del attr["status"]
    assert old["per_attribute"]["region"]["passed"] is True  # as the old code wrote it

    read = FairnessReport.from_dict(old)

    assert read == report
    assert {name: a.status for name, a in read.per_attribute.items()} == {"sex": "passed", "region": "not_assessed"}
    failed = {**old["per_attribute"]["sex"], "passed": False}
    assert FairnessReport.from_dict({**old, "per_attribute": {"sex": failed}}).per_attribute["sex"].status == "failed"
    assert isinstance(read.per_attribute["sex"], AttributeFairness)


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
