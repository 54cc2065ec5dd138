from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops.config import FairnessGate
from model_governance.cards import (
    DEFAULT_INTENDED_USE,
    DEFAULT_LIMITATIONS,
    ChampionComparison,
    ModelCard,
    ModelDetails,
    TimeRange,
    TrainingData,
    render_html,
    render_markdown,
)
from model_governance.explainability import importance_plot_png
from model_governance.fairness import assess_fairness

HOSTILE = '<script>alert("pwned")</script>'


@pytest.fixture(scope="module")
def png() -> bytes:
    return importance_plot_png(pd.Series({"credit_score": 0.9, "debt_to_income": 0.4, "region": 0.1}))


@pytest.fixture(scope="module")
def card() -> ModelCard:
    rng = np.random.default_rng(0)
    y_true = (rng.random(400) < 0.3).astype(int)
    sensitive = pd.DataFrame({"sex": np.repeat(["female", "male"], 200)})
    fairness = assess_fairness(y_true, y_true, sensitive, FairnessGate())
    return ModelCard(
        model_name=f"credit-risk {HOSTILE}",
        version="1.4.0",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        model=ModelDetails(
            family="hist_gradient_boosting",
            estimator="HistGradientBoostingClassifier",
            params={"max_iter": 150, "learning_rate": 0.1, "loss": HOSTILE},
        ),
        training_data=TrainingData(
            dataset_name="credit_risk",
            rows=40_000,
            dataset_hash="sha256:abc123",
            features=["credit_score", "debt_to_income", "region"],
            target="defaulted",
            positive_rate=0.2875,
            time_range=TimeRange(start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 12, 31, tzinfo=UTC)),
        ),
        metrics={"roc_auc": 0.8123, "accuracy": 0.7654},
        champion=ChampionComparison(
            champion_version="1.3.2", primary_metric="roc_auc", champion_metrics={"roc_auc": 0.8}
        ),
        limitations=[f"Beware of {HOSTILE}", "Second limitation."],
        fairness=fairness.to_dict(),
        feature_importance={"credit_score": 0.9, "debt_to_income": 0.4, "region": 0.1},
        gates={"data_quality": True, "evaluation": False, "fairness": fairness.passed},
        lineage={"mlflow_run": "http://mlflow.internal/runs/42", "dataset_snapshot": "s3://bucket/ds/7"},
    )


def test_html_card_is_one_self_contained_page(card: ModelCard, png: bytes) -> None:
    page = render_html(card, png)

    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert "<style>" in page
    assert 'src="data:image/png;base64,' + base64.b64encode(png).decode() + '"' in page
    # Lineage URLs are shown as text, not followed.
    assert "http://mlflow.internal/runs/42" in page


def test_html_card_contains_the_fairness_table(card: ModelCard, png: bytes) -> None:
    page = render_html(card, png)

    fairness = page[page.index('<section id="fairness">') :]
    fairness = fairness[: fairness.index("</section>")]
    table = fairness[fairness.index("<table>") : fairness.index("</table>")]
    assert "<th>Selection rate</th>" in table
    assert "<td>female</td>" in table
    assert "<td>male</td>" in table
    assert '<td class="num">200</td>' in table
    assert "Attribute: sex" in fairness


def test_html_card_escapes_hostile_strings(card: ModelCard, png: bytes) -> None:
    page = render_html(card, png)

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") == 4  # title, heading, limitation, parameter


def test_html_card_without_chart_says_so(card: ModelCard) -> None:
    page = render_html(card, None)

    assert "data:image/png" not in page
    assert "No chart." in page


def test_markdown_card_contains_metrics_champion_and_gate_outcomes(card: ModelCard) -> None:
    text = render_markdown(card)

    assert "| roc_auc | 0.8123 | 0.8000 | +0.0123 |" in text
    assert "| accuracy | 0.7654 | — | — |" in text
    assert "Champion 1.3.2" in text
    assert "| data_quality | passed |" in text
    assert "| evaluation | **FAILED** |" in text
    assert "| fairness | passed |" in text
    assert "**Verdict: FAILED**" in text
    assert "| female | 200 |" in text
    assert "<script" not in text
    assert "&lt;script&gt;" in text


def test_card_defaults_and_overrides() -> None:
    minimal = ModelCard(
        model_name="m",
        model=ModelDetails(family="logistic_regression"),
        training_data=TrainingData(dataset_name="d", rows=10, features=["a"], target="y"),
    )
    custom = minimal.model_copy(update={"intended_use": "Internal research only.", "limitations": []})

    assert minimal.intended_use == DEFAULT_INTENDED_USE
    assert minimal.limitations == DEFAULT_LIMITATIONS
    assert minimal.version is None
    assert minimal.created_at.tzinfo is not None
    assert not minimal.passed  # no gate recorded is not a pass
    assert "m (unregistered)" in render_markdown(minimal)
    assert "Internal research only." in render_markdown(custom)
    assert DEFAULT_LIMITATIONS[0][:40] not in render_markdown(custom)


def test_card_round_trips_through_json(card: ModelCard) -> None:
    assert ModelCard.model_validate_json(card.model_dump_json()) == card


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"version": "1.4"}, "version"),
        ({"fairness": {"passed": True}}, "fairness"),
        ({"gates": {"evaluation": "maybe"}}, "gates.evaluation"),
    ],
)
def test_card_rejects_bad_fields(card: ModelCard, update: dict[str, object], field: str) -> None:
    data = card.model_dump() | update
    with pytest.raises(ValidationError) as excinfo:
        ModelCard.model_validate(data)
    assert field in ".".join(str(p) for p in excinfo.value.errors()[0]["loc"])
