"""Render a :class:`~data_quality.validation.ValidationResult` as one self-contained HTML page.

GX's Data Docs link their CSS and JS from CDNs and render unstyled offline (and in air-gapped
clusters); this page carries its styles inline and needs no script. The page shell, the shared
styles and the table and card helpers are the platform's report base (:mod:`mlops.report_html`);
this module holds the report's content and its own rules. Every value from the data goes
through :func:`~mlops.report_html.escape`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.report_html import Row, badge, cards, escape, page, table

if TYPE_CHECKING:
    from data_quality.validation import ExpectationOutcome, ValidationResult

# How many sample values / ids a cell shows (the result holds up to SAMPLE_SIZE).
_CELL_SAMPLES = 8
# The expectations table: one row per expectation; "#" and "unexpected" are right-aligned.
_HEADERS = ["#", "expectation", "column", "level", "status", "unexpected", "sample of unexpected values"]
_NUMERIC_COLUMNS = frozenset({0, 5})

# The report's own rules; the page shell and the shared ones come from mlops.report_html.
_CSS = """
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
tr.fail td:first-child { border-left: 3px solid var(--bad); }
tr.pass td:first-child { border-left: 3px solid var(--ok); }
.status.ok { color: var(--ok); font-weight: 600; } .status.bad { color: var(--bad); font-weight: 600; }
ul.plain { margin: 4px 0; padding-left: 18px; }
.bar { height: 8px; background: var(--line); border-radius: 4px; position: relative; margin-top: 6px; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
.bar i { position: absolute; top: -3px; bottom: -3px; width: 2px; background: var(--ink); }
"""


def _value(value: Any) -> str:
    """A data value as text: JSON-ish for containers, repr-like for strings (shows spaces)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _kwargs_text(outcome: ExpectationOutcome) -> str:
    shown = {k: v for k, v in outcome.kwargs.items() if k not in ("column",)}
    return ", ".join(f"{k}={_value(v)}" for k, v in shown.items())


def _samples(outcome: ExpectationOutcome) -> str:
    if outcome.error:
        return f'<span class="status bad">{escape(outcome.error)}</span>'
    parts: list[str] = []
    if outcome.unexpected_value_counts:
        items = "".join(
            f"<li><code>{escape(_value(v))}</code> &times; {c}</li>"
            for v, c in outcome.unexpected_value_counts[:_CELL_SAMPLES]
        )
        parts.append(f'<ul class="plain">{items}</ul>')
    elif outcome.partial_unexpected_values:
        values = ", ".join(escape(_value(v)) for v in outcome.partial_unexpected_values[:_CELL_SAMPLES])
        parts.append(f"<code>{values}</code>")
    if outcome.partial_unexpected_ids:
        ids = ", ".join(escape(v) for v in outcome.partial_unexpected_ids[:_CELL_SAMPLES])
        parts.append(f'<div class="muted">rows: <span class="mono">{ids}</span></div>')
    return "".join(parts)


def _row(index: int, outcome: ExpectationOutcome) -> Row:
    status = '<span class="status ok">pass</span>' if outcome.success else '<span class="status bad">FAIL</span>'
    column = outcome.kwargs.get("column", "")
    if outcome.row_level:
        count = outcome.unexpected_count or 0
        pct = outcome.unexpected_percent
        counts = f"{count:,}" + (f" ({pct:.2f}%)" if pct is not None else "")
    else:
        counts = "" if outcome.observed_value is None else f"observed {_value(outcome.observed_value)}"
    cells = [
        str(index),
        f'<code>{escape(outcome.type)}</code><div class="muted mono">{escape(_kwargs_text(outcome))}</div>',
        escape(column),
        "row" if outcome.row_level else "table",
        status,
        escape(counts),
        _samples(outcome),
    ]
    return Row(cells, "pass" if outcome.success else "fail")


def render_html(result: ValidationResult, *, dataset_name: str, suite_name: str | None = None) -> str:
    """The whole report as one HTML string (inline CSS, no external resource, no script)."""
    suite = suite_name or result.suite_name
    ok = result.passed
    rate = result.row_pass_rate
    threshold = result.gate.min_row_pass_rate
    passed_exps = sum(1 for o in result.results if o.success)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    bar_colour = "var(--ok)" if rate >= threshold else "var(--bad)"
    figures = [
        ("row pass rate", f"{rate:.2%}", f"gate &ge; {threshold:.2%}"),
        ("rows", f"{result.rows:,}", ""),
        ("quarantined", f"{result.quarantined_count:,}", "rows failing a row-level expectation"),
        ("expectations passed", f"{passed_exps} / {len(result.results)}", f"{result.expectation_pass_rate:.0%}"),
        ("duration", f"{result.duration_s:.2f} s", ""),
    ]
    reasons: list[str] = []
    if rate < threshold:
        reasons.append(f"row pass rate {rate:.2%} is below the gate's {threshold:.2%}")
    if result.table_failures and result.gate.require_table_expectations:
        reasons.append("table-level expectations failed (the gate requires them all)")
    verdict = (
        "The data passes the quality gate."
        if ok
        else "The data fails the quality gate: " + "; ".join(escape(r) for r in reasons) + "."
    )
    table_failures = ""
    if result.table_failures:
        items = "".join(f"<li><code>{escape(t)}</code></li>" for t in result.table_failures)
        table_failures = f'<h2>Table-level failures</h2><ul class="plain">{items}</ul>'
    expectations = table(
        _HEADERS, (_row(i, o) for i, o in enumerate(result.results, start=1)), numeric=_NUMERIC_COLUMNS
    )
    body = f"""
<header>
<h1>Data quality report {badge("PASSED", "ok") if ok else badge("FAILED", "bad")}</h1>
<div class="muted">dataset <strong>{escape(dataset_name)}</strong> &middot; suite <strong>{escape(suite)}</strong>
&middot; row id <code>{escape(result.row_id_column)}</code> &middot; {generated}</div>
</header>
<main>
<p>{verdict}</p>
{cards(figures)}
<div class="bar" title="row pass rate vs gate">
<span style="width:{rate * 100:.2f}%;background:{bar_colour}"></span>
<i style="left:{threshold * 100:.2f}%"></i>
</div>
{table_failures}
<h2>Expectations</h2>
{expectations}
<p class="muted">Rows failing any failed row-level expectation are quarantined with a
<code>_failed_expectations</code> column; a <code>mostly</code> expectation that still passed tolerates its few
unexpected rows.</p>
</main>
"""
    return page(f"Data quality: {dataset_name} / {suite}", body, css=_CSS)


def write_report(
    result: ValidationResult, path: Path | str, *, dataset_name: str, suite_name: str | None = None
) -> Path:
    """Write :func:`render_html` to ``path`` (creating the folder); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(result, dataset_name=dataset_name, suite_name=suite_name), encoding="utf-8")
    return target
