from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops.report_html import base_css
from model_governance.cards import (
    DEFAULT_ETHICAL_CONSIDERATIONS,
    DEFAULT_INTENDED_USE,
    DEFAULT_LIMITATIONS,
    LIMITATIONS_NOT_STATED,
    ChampionComparison,
    ModelCard,
    ModelDetails,
    TimeRange,
    TrainingData,
    render_html,
    render_markdown,
)
from model_governance.config import FairnessGate
from model_governance.explainability import importance_plot_png
from model_governance.fairness import FairnessReport, assess_fairness

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
    assert base_css().strip() in page  # the platform's report base, then the card's own rules
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
    assert "_None stated._" in render_markdown(custom)


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


# --------------------------------------------------------------------------- texts and training data
def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def _md_section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _churn_card(**update: object) -> ModelCard:
    card = ModelCard(
        model_name="churn",
        version="0.1.0",
        model=ModelDetails(family="logistic_regression"),
        training_data=TrainingData(dataset_name="telco_churn", rows=7043, features=["tenure"], target="churned"),
    )
    return card.model_copy(update=update)


def test_a_card_without_texts_says_they_were_not_stated_and_never_mentions_credit() -> None:
    card = _churn_card()
    page = render_html(card)
    text = render_markdown(card)

    assert card.intended_use == DEFAULT_INTENDED_USE
    assert card.limitations == DEFAULT_LIMITATIONS
    assert card.ethical_considerations == DEFAULT_ETHICAL_CONSIDERATIONS
    assert "credit" not in page.lower()
    assert "credit" not in text.lower()
    # Muted in HTML, italic in Markdown, and both point at the config key to set.
    assert f'<p class="muted">{html.escape(DEFAULT_INTENDED_USE)}</p>' in _section(page, "intended-use")
    assert f'<li class="muted">{html.escape(LIMITATIONS_NOT_STATED)}</li>' in _section(page, "limitations")
    assert "intended_use:" in DEFAULT_INTENDED_USE
    assert "limitations:" in LIMITATIONS_NOT_STATED
    assert f"_{DEFAULT_INTENDED_USE}_" in _md_section(text, "Intended use")
    assert f"- _{LIMITATIONS_NOT_STATED}_" in _md_section(text, "Limitations")
    # The platform facts after the note are ordinary bullets.
    assert f"- {DEFAULT_LIMITATIONS[1]}" in _md_section(text, "Limitations")
    assert "<li>" + html.escape(DEFAULT_LIMITATIONS[1]) + "</li>" in page


def test_a_card_with_texts_shows_them_plainly() -> None:
    card = _churn_card(
        intended_use="Ranks subscribers for a retention call; not for pricing.",
        limitations=["Trained on one region only."],
        ethical_considerations=[],
    )
    page = render_html(card)
    text = render_markdown(card)

    assert "<p>Ranks subscribers for a retention call; not for pricing.</p>" in page
    assert "<li>Trained on one region only.</li>" in page
    assert "Not stated" not in page
    assert "- Trained on one region only." in text
    assert "_None stated._" in _md_section(text, "Ethical considerations")


def test_training_data_details_are_rendered_and_escaped() -> None:
    data = TrainingData(
        dataset_name="telco_churn",
        rows=7043,
        features=["tenure", "monthly_charges"],
        target="churned",
        positive_rate=0.265,
        description=f"Subscribers of 2024 {HOSTILE}",
        positive_label=f"yes {HOSTILE}",
        holdout="latest 20% by event time (signup_ts)",
        left_out={"customer_id": "looks like an identifier", "notes": f"free text {HOSTILE}"},
        nullable_features=["monthly_charges"],
    )
    card = _churn_card(training_data=data)
    page = render_html(card)
    section = _section(page, "training-data")
    text = _md_section(render_markdown(card), "Training data")

    assert "<script" not in page.lower()
    assert section.count("&lt;script&gt;") == 3
    assert "<p>Subscribers of 2024 &lt;script&gt;" in section
    assert "<tr><td>Positive label</td><td>yes &lt;script&gt;" in section
    assert "<tr><td>Holdout</td><td>latest 20% by event time (signup_ts)</td></tr>" in section
    assert "<tr><td>May be missing at serving</td><td>monthly_charges</td></tr>" in section
    assert "<th>Column</th><th>Why left out</th>" in section
    assert "<tr><td>customer_id</td><td>looks like an identifier</td></tr>" in section
    assert "| Holdout | latest 20% by event time (signup_ts) |" in text
    assert "| customer_id | looks like an identifier |" in text
    assert "| May be missing at serving | monthly_charges |" in text
    assert "<script" not in text


def test_training_data_without_details_shows_no_empty_rows() -> None:
    card = _churn_card()
    section = _section(render_html(card), "training-data")
    text = _md_section(render_markdown(card), "Training data")

    assert "Positive label" not in section
    assert "Holdout" not in section
    assert "May be missing" not in section
    assert "<h3>Columns left out of the features</h3>" in section
    assert '<p class="muted">None.</p>' in section
    assert "_None._" in text


