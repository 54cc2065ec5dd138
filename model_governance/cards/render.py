"""Render a :class:`ModelCard` as Markdown or as one self-contained HTML page.

Both formats are built from the same list of sections (paragraphs, tables, bullet lists), so
they cannot drift apart. The HTML page is the platform's report page (:mod:`mlops.report_html`:
shell, shared stylesheet, tables) around the card's own ``string.Template`` body and CSS from
``templates/`` (no template engine dependency); it inlines its CSS, embeds the importance chart
as a base64 ``data:`` URI and links to nothing: it opens offline, attached to a review or an
e-mail. Every value from the card is escaped, in HTML and in Markdown, because names,
parameters and lineage strings come from user configuration.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from importlib.resources import files
from string import Template
from typing import Literal

from mlops.report_html import escape, page, table
from model_governance.cards.model import DEFAULT_INTENDED_USE, FAIRNESS_GATE, LIMITATIONS_NOT_STATED, ModelCard

RateKey = Literal["selection_rate", "accuracy", "true_positive_rate", "false_positive_rate"]
RATE_COLUMNS: tuple[tuple[RateKey, str], ...] = (
    ("selection_rate", "Selection rate"),
    ("accuracy", "Accuracy"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
)


StatusState = Literal["passed", "failed", "not_assessed"]


@dataclass(frozen=True)
class Status:
    """A passed / failed / not assessed cell or heading badge, styled per format; ``note`` is
    plain text shown after the badge."""

    state: StatusState
    note: str = ""

    @classmethod
    def of(cls, passed: bool) -> Status:
        return cls("passed" if passed else "failed")


Cell = str | Status


@dataclass(frozen=True)
class Para:
    text: str
    muted: bool = False


@dataclass(frozen=True)
class Heading:
    text: str
    status: Status | None = None


@dataclass(frozen=True)
class Bullets:
    items: list[str]
    muted: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    numeric: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Chart:
    """The importance chart: embedded in HTML, omitted from Markdown."""

    alt: str


Block = Para | Heading | Bullets | Table | Chart


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: list[Block]


# --------------------------------------------------------------------------- public API
def render_markdown(card: ModelCard) -> str:
    """The card as GitHub-flavoured Markdown."""
    lines = [f"# Model card: {_md(_title(card))}", "", _md(_meta(card)), "", f"**Verdict: {_md_status(card)}**"]
    for section in _sections(card):
        lines += ["", f"## {_md(section.title)}"]
        for block in section.blocks:
            rendered = _md_block(block)
            if rendered:
                lines += ["", *rendered]
    return "\n".join(lines) + "\n"


def render_html(card: ModelCard, importance_png: bytes | None = None) -> str:
    """The card as one self-contained HTML page (inline CSS, chart as a data URI, no links)."""
    chart_uri = None
    if importance_png is not None:
        chart_uri = "data:image/png;base64," + base64.b64encode(importance_png).decode("ascii")
    sections = "\n\n".join(
        f'<section id="{section.anchor}">\n<h2>{escape(section.title)}</h2>\n'
        + "\n".join(_html_block(block, chart_uri) for block in section.blocks)
        + "\n</section>"
        for section in _sections(card)
    )
    body = _template("model_card.html").substitute(
        title=escape(_title(card)), meta=escape(_meta(card)), verdict=_html_verdict(card), sections=sections
    )
    return page(f"Model card: {_title(card)}", body, css=_template_text("model_card.css"))


# --------------------------------------------------------------------------- content
def _title(card: ModelCard) -> str:
    return f"{card.model_name} {card.version}" if card.version else f"{card.model_name} (unregistered)"


def _meta(card: ModelCard) -> str:
    estimator = f" ({card.model.estimator})" if card.model.estimator else ""
    return f"Created {card.created_at.isoformat(timespec='seconds')} · family {card.model.family}{estimator}"


def _sections(card: ModelCard) -> list[Section]:
    return [
        Section("gates", "Gates", _gates(card)),
        Section("metrics", "Holdout metrics", _metrics(card)),
        Section("intended-use", "Intended use", _intended_use(card)),
        Section("training-data", "Training data", _training_data(card)),
        Section("model", "Model", _model(card)),
        Section("feature-importance", "Feature importance", _importance(card)),
        Section("fairness", "Fairness", _fairness(card)),
        Section("limitations", "Limitations", _texts(card.limitations)),
        Section("ethical-considerations", "Ethical considerations", _texts(card.ethical_considerations)),
        Section("lineage", "Lineage", _lineage(card)),
    ]


def _gates(card: ModelCard) -> list[Block]:
    if not card.gates:
        return [Para("No gate outcome recorded.", muted=True)]
    rows: list[list[Cell]] = [[name, _gate_status(card, name, ok)] for name, ok in card.gates.items()]
    return [Table(["Gate", "Outcome"], rows)]


def _gate_status(card: ModelCard, name: str, ok: bool) -> Status:
    """A passed fairness gate that compared nothing reads "not assessed", not "passed"."""
    report = card.fairness_report() if name == FAIRNESS_GATE and ok else None
    if report is None:
        return Status.of(ok)
    if report.status == "not_assessed":
        return Status("not_assessed")
    note = f"not assessed: {', '.join(report.not_assessed)}" if report.not_assessed else ""
    return Status("passed", note)


def _intended_use(card: ModelCard) -> list[Block]:
    text = card.intended_use.strip()
    return [Para(text or DEFAULT_INTENDED_USE, muted=text in ("", DEFAULT_INTENDED_USE))]


def _texts(items: list[str]) -> list[Block]:
    if not items:
        return [Para("None stated.", muted=True)]
    return [Bullets(items, frozenset(i for i, item in enumerate(items) if item == LIMITATIONS_NOT_STATED))]


def _metrics(card: ModelCard) -> list[Block]:
    if not card.metrics:
        return [Para("No metric recorded.", muted=True)]
    champion = card.champion
    if champion is None:
        rows: list[list[Cell]] = [[name, _num(value)] for name, value in card.metrics.items()]
        return [Table(["Metric", "Value"], rows, frozenset({1}))]
    label = f"Champion {champion.champion_version}" if champion.champion_version else "Champion"
    rows = []
    for name, value in card.metrics.items():
        other = champion.champion_metrics.get(name)
        change = "—" if other is None else f"{value - other:+.4f}"
        rows.append([name, _num(value), _num(other), change])
    blocks: list[Block] = [Table(["Metric", "Candidate", label, "Change"], rows, frozenset({1, 2, 3}))]
    note = f"Primary metric: {champion.primary_metric}"
    if champion.max_regression is not None:
        note += f"; the candidate may be at most {champion.max_regression:g} below the champion"
    if champion.champion_version is None:
        note += "; no champion registered yet"
    blocks.append(Para(note + "."))
    return blocks


def _training_data(card: ModelCard) -> list[Block]:
    data = card.training_data
    period = "—"
    if data.time_range is not None:
        period = f"{data.time_range.start.isoformat()} to {data.time_range.end.isoformat()}"
    rows: list[list[Cell]] = [
        ["Dataset", data.dataset_name],
        ["Rows", f"{data.rows:,}"],
        ["Dataset hash", data.dataset_hash or "—"],
        ["Target", data.target],
    ]
    if data.positive_label is not None:
        rows.append(["Positive label", data.positive_label])
    rows += [["Positive rate", _num(data.positive_rate)], ["Time range", period]]
    if data.holdout is not None:
        rows.append(["Holdout", data.holdout])
    rows.append([f"Features ({len(data.features)})", ", ".join(data.features) or "—"])
    if data.nullable_features:
        rows.append(["May be missing at serving", ", ".join(data.nullable_features)])
    blocks: list[Block] = [Para(data.description)] if data.description.strip() else []
    blocks += [Table(["Field", "Value"], rows), Heading("Columns left out of the features")]
    if data.left_out:
        blocks.append(Table(["Column", "Why left out"], [[col, why] for col, why in data.left_out.items()]))
    else:
        blocks.append(Para("None.", muted=True))
    return blocks


def _model(card: ModelCard) -> list[Block]:
    blocks: list[Block] = [Para(f"Family: {card.model.family}. Estimator: {card.model.estimator or '—'}.")]
    if card.model.params:
        rows: list[list[Cell]] = [[k, _param(v)] for k, v in sorted(card.model.params.items())]
        blocks.append(Table(["Parameter", "Value"], rows))
    return blocks


def _importance(card: ModelCard) -> list[Block]:
    if not card.feature_importance:
        return [Para("Not computed.", muted=True)]
    ranked = sorted(card.feature_importance.items(), key=lambda kv: -kv[1])
    blocks: list[Block] = []
    if card.importance_method:
        blocks.append(Para(card.importance_method))
    blocks.append(Chart(alt="Bar chart of mean absolute SHAP value per input column"))
    rows: list[list[Cell]] = [[str(i), name, _num(value)] for i, (name, value) in enumerate(ranked, 1)]
    blocks.append(Table(["Rank", "Feature", "Mean |SHAP|"], rows, frozenset({0, 2})))
    return blocks


def _fairness(card: ModelCard) -> list[Block]:
    report = card.fairness_report()
    if report is None:
        return [Para("Not assessed.", muted=True)]
    limits = report.thresholds
    on_not_assessed = "fails the gate" if limits.get("not_assessed") == "fail" else "is a warning"
    blocks: list[Block] = [
        Heading("Fairness gate", Status(report.status)),
        Para(
            "Demographic parity difference at most "
            f"{_limit(limits.get('max_demographic_parity_difference'))}, equalized odds difference at "
            f"most {_limit(limits.get('max_equalized_odds_difference'))}, decided over groups with at "
            f"least {limits.get('min_group_size', '—')} rows; smaller groups are shown but excluded. "
            f"An attribute without two such groups is not assessed, which {on_not_assessed}."
        ),
    ]
    if not report.per_attribute:
        blocks.append(
            Para("No sensitive attribute declared (sensitive_attributes: in the dataset config).", muted=True)
        )
    if report.violations:
        blocks += [Para("Violations:"), Bullets(report.violations)]
    if report.warnings:
        blocks += [Para("Warnings:"), Bullets(report.warnings)]
    for name, attr in report.per_attribute.items():
        blocks.append(Heading(f"Attribute: {name}", Status(attr.status)))
        blocks.append(
            Para(
                f"Demographic parity difference {_num(attr.demographic_parity_difference)} "
                f"(all groups {_num(attr.demographic_parity_difference_all_groups)}); "
                f"equalized odds difference {_num(attr.equalized_odds_difference)} "
                f"(all groups {_num(attr.equalized_odds_difference_all_groups)})."
            )
        )
        rows: list[list[Cell]] = []
        for group in attr.groups:
            rates: list[Cell] = [_num(group[key]) for key, _ in RATE_COLUMNS]
            decides = "yes" if group["in_gate"] else "no (too small)"
            rows.append([group["group"], f"{group['count']:,}", *rates, decides])
        headers = ["Group", "Rows", *(label for _, label in RATE_COLUMNS), "Decides gate"]
        blocks.append(Table(headers, rows, frozenset(range(1, 6))))
    return blocks


def _lineage(card: ModelCard) -> list[Block]:
    if not card.lineage:
        return [Para("No lineage recorded.", muted=True)]
    # Plain text, never links: the page must not reach out to anything.
    return [Table(["Key", "Value"], [[key, value] for key, value in card.lineage.items()])]


def _num(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4f}"


def _limit(value: float | int | str | None) -> str:
    return value if isinstance(value, str) else _num(value)


def _param(value: object) -> str:
    if value is None:
        return "None"
    return str(value)


# --------------------------------------------------------------------------- markdown
_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")


def _md(text: str) -> str:
    """Escape for Markdown: no raw HTML, no emphasis/link/table syntax, one line."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return " ".join(escaped.splitlines())


