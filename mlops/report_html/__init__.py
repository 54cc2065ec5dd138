"""The one base of the platform's HTML reports: the page shell, the shared stylesheet, helpers.

The data-quality report, the model card and the shadow report are each one self-contained page:
CSS inline, images as ``data:`` URIs or inline SVG, no script, no link, no web font. They are
opened offline, attached to a review or an e-mail, or inside an air-gapped cluster. A report
supplies its title, its body and its own CSS rules; this package supplies the rest:

    page(title, body, css=...)         the whole document: ``page.html`` with ``base.css`` inlined,
                                       then the report's own rules (which may set the variables
                                       ``base.css`` declares, or override a rule)
    escape(value)                      any value as HTML text (quotes too: safe in attributes)
    table(headers, rows, numeric=...)  a table; cells of the ``numeric`` columns right-aligned
    Row(cells, css)                    a table row with a class on its ``<tr>``
    cards(items)                       the row of headline figures at the top of a summary page
    badge(text, kind)                  a coloured pill (the report colours ``.badge.<kind>``)

``page.html`` and ``base.css`` are package data read with :mod:`importlib.resources`. Every
argument named ``headers``, ``cells``, ``body`` or ``items`` is markup: escape values from data,
configuration or users with :func:`escape` before passing them in.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template


def escape(value: object) -> str:
    """``value`` as text safe in HTML content and in quoted attribute values."""
    return html.escape(str(value), quote=True)


@cache
def _resource(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def base_css() -> str:
    """The stylesheet every report starts from (``base.css``)."""
    return _resource("base.css")


def page(title: str, body: str, *, css: str = "") -> str:
    """One self-contained HTML document: ``title`` is plain text, ``body`` markup, ``css`` the
    report's own rules (placed after the base stylesheet, so they win on equal specificity)."""
    style = base_css().rstrip("\n") + ("\n" + css.strip("\n") if css.strip() else "")
    return Template(_resource("page.html")).substitute(title=escape(title), style=style, body=body.strip("\n"))


@dataclass(frozen=True)
class Row:
    """A table row whose ``<tr>`` carries ``css`` as its class (e.g. ``pass`` / ``fail``)."""

    cells: Sequence[str]
    css: str = ""


def _cell(tag: str, content: str, numeric: bool) -> str:
    css = ' class="num"' if numeric else ""
    return f"<{tag}{css}>{content}</{tag}>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str] | Row], *, numeric: Collection[int] = ()) -> str:
    """A ``<table>`` of markup cells; cells in the ``numeric`` column positions get ``class="num"``."""
    head = "".join(_cell("th", h, False) for h in headers)
    lines = []
    for row in rows:
        cells, css = (row.cells, row.css) if isinstance(row, Row) else (row, "")
        tr = f'<tr class="{escape(css)}">' if css else "<tr>"
        lines.append(tr + "".join(_cell("td", c, i in numeric) for i, c in enumerate(cells)) + "</tr>")
    body = "\n".join(lines)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def cards(items: Iterable[tuple[str, str, str]]) -> str:
    """Headline figures, each ``(label, value, note)`` in markup, as a wrapping row of cards."""
    inner = "".join(
        f'<div class="card"><div class="k">{label}</div><div class="v">{value}</div>'
        f'<div class="muted">{note}</div></div>'
        for label, value, note in items
    )
    return f'<div class="cards">{inner}</div>'


def badge(text: str, kind: str) -> str:
    """A pill reading ``text``; the report's CSS colours ``.badge.<kind>``."""
    return f'<span class="badge {escape(kind)}">{escape(text)}</span>'


__all__ = ["Row", "badge", "base_css", "cards", "escape", "page", "table"]