def test_training_data_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="left_over"):
        TrainingData(dataset_name="d", rows=1, features=["a"], target="y", left_over={})  # type: ignore[call-arg]


# --------------------------------------------------------------------------- not assessed on the card
def _fairness_card(report: FairnessReport) -> ModelCard:
    return _churn_card(fairness=report.to_dict(), gates={"evaluation": True, "fairness": report.passed})


def _partly_assessed(not_assessed: Literal["warn", "fail"]) -> FairnessReport:
    y = np.array([0, 1] * 100)
    sensitive = pd.DataFrame({"sex": ["f", "f", "m", "m"] * 50, "Age": ["[25, 40)"] * 190 + ["[40, 60)"] * 10})
    gate = FairnessGate(min_group_size=30, not_assessed=not_assessed)
    return assess_fairness(y, y, sensitive, gate)


def test_not_assessed_attributes_are_shown_apart_from_passed_ones() -> None:
    card = _fairness_card(_partly_assessed("warn"))
    page = render_html(card)
    text = render_markdown(card)

    fairness = _section(page, "fairness")
    assert '<h3>Fairness gate — <span class="pass">passed</span></h3>' in fairness
    assert '<h3>Attribute: sex — <span class="pass">passed</span></h3>' in fairness
    assert '<h3>Attribute: Age — <span class="not-assessed">not assessed</span></h3>' in fairness
    assert "which is a warning" in fairness
    gates = _section(page, "gates")
    assert (
        '<tr><td>fairness</td><td><span class="pass">passed</span> '
        '<span class="muted">(not assessed: Age)</span></td></tr>' in gates
    )
    assert "### Attribute: Age — NOT ASSESSED" in text
    assert "### Attribute: sex — passed" in text
    assert "| fairness | passed (not assessed: Age) |" in text
    assert "**Verdict: PASSED**" in text


def test_a_fairness_gate_that_compared_nothing_reads_not_assessed() -> None:
    report = _partly_assessed("warn")
    only_age = FairnessReport.from_dict(
        {**report.to_dict(), "per_attribute": {"Age": report.to_dict()["per_attribute"]["Age"]}}
    )
    for card in (_fairness_card(only_age), _fairness_card(FairnessReport.without_attributes(FairnessGate()))):
        page = render_html(card)
        text = render_markdown(card)
        assert '<h3>Fairness gate — <span class="not-assessed">not assessed</span></h3>' in page
        assert '<tr><td>fairness</td><td><span class="not-assessed">not assessed</span></td></tr>' in page
        assert "### Fairness gate — NOT ASSESSED" in text
        assert "| fairness | NOT ASSESSED |" in text
    assert "No sensitive attribute declared" in render_markdown(card)


def test_with_not_assessed_fail_the_card_shows_the_failure_and_why() -> None:
    card = _fairness_card(_partly_assessed("fail"))
    text = render_markdown(card)

    assert "### Fairness gate — **FAILED**" in text
    assert "| fairness | **FAILED** |" in text
    assert "### Attribute: Age — NOT ASSESSED" in text
    assert "- Age: not assessed: fewer than two groups with at least 30 rows (1 of 2)" in text
    assert "which fails the gate" in text
    assert "**Verdict: FAILED**" in text


# --------------------------------------------------------------------------- colour contrast
# A small CSS cascade for the card's flat stylesheet as inlined in the page (the report base's rules,
# then the card's own): rules whose selectors are compounds of an element name and classes, chosen
# by specificity then source order; colour is inherited and the background is the nearest ancestor's.
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMPOUND = re.compile(r"(?P<tag>[a-z][a-z0-9]*|\*)?(?P<classes>(?:\.[A-Za-z0-9_-]+)*)")
_VAR = re.compile(r"var\(\s*(--[A-Za-z0-9_-]+)\s*\)")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


@dataclass(frozen=True)
class _Rule:
    tag: str | None
    classes: frozenset[str]
    order: int
    declarations: dict[str, str]

    @property
    def specificity(self) -> tuple[int, int]:
        return len(self.classes), int(self.tag is not None)


@dataclass(frozen=True)
class _Element:
    tag: str
    classes: frozenset[str] = frozenset()


def _el(spec: str) -> _Element:
    tag, *classes = spec.split(".")
    return _Element(tag, frozenset(classes))


