from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from model_governance.cards import ChampionComparison, TrainingData
from model_governance.config import FairnessGate
from model_governance.fairness import FairnessReport
from model_governance.govern import (
    FAIRNESS_GATE,
    GovernanceResult,
    assess,
    build_card,
    frame_hash,
    holdout_metrics,
    training_data_summary,
    write_outputs,
)

if TYPE_CHECKING:
    from conftest import Columns

LENIENT = FairnessGate(max_demographic_parity_difference=1.0, max_equalized_odds_difference=1.0)
# Zero tolerance: any gap between groups at all fails.
STRICT = FairnessGate(max_demographic_parity_difference=0.0, max_equalized_odds_difference=0.0)


@pytest.fixture(scope="module")
def training_data(train_test: tuple[pd.DataFrame, pd.DataFrame], columns: Columns) -> TrainingData:
    return training_data_summary(
        train_test[0],
        dataset_name="credit_risk",
        target="label",
        features=columns.features,
        timestamp_column="application_ts",
    )


def _govern(
    pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
    gate: FairnessGate,
    gates: dict[str, bool] | None = None,
    sensitive: list[str] | None = None,
) -> GovernanceResult:
    test = train_test[1]
    X, y = test[columns.features], test["label"]
    assessment = assess(
        pipeline, X, y, test[["sex", "age_band"] if sensitive is None else sensitive], gate=gate, max_rows=300
    )
    return build_card(
        assessment,
        model_name="credit-risk",
        training_data=training_data,
        metrics=holdout_metrics(pipeline, X, y),
        champion=ChampionComparison(champion_version="1.0.0", primary_metric="roc_auc", champion_metrics={}),
        gates=gates,
        lineage={"run_id": "run-123"},
    )


@pytest.fixture(scope="module")
def result(
    hgb_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
) -> GovernanceResult:
    return _govern(hgb_pipeline, train_test, columns, training_data, LENIENT, {"evaluation": True})


def test_govern_builds_a_complete_card(result: GovernanceResult, columns: Columns) -> None:
    card = result.card

    assert result.passed
    assert card.gates == {"evaluation": True, FAIRNESS_GATE: True}
    assert card.model.family == "hist_gradient_boosting"
    assert card.model.estimator == "HistGradientBoostingClassifier"
    assert card.model.params["max_iter"] == 60
    assert set(card.metrics) == {"accuracy", "average_precision", "f1", "roc_auc"}
    assert card.metrics["roc_auc"] > 0.8  # the synthetic tier signal is strong
    assert next(iter(card.feature_importance)) == columns.signal
    assert card.fairness == result.fairness.to_dict()
    assert set(result.fairness.per_attribute) == {"sex", "age_band"}
    assert card.importance_method is not None
    assert "tree explainer, in log-odds" in card.importance_method
    assert "300 holdout rows" in card.importance_method
    assert "data:image/png;base64," in result.card_html
    assert f"| roc_auc | {card.metrics['roc_auc']:.4f} |" in result.card_markdown


def test_any_failed_gate_fails_the_result(
    hgb_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
) -> None:
    upstream_failed = _govern(hgb_pipeline, train_test, columns, training_data, LENIENT, {"evaluation": False})
    unfair = _govern(hgb_pipeline, train_test, columns, training_data, STRICT, {"evaluation": True})

    assert upstream_failed.fairness.passed
    assert not upstream_failed.passed
    assert not unfair.passed
    assert unfair.card.gates[FAIRNESS_GATE] is False
    assert unfair.fairness.violations
    assert "**Verdict: FAILED**" in unfair.card_markdown


def test_govern_refuses_a_caller_supplied_fairness_gate(
    hgb_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
) -> None:
    with pytest.raises(ValueError, match="fairness"):
        _govern(hgb_pipeline, train_test, columns, training_data, LENIENT, {FAIRNESS_GATE: True})


