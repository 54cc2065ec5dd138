"""The infrastructure validator (``infrastructure/validation/validate.py``) loaded as a module."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infrastructure" / "validation" / "validate.py"


def _load_validator() -> ModuleType:
    name = "infra_validate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


validator = _load_validator()


def run_checks(root: Path, *checks: str) -> tuple[int, dict[str, Any]]:
    """Run the named checks of the validator over a repository copy: (exit code, report)."""
    out = root / "build" / "infra"
    code = validator.main(["--root", str(root), "--out", str(out), "--only", *checks])
    return code, json.loads((out / "report.json").read_text(encoding="utf-8"))


def failures(report: dict[str, Any], check: str) -> str:
    return "\n".join(report["checks"][check]["failures"])