def _md_status(card: ModelCard) -> str:
    if not card.gates:
        return "no gate recorded"
    return "PASSED" if card.passed else "FAILED"


_MD_STATUS = {"passed": "passed", "failed": "**FAILED**", "not_assessed": "NOT ASSESSED"}


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Status):
        return _MD_STATUS[cell.state] + (f" ({_md(cell.note)})" if cell.note else "")
    return _md(cell)


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Para):
        return [f"_{_md(block.text)}_" if block.muted else _md(block.text)]
    if isinstance(block, Heading):
        suffix = f" — {_md_cell(block.status)}" if block.status is not None else ""
        return [f"### {_md(block.text)}{suffix}"]
    if isinstance(block, Bullets):
        return [f"- _{_md(item)}_" if i in block.muted else f"- {_md(item)}" for i, item in enumerate(block.items)]
    if isinstance(block, Table):
        align = ["---:" if i in block.numeric else "---" for i in range(len(block.headers))]
        lines = ["| " + " | ".join(_md(h) for h in block.headers) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return lines
    return []  # Chart: the Markdown card is text only


# --------------------------------------------------------------------------- html
_HTML_STATUS = {
    "passed": '<span class="pass">passed</span>',
    "failed": '<span class="fail">FAILED</span>',
    "not_assessed": '<span class="not-assessed">not assessed</span>',
}


def _html_status(status: Status) -> str:
    note = f' <span class="muted">({escape(status.note)})</span>' if status.note else ""
    return _HTML_STATUS[status.state] + note


def _html_verdict(card: ModelCard) -> str:
    if not card.gates:
        return '<span class="muted">No gate recorded.</span>'
    css, word = ("pass", "All gates passed") if card.passed else ("fail", "Gates failed")
    return f'<span class="verdict {css}">{word}</span>'


def _html_cell(cell: Cell) -> str:
    return _html_status(cell) if isinstance(cell, Status) else escape(cell)


def _html_block(block: Block, chart_uri: str | None) -> str:
    if isinstance(block, Para):
        return f'<p class="muted">{escape(block.text)}</p>' if block.muted else f"<p>{escape(block.text)}</p>"
    if isinstance(block, Heading):
        status = f" — {_html_status(block.status)}" if block.status is not None else ""
        return f"<h3>{escape(block.text)}{status}</h3>"
    if isinstance(block, Bullets):
        items = (
            f'<li class="muted">{escape(item)}</li>' if i in block.muted else f"<li>{escape(item)}</li>"
            for i, item in enumerate(block.items)
        )
        return "<ul>\n" + "\n".join(items) + "\n</ul>"
    if isinstance(block, Table):
        rows = [[_html_cell(c) for c in row] for row in block.rows]
        return table([escape(h) for h in block.headers], rows, numeric=block.numeric)
    if chart_uri is None:
        return '<p class="muted">No chart.</p>'
    return f'<figure><img alt="{escape(block.alt)}" src="{chart_uri}"></figure>'


def _template_text(name: str) -> str:
    return files("model_governance.cards").joinpath("templates", name).read_text(encoding="utf-8")


def _template(name: str) -> Template:
    return Template(_template_text(name))
