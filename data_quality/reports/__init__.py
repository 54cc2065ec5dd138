"""Self-contained HTML reports of validation results (no CDN, no scripts, no web fonts)."""

from __future__ import annotations

from data_quality.reports.html import render_html, write_report

__all__ = ["render_html", "write_report"]
