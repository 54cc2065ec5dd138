"""Running the infrastructure validator (:mod:`infrastructure.validation`) over a repository copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infrastructure.validation import main

ROOT = Path(__file__).resolve().parents[2]


def run_checks(root: Path, *checks: str) -> tuple[int, dict[str, Any]]:
    """Run the named checks of the validator over a repository copy: (exit code, report)."""
    out = root / "build" / "infra"
    code = main(["--root", str(root), "--out", str(out), "--only", *checks])
    return code, json.loads((out / "report.json").read_text(encoding="utf-8"))


def failures(report: dict[str, Any], check: str) -> str:
    return "\n".join(report["checks"][check]["failures"])
