"""``mlops shadow report``: read the comparison store, analyse its pairs, write the report's files.

:func:`report_from_store` reads the pairs the mirror logged and reduces them with
:func:`~serving.shadow.analysis.analyse`; :func:`write_report` writes the result as
``shadow_report.json`` (what ``mlops models promote --from-shadow-report`` reads) and
``shadow_report.html`` (rendered by :mod:`serving.shadow.html`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import DatasetError
from serving.shadow.analysis import ShadowReport, analyse
from serving.shadow.html import render_html
from serving.shadow.store import ComparisonStore

if TYPE_CHECKING:
    from serving.config import ShadowPolicyConfig

JSON_NAME = "shadow_report.json"
HTML_NAME = "shadow_report.html"


def report_from_store(
    store_path: Path,
    policy: ShadowPolicyConfig,
    *,
    since: float | None = None,
    champion_version: str | None = None,
    challenger_version: str | None = None,
) -> ShadowReport:
    """:func:`analyse` over the pairs in the comparison store at ``store_path``.

    ``since`` (epoch seconds) limits the analysis to recent pairs.
    """
    # Opening a store creates it: a mistyped path must fail, not report on zero pairs.
    if not Path(store_path).is_file():
        raise DatasetError(f"no comparison store at {store_path} (is the server running with a challenger?)")
    pairs = ComparisonStore(store_path).read(since=since)
    return analyse(pairs, policy, champion_version=champion_version, challenger_version=challenger_version)


def write_report(report: ShadowReport, out_dir: Path) -> dict[str, Path]:
    """Write ``shadow_report.json`` and ``shadow_report.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / JSON_NAME
    html_path = out / HTML_NAME
    # allow_nan=False: a NaN slipping into the report must fail here, not in a JSON reader later.
    json_path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return {"json": json_path, "html": html_path}


__all__ = ["HTML_NAME", "JSON_NAME", "report_from_store", "write_report"]
