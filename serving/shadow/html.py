"""The shadow report as one self-contained HTML page (inline CSS and SVG, no script, no link).

Built on the platform's report base (:mod:`mlops.report_html`: page shell, shared stylesheet,
tables, cards); this module holds the page's content and its own rules. Every value from the
pair log (versions, segment values, error kinds) is escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from mlops.report_html import Row, badge, cards, escape, page, table
from serving.shadow.analysis import Check, DeltaStats, ShadowReport

# The page's own rules; the shell and the shared ones come from mlops.report_html.
_CSS = """
:root { --wait: #9a6700; --bar: #0969da; --width: 1100px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.badge.promote { background: var(--ok); } .badge.reject { background: var(--bad); }
.badge.keep_shadowing { background: var(--wait); }
.card { min-width: 150px; }
table { margin-bottom: 8px; }
.ok { color: var(--ok); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
tr.breached td:first-child { border-left: 3px solid var(--bad); }
tr.passed td:first-child { border-left: 3px solid var(--ok); }
svg { display: block; max-width: 100%; height: auto; }
svg rect.bin { fill: var(--bar); } svg text { font-size: 11px; fill: var(--muted); }
"""


def _num(value: float | None, spec: str = ".4g") -> str:
    return "&ndash;" if value is None else escape(format(value, spec))


def _pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.2%}"


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "&ndash;"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _checks_table(checks: Iterable[Check]) -> str:
    rows = []
    for c in checks:
        status = (
            '<span class="muted">skipped</span>'
            if c.skipped
            else ('<span class="ok">ok</span>' if c.passed else '<span class="bad">breached</span>')
        )
        op = "&ge;" if c.kind == "min" else "&le;"
        cells = [f"<code>{escape(c.name)}</code>", _num(c.value), f"{op} {_num(c.threshold)}", status]
        rows.append(Row(cells, "passed" if c.passed else "breached"))
    return table(["check", "value", "threshold", "status"], rows, numeric={1, 2})


def _histogram_svg(delta: DeltaStats) -> str:
    """Inline SVG bar chart of the signed delta histogram (no script, no external resource)."""
    width, height, pad = 720, 200, 28
    counts = delta.histogram_counts
    top = max(counts) or 1
    bar_w = (width - 2 * pad) / len(counts)
    bars = []
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        lo, hi = delta.histogram_edges[i], delta.histogram_edges[i + 1]
        bars.append(
            f'<rect class="bin" x="{pad + i * bar_w:.1f}" y="{height - pad - h:.1f}" '
            f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}"><title>[{lo:.4g}, {hi:.4g}): {count}</title></rect>'
        )
    lo, hi = delta.histogram_edges[0], delta.histogram_edges[-1]
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#d0d7de"/>'
        f'<text x="{pad}" y="{height - 8}">{lo:.3g}</text>'
        f'<text x="{width / 2:.0f}" y="{height - 8}" text-anchor="middle">0</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{hi:.3g}</text>'
        f'<text x="{pad}" y="{pad - 10}">max bin {top}</text>'
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="histogram of challenger minus champion score">{axis}{"".join(bars)}</svg>'
    )


def _delta_html(delta: DeltaStats | None) -> str:
    if delta is None:
        return '<p class="muted">No compared pairs.</p>'
    headers = ["mean &Delta;", "mean |&Delta;|", "p50 |&Delta;|", "p95 |&Delta;|", "p99 |&Delta;|", "max |&Delta;|"]
    values = (delta.mean, delta.mean_abs, delta.p50_abs, delta.p95_abs, delta.p99_abs, delta.max_abs)
    return table(headers, [[_num(v) for v in values]], numeric=range(len(values))) + "\n" + _histogram_svg(delta)


def _segments_html(report: ShadowReport) -> str:
    if not report.segments:
        return '<p class="muted">The compared pairs carry no segment attributes.</p>'
    headers = ["segment", "compared", "agreement", "mean &Delta;", "mean |&Delta;|", "counted"]
    parts = []
    for attribute, gap in report.segment_gaps.items():
        rows = [
            [
                escape(s.value),
                f"{s.compared:,}",
                _pct(s.agreement_rate),
                _num(s.mean_delta, "+.4f"),
                _num(s.mean_abs_delta, ".4f"),
                "yes" if s.counted else '<span class="muted">too small</span>',
            ]
            for s in report.segments
            if s.attribute == attribute
        ]
        parts.append(
            f"<h3><code>{escape(attribute)}</code> &middot; agreement gap {_pct(gap)}</h3>\n"
            + table(headers, rows, numeric={1, 2, 3, 4})
        )
    return "\n".join(parts)


def _latency_html(report: ShadowReport) -> str:
    lat = report.latency
    rows = [
        [name, *(_num(getattr(p, q) if p else None, ".2f") for q in ("p50", "p95", "p99"))]
        for name, p in (("champion", lat.champion), ("challenger", lat.challenger))
    ]
    return table(["model", "p50", "p95", "p99"], rows, numeric={1, 2, 3})


def _errors_html(report: ShadowReport) -> str:
    if not report.errors_by_kind:
        return '<p class="muted">No challenger errors.</p>'
    rows = [[f"<code>{escape(kind)}</code>", f"{n:,}"] for kind, n in report.errors_by_kind.items()]
    return table(["kind", "pairs"], rows, numeric={1})


def render_html(report: ShadowReport) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no script, no link)."""
    d = report.delta
    figures = [
        ("pairs", f"{report.pairs:,}", f"{report.excluded_pairs:,} other versions excluded"),
        ("compared", f"{report.compared:,}", "challenger returned a score"),
        (
            "challenger errors",
            _pct(report.error_rate),
            f"{report.challenger_errors:,} failed, {report.timeouts:,} timeouts",
        ),
        ("label agreement", _pct(report.agreement_rate), f"at threshold {report.label_threshold:g}"),
        ("mean |&Delta;|", _num(d.mean_abs if d else None), f"p95 {_num(d.p95_abs if d else None)}"),
        ("p99 latency ratio", _num(report.latency.p99_ratio, ".3f"), "challenger / champion"),
    ]
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report.reasons)
    decision = badge(report.decision.replace("_", " "), report.decision)
    body = f"""
<header>
<h1>Shadow report {decision}</h1>
<div class="muted">challenger <strong>{escape(report.challenger_version)}</strong> vs champion
<strong>{escape(report.champion_version)}</strong> &middot; {_time(report.window_start)} &ndash;
{_time(report.window_end)} &middot; generated {escape(report.generated_at)}</div>
</header>
<main>
<ul>{reasons}</ul>
{cards(figures)}
<h2>Checks</h2>
{_checks_table(report.checks)}
<h2>Score delta (challenger &minus; champion)</h2>
{_delta_html(d)}
<h2>Segments</h2>
{_segments_html(report)}
<h2>Latency (ms)</h2>
{_latency_html(report)}
<h2>Challenger errors</h2>
{_errors_html(report)}
<p class="muted">Decision rule: fewer than the minimum pairs keeps shadowing; any breached check rejects;
otherwise promote. Policy: <code>{escape(json.dumps(report.policy, sort_keys=True))}</code></p>
</main>
"""
    title = f"Shadow report: {report.challenger_version} vs {report.champion_version}"
    return page(title, body, css=_CSS)


__all__ = ["render_html"]
