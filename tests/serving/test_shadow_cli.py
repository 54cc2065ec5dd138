"""`mlops shadow report` decides from the logged pairs; `models promote` acts only on 'promote'."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from serving.shadow.store import ComparisonStore, ShadowPair, comparison_store_path

ROOT = Path(__file__).resolve().parents[2]


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def project(tmp_path: Path, *, disagree: float) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    rng = np.random.default_rng(3)
    store = ComparisonStore(comparison_store_path(tmp_path / ".mlops", "credit_risk"))
    pairs = []
    for i in range(800):
        champ = float(rng.uniform(0, 1))
        challenger = 1 - champ if rng.random() < disagree else min(1.0, champ + 0.001)
        pairs.append(
            ShadowPair(
                request_id=f"r{i}",
                ts=1_700_000_000 + i,
                entity_id=f"APP-{i:07d}",
                segment={"sex": "female" if i % 2 else "male"},
                champion_version="1.0.0",
                challenger_version="1.1.0",
                champion_score=champ,
                challenger_score=challenger,
                champion_latency_ms=2.0,
                challenger_latency_ms=2.2,
                challenger_error=None,
            )
        )
    store.append(pairs)
    return tmp_path


@pytest.mark.parametrize(("disagree", "decision", "code"), [(0.0, "promote", 0), (0.3, "reject", 3)])
def test_report_decides_and_promote_follows(tmp_path: Path, disagree: float, decision: str, code: int) -> None:
    work = project(tmp_path, disagree=disagree)
    out = mlops(work, "shadow", "report", "--out", "report")
    assert out.returncode == code, out.stdout + out.stderr
    assert out.stdout.startswith(decision)
    report = json.loads((work / "report" / "shadow_report.json").read_text())
    assert report["decision"] == decision
    assert report["pairs"] == 800
    html = (work / "report" / "shadow_report.html").read_text()
    assert "<script" not in html
    if decision == "reject":
        refused = mlops(work, "models", "promote", "credit_risk", "--from-shadow-report", "report/shadow_report.json")
        assert refused.returncode == 1
        assert "shadow report decided 'reject'" in refused.stderr


def test_report_without_pairs_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    out = mlops(tmp_path, "shadow", "report")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "credit_risk.sqlite" in out.stderr
