"""The report base: one self-contained page shell, the shared stylesheet first, markup helpers."""

from __future__ import annotations

import re

from mlops.report_html import Row, badge, base_css, cards, escape, page, table

HOSTILE = '<script>alert("x")</script>'


def test_page_is_one_self_contained_document_with_the_report_rules_after_the_base() -> None:
    html = page(f"Title {HOSTILE}", "<main><p>body</p></main>", css=".mine { color: red; }")

    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert html.endswith("</html>\n")
    assert f"<title>Title {escape(HOSTILE)}</title>" in html
    assert "<body>\n<main><p>body</p></main>\n</body>" in html
    style = re.findall(r"<style>\n(.*?)\n</style>", html, flags=re.S)
    assert style == [base_css().rstrip("\n") + "\n.mine { color: red; }"]
    for external in ("<script", "<link", "src=", "href=", "@import", "url("):
        assert external not in html


def test_the_base_stylesheet_declares_what_reports_build_on() -> None:
    css = base_css()

    for variable in ("--ink", "--muted", "--line", "--bg", "--ok", "--bad", "--width"):
        assert f"{variable}:" in css
    assert "td.num" in css
    assert "http" not in css


def test_escape_covers_content_and_attribute_values() -> None:
    assert escape(HOSTILE) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert escape("it's") == "it&#x27;s"
    assert escape(3.5) == "3.5"


def test_table_marks_numeric_columns_and_row_classes() -> None:
    html = table(["name", "n"], [["a", "1"], Row(["b", "2"], "fail")], numeric={1})

    assert html == (
        "<table>\n<thead><tr><th>name</th><th>n</th></tr></thead>\n<tbody>\n"
        '<tr><td>a</td><td class="num">1</td></tr>\n'
        '<tr class="fail"><td>b</td><td class="num">2</td></tr>\n'
        "</tbody>\n</table>"
    )


def test_cards_and_badge() -> None:
    assert cards([("rows", "1,000", "")]) == (
        '<div class="cards"><div class="card"><div class="k">rows</div><div class="v">1,000</div>'
        '<div class="muted"></div></div></div>'
    )
    assert badge("keep shadowing", "keep_shadowing") == '<span class="badge keep_shadowing">keep shadowing</span>'
    assert badge(HOSTILE, '"x') == f'<span class="badge &quot;x">{escape(HOSTILE)}</span>'
