"""A baseline profiled by a run is pending until that run registers a version or a person accepts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data_quality.step import suite_for
from mlops.config import DatasetConfig
from mlops.contracts import QualityResult
from mlops.errors import ConfigError
from mlops.state import StateLayout
from model_registry.steps import _accept_baseline
from training.datasets import decide_roles

ROOT = Path(__file__).resolve().parents[2]


def cfg(tmp_path: Path, **extra: object) -> DatasetConfig:
    return DatasetConfig.model_validate({"name": "churn", "path": str(tmp_path / "x.csv"), "target": "y", **extra})


def frame(extra: str) -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "ts": [0] * 4, extra: [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})


def test_a_pending_baseline_is_never_reused_and_an_accepted_one_is(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "state")
    config = cfg(tmp_path)
    broken = frame("amount_typo")
    first = suite_for(config, decide_roles(config, broken, "id", "ts"), broken, layout)
    assert first.origin == "baseline (profiled)"
    assert first.pending == layout.baseline("churn", pending=True)
    assert first.pending.exists()
    assert not layout.baseline("churn").exists()
    # The run failed before registering: the next run (corrected column name) profiles anew.
    fixed = frame("amount")
    second = suite_for(config, decide_roles(config, fixed, "id", "ts"), fixed, layout)
    assert second.origin == "baseline (profiled)"
    assert "amount" in second.suite.columns()
    assert "amount_typo" not in second.suite.columns()
    # Registering a version accepts it; later runs reuse it.
    quality = QualityResult(
        passed=True,
        suite="churn_baseline",
        suite_origin=second.origin,
        suite_path=str(second.path),
        row_pass_rate=1.0,
        expectation_pass_rate=1.0,
        failed_expectations=[],
        quarantined_rows=0,
        baseline_pending=str(second.pending),
        baseline=str(layout.baseline("churn")),
    )
    assert _accept_baseline(quality) == layout.baseline("churn")
    third = suite_for(config, decide_roles(config, fixed, "id", "ts"), fixed, layout)
    assert third.origin == "baseline (reused)"
    assert third.path == layout.baseline("churn")
    assert third.pending is None


def test_the_profiled_baseline_requires_a_target_value(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "state")
    config = cfg(tmp_path)
    data = frame("amount").astype({"y": "float64"})
    data.loc[0, "y"] = None
    choice = suite_for(config, decide_roles(config, data.dropna(), "id", "ts"), data, layout)
    strict = [
        e for e in choice.suite.expectations if e.type == "expect_column_values_to_not_be_null" and e.columns() == ["y"]
    ]
    assert strict
    assert "mostly" not in strict[0].kwargs


def test_a_suite_naming_a_dropped_pii_column_is_a_config_error(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: s\nexpectations:\n  - type: expect_column_values_to_not_be_null\n    kwargs: {column: ssn}\n"
    )
    config = cfg(tmp_path, expectation_suite=str(suite), pii={"ssn": {"action": "drop"}})
    data = frame("amount")
    with pytest.raises(ConfigError, match=r"expectations\.0.*ssn"):
        suite_for(config, decide_roles(config, data.assign(ssn="x"), "id", "ts"), data, StateLayout(tmp_path))


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_baseline_commands_show_accept_and_reset(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    layout = StateLayout(tmp_path / ".mlops")
    layout.suites.mkdir(parents=True)
    pending = layout.baseline("churn", pending=True)
    pending.write_text("name: churn_baseline\nexpectations: []\n")
    shown = mlops(tmp_path, "data", "baseline", "show", "churn")
    assert shown.returncode == 0, shown.stderr
    assert str(pending.resolve()) in shown.stdout
    accepted = mlops(tmp_path, "data", "baseline", "accept", "churn")
    assert accepted.returncode == 0, accepted.stderr
    assert layout.baseline("churn").exists()
    assert not pending.exists()
    again = mlops(tmp_path, "data", "baseline", "accept", "churn")
    assert again.returncode == 1
    assert "no pending baseline" in again.stderr
    reset = mlops(tmp_path, "data", "baseline", "reset", "churn")
    assert reset.returncode == 0
    assert not layout.baseline("churn").exists()
    assert "removed" in reset.stdout
