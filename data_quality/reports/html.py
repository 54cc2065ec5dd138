"""Render a :class:`~data_quality.validation.ValidationResult` as one self-contained HTML page.

GX's Data Docs link their CSS and JS from CDNs and render unstyled offline (and in air-gapped
clusters); this page carries its styles inline and needs no script. Every value from the
data goes through :func:`html.escape`.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_quality.validation import ExpectationOutcome, ValidationResult

# How many sample values / ids a cell shows (the result holds up to SAMPLE_SIZE).
_CELL_SAMPLES = 8

_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2328; background: #fff; }
header, main { max-width: 1200px; margin: 0 auto; padding: 16px 24px; }
header { border-bottom: 1px solid var(--line); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
         font-weight: 600; font-size: 13px; vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px;
        background: var(--bg); }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td:first-child { border-left: 3px solid var(--bad); }
tr.pass td:first-child { border-left: 3px solid var(--ok); }
.status.ok { color: var(--ok); font-weight: 600; } .status.bad { color: var(--bad); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
ul.plain { margin: 4px 0; padding-left: 18px; }
.bar { height: 8px; background: var(--line); border-radius: 4px; position: relative; margin-top: 6px; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
.bar i { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #1f2328; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


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
        return f'<span class="status bad">{_e(outcome.error)}</span>'
    parts: list[str] = []
    if outcome.unexpected_value_counts:
        items = "".join(
            f"<li><code>{_e(_value(v))}</code> &times; {c}</li>"
            for v, c in outcome.unexpected_value_counts[:_CELL_SAMPLES]
        )
        parts.append(f'<ul class="plain">{items}</ul>')
    elif outcome.partial_unexpected_values:
        values = ", ".join(_e(_value(v)) for v in outcome.partial_unexpected_values[:_CELL_SAMPLES])
        parts.append(f"<code>{values}</code>")
    if outcome.partial_unexpected_ids:
        ids = ", ".join(_e(v) for v in outcome.partial_unexpected_ids[:_CELL_SAMPLES])
        parts.append(f'<div class="muted">rows: <span class="mono">{ids}</span></div>')
    return "".join(parts)


def _row(index: int, outcome: ExpectationOutcome) -> str:
    status = '<span class="status ok">pass</span>' if outcome.success else '<span class="status bad">FAIL</span>'
    column = outcome.kwargs.get("column", "")
    if outcome.row_level:
        count = outcome.unexpected_count or 0
        pct = outcome.unexpected_percent
        counts = f"{count:,}" + (f" ({pct:.2f}%)" if pct is not None else "")
    else:
        counts = "" if outcome.observed_value is None else f"observed {_value(outcome.observed_value)}"
    return (
        f'<tr class="{"pass" if outcome.success else "fail"}">'
        f'<td class="num">{index}</td>'
        f"<td><code>{_e(outcome.type)}</code>"
        f'<div class="muted mono">{_e(_kwargs_text(outcome))}</div></td>'
        f"<td>{_e(column)}</td>"
        f"<td>{'row' if outcome.row_level else 'table'}</td>"
        f"<td>{status}</td>"
        f'<td class="num">{_e(counts)}</td>'
        f"<td>{_samples(outcome)}</td>"
        "</tr>"
    )


def render_html(result: ValidationResult, *, dataset_name: str, suite_name: str | None = None) -> str:
    """The whole report as one HTML string (inline CSS, no external resource, no script)."""
    suite = suite_name or result.suite_name
    ok = result.passed
    badge = '<span class="badge ok">PASSED</span>' if ok else '<span class="badge bad">FAILED</span>'
    rate = result.row_pass_rate
    threshold = result.gate.min_row_pass_rate
    passed_exps = sum(1 for o in result.results if o.success)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    bar_colour = "var(--ok)" if rate >= threshold else "var(--bad)"
    cards = [
        ("row pass rate", f"{rate:.2%}", f"gate &ge; {threshold:.2%}"),
        ("rows", f"{result.rows:,}", ""),
        ("quarantined", f"{result.quarantined_count:,}", "rows failing a row-level expectation"),
        ("expectations passed", f"{passed_exps} / {len(result.results)}", f"{result.expectation_pass_rate:.0%}"),
        ("duration", f"{result.duration_s:.2f} s", ""),
    ]
    card_html = "".join(
        f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div><div class="muted">{note}</div></div>'
        for k, v, note in cards
    )
    reasons: list[str] = []
    if rate < threshold:
        reasons.append(f"row pass rate {rate:.2%} is below the gate's {threshold:.2%}")
    if result.table_failures and result.gate.require_table_expectations:
        reasons.append("table-level expectations failed (the gate requires them all)")
    verdict = (
        "The data passes the quality gate."
        if ok
        else "The data fails the quality gate: " + "; ".join(_e(r) for r in reasons) + "."
    )
    table_failures = ""
    if result.table_failures:
        items = "".join(f"<li><code>{_e(t)}</code></li>" for t in result.table_failures)
        table_failures = f'<h2>Table-level failures</h2><ul class="plain">{items}</ul>'
    rows = "".join(_row(i, o) for i, o in enumerate(result.results, start=1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data quality: {_e(dataset_name)} / {_e(suite)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Data quality report {badge}</h1>
<div class="muted">dataset <strong>{_e(dataset_name)}</strong> &middot; suite <strong>{_e(suite)}</strong>
&middot; row id <code>{_e(result.row_id_column)}</code> &middot; {generated}</div>
</header>
<main>
<p>{verdict}</p>
<div class="cards">{card_html}</div>
<div class="bar" title="row pass rate vs gate">
<span style="width:{rate * 100:.2f}%;background:{bar_colour}"></span>
<i style="left:{threshold * 100:.2f}%"></i>
</div>
{table_failures}
<h2>Expectations</h2>
<table>
<thead><tr><th>#</th><th>expectation</th><th>column</th><th>level</th><th>status</th>
<th>unexpected</th><th>sample of unexpected values</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="muted">Rows failing any failed row-level expectation are quarantined with a
<code>_failed_expectations</code> column; a <code>mostly</code> expectation that still passed tolerates its few
unexpected rows.</p>
</main>
</body>
</html>
"""


def write_report(
    result: ValidationResult, path: Path | str, *, dataset_name: str, suite_name: str | None = None
) -> Path:
    """Write :func:`render_html` to ``path`` (creating the folder); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(result, dataset_name=dataset_name, suite_name=suite_name), encoding="utf-8")
    return target