class _Stylesheet:
    def __init__(self, css: str) -> None:
        assert "!important" not in css  # the resolver does not model it
        self.variables: dict[str, str] = {}
        self.rules: list[_Rule] = []
        for order, match in enumerate(_RULE.finditer(re.sub(r"/\*.*?\*/", "", css, flags=re.S))):
            declarations = {}
            for item in match.group(2).split(";"):
                name, colon, value = item.partition(":")
                if colon:
                    # background is the shorthand of background-color: one property for the cascade
                    prop = name.strip().lower().replace("background-color", "background")
                    declarations[prop] = value.strip()
            for selector in (part.strip() for part in match.group(1).split(",")):
                if selector == ":root":
                    self.variables.update({k: v for k, v in declarations.items() if k.startswith("--")})
                    continue
                compound = _COMPOUND.fullmatch(selector)
                if compound is None:
                    continue  # descendant or pseudo selectors: none of them styles a status
                tag = compound["tag"] if compound["tag"] not in (None, "*") else None
                classes = frozenset(c for c in compound["classes"].split(".") if c)
                self.rules.append(_Rule(tag, classes, order, declarations))

    def declared(self, element: _Element, prop: str) -> str | None:
        matching = [
            rule
            for rule in self.rules
            if prop in rule.declarations and rule.tag in (None, element.tag) and rule.classes <= element.classes
        ]
        if not matching:
            return None
        return max(matching, key=lambda rule: (rule.specificity, rule.order)).declarations[prop]

    def colour(self, value: str) -> str:
        while match := _VAR.search(value):
            value = value.replace(match.group(0), self.variables[match.group(1)])
        found = _HEX.search(value)
        assert found, f"no colour in {value!r}"
        return found.group(0)

    def resolve(self, chain: list[_Element], prop: str) -> str:
        """The first value declared from the element outwards (chain: innermost first)."""
        for element in chain:
            value = self.declared(element, prop)
            if value is not None:
                return self.colour(value)
        raise AssertionError(f"nothing sets {prop} on {chain}")


def _luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = []
    for i in (0, 2, 4):
        c = int(digits[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(sheet: _Stylesheet, chain: list[_Element]) -> float:
    light, dark = sorted((_luminance(sheet.resolve(chain, p)) for p in ("color", "background")), reverse=True)
    return (light + 0.05) / (dark + 0.05)


_PAGE = [_el("main"), _el("body"), _el("html")]
_VERDICT_PATH = [_el("p"), _el("header"), *_PAGE]
_CELL_PATH = [_el("td"), _el("tr"), _el("tbody"), _el("table"), _el("section"), *_PAGE]
_HEADING_PATH = [_el("h3"), _el("section"), *_PAGE]
STATUS_ELEMENTS = {
    "verdict pass": [_el("span.verdict.pass"), *_VERDICT_PATH],
    "verdict fail": [_el("span.verdict.fail"), *_VERDICT_PATH],
    "cell pass": [_el("span.pass"), *_CELL_PATH],
    "cell fail": [_el("span.fail"), *_CELL_PATH],
    "cell not assessed": [_el("span.not-assessed"), *_CELL_PATH],
    "cell note": [_el("span.muted"), *_CELL_PATH],
    "heading pass": [_el("span.pass"), *_HEADING_PATH],
    "heading fail": [_el("span.fail"), *_HEADING_PATH],
    "heading not assessed": [_el("span.not-assessed"), *_HEADING_PATH],
}


def test_the_resolver_follows_the_cascade() -> None:
    sheet = _Stylesheet(
        ":root { --g: #00ff00; } main { background: #fff; } "
        ".v { color: #fff; } .v.p { background: var(--g); } .p { color: var(--g); } "
        "span.q { color: #000; } .q { color: #fff; }"
    )

    # Same specificity: the later rule wins, so .p's colour beats .v's.
    assert sheet.resolve([_el("span.v.p"), _el("main")], "color") == "#00ff00"
    assert _contrast(sheet, [_el("span.v.p"), _el("main")]) == pytest.approx(1.0)
    # An element name adds specificity, whatever the order.
    assert sheet.resolve([_el("span.q"), _el("main")], "color") == "#000"
    # Colour is inherited and the backdrop is the nearest ancestor's.
    assert sheet.resolve([_el("b"), _el("span.p"), _el("main")], "color") == "#00ff00"
    assert sheet.resolve([_el("span.p"), _el("main")], "background") == "#fff"


def test_the_rendered_card_uses_the_styled_elements(card: ModelCard) -> None:
    page = render_html(card)
    verdict = render_html(card.model_copy(update={"gates": {"evaluation": True}}))

    assert '<span class="verdict fail">Gates failed</span>' in page
    assert '<span class="verdict pass">All gates passed</span>' in verdict
    assert '<td><span class="fail">FAILED</span></td>' in page
    assert '<td><span class="pass">passed</span></td>' in page


def _page_stylesheet(page: str) -> _Stylesheet:
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    assert len(styles) == 1
    return _Stylesheet(styles[0])


@pytest.mark.parametrize("element", list(STATUS_ELEMENTS))
def test_status_text_is_readable(card: ModelCard, element: str) -> None:
    sheet = _page_stylesheet(render_html(card))

    assert _contrast(sheet, STATUS_ELEMENTS[element]) >= 4.5