def test_write_outputs_writes_the_four_artifacts(result: GovernanceResult, tmp_path: Path) -> None:
    written = write_outputs(result, tmp_path / "governance")

    assert sorted(written) == ["fairness.json", "importance.json", "model_card.html", "model_card.md"]
    assert all(path.is_file() and path.parent == tmp_path / "governance" for path in written.values())
    assert written["model_card.md"].read_text() == result.card_markdown
    assert written["model_card.html"].read_text().rstrip("\n") == result.card_html.rstrip("\n")
    fairness = FairnessReport.from_dict(json.loads(written["fairness.json"].read_text()))
    assert fairness == result.fairness
    importance = json.loads(written["importance.json"].read_text())
    assert importance["explainer"] == "tree"
    assert importance["rows"] == 300
    assert list(importance["importance"]) == list(result.importance.index)


def test_training_data_summary(train_test: tuple[pd.DataFrame, pd.DataFrame], training_data: TrainingData) -> None:
    train = train_test[0]

    assert training_data.rows == len(train)
    assert training_data.positive_rate == pytest.approx(train["label"].mean())
    assert training_data.time_range is not None
    assert training_data.time_range.start == train["application_ts"].min().to_pydatetime()
    assert training_data.dataset_hash == frame_hash(train)
    changed = train.copy()
    changed["income"] = changed["income"] + 0.01
    assert frame_hash(changed) != frame_hash(train)


def test_training_data_summary_passes_the_dataset_details_through(
    train_test: tuple[pd.DataFrame, pd.DataFrame], columns: Columns
) -> None:
    train = train_test[0]

    data = training_data_summary(
        train,
        dataset_name="credit_risk",
        target="label",
        features=columns.features,
        description="Synthetic applications.",
        positive_label="default",
        holdout="latest 20% by event time (application_ts)",
        left_out={"applicant_id": "looks like an identifier"},
        nullable_features=("debt_to_income",),
    )

    assert data.description == "Synthetic applications."
    assert data.positive_label == "default"
    assert data.holdout == "latest 20% by event time (application_ts)"
    assert data.left_out == {"applicant_id": "looks like an identifier"}
    assert data.nullable_features == ["debt_to_income"]
    assert data.positive_rate == pytest.approx(train["label"].mean())
    booleans = training_data_summary(
        train.assign(label=train["label"].astype(bool)),
        dataset_name="d",
        target="label",
        features=[],
        positive_label=True,
    )
    assert booleans.positive_rate == data.positive_rate
    assert booleans.positive_label == "True"


def test_training_data_summary_refuses_a_target_not_encoded_0_1(train_test: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    raw = train_test[0].assign(label=train_test[0]["label"].map({0: "no", 1: "yes"}))

    with pytest.raises(ValueError, match="must be encoded 0/1"):
        training_data_summary(raw, dataset_name="d", target="label", features=[])


def test_govern_without_sensitive_attributes_passes_fairness_as_not_assessed(
    hgb_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
) -> None:
    result = _govern(hgb_pipeline, train_test, columns, training_data, LENIENT, {"evaluation": True}, [])

    assert result.passed
    assert result.fairness.per_attribute == {}
    assert result.fairness.summary() == "pass"
    assert "| fairness | NOT ASSESSED |" in result.card_markdown
    assert "No sensitive attribute declared" in result.card_markdown


@pytest.mark.parametrize(("policy", "passed"), [("warn", True), ("fail", False)])
def test_govern_applies_the_not_assessed_policy(
    hgb_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    training_data: TrainingData,
    policy: str,
    passed: bool,
) -> None:
    # No group of the 600 holdout rows reaches 10 000 rows: nothing can be compared.
    gate = LENIENT.model_copy(update={"min_group_size": 10_000, "not_assessed": policy})

    result = _govern(hgb_pipeline, train_test, columns, training_data, gate, {"evaluation": True})

    assert result.passed is passed
    assert result.card.gates[FAIRNESS_GATE] is passed
    assert result.fairness.not_assessed == ["sex", "age_band"]
    verdict = "pass" if passed else "fail"
    assert result.fairness.summary() == f"{verdict} (sex: not assessed, age_band: not assessed)"
    outcome = "NOT ASSESSED" if passed else "**FAILED**"
    assert f"| {FAIRNESS_GATE} | {outcome} |" in result.card_markdown
    assert "### Attribute: sex — NOT ASSESSED" in result.card_markdown
