"""Where a benchmark's inputs come from and its figures go (standard library only: importing it
costs nothing to time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATASET = REPO / "config" / "datasets" / "credit_risk.yaml"


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` to ``path`` as indented JSON (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
