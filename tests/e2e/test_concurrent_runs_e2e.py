"""Three `mlops run training` at once on one project: all succeed, with distinct, gap-free versions.

They share the local MLflow registry (SQLite) and the Feast store (file registry, parquet
offline source, SQLite online store); both are locked per write, so no run fails on a locked
database or reads back another run's feature build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.byod import credit_file
from tests.e2e.project import new_project, registry_versions, steps, write_yaml

pytestmark = pytest.mark.e2e
RUNS = 3


def test_concurrent_runs_register_distinct_gap_free_versions(tmp_path: Path) -> None:
    project = new_project(tmp_path / "project")
    credit_file(3000).to_csv(project / "credit.csv", index=False)
    cfg = write_yaml(
        project / "credit.yaml",
        {"name": "credit", "path": "credit.csv", "target": "Risk", "positive_label": "bad"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlops_cli", "run", "training", "--dataset", str(cfg)],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "COLUMNS": "200"},
        )
        for _ in range(RUNS)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode in (0, 3), out[-3000:]  # 3: a gate may block promotion, not registration
    runs = sorted((project / ".mlops" / "runs").iterdir())
    assert len(runs) == RUNS
    for run_dir in runs:
        assert steps(run_dir)["register"]["status"] == "succeeded", run_dir
    versions = registry_versions(project, "credit")
    assert sorted(v["semver"] for v in versions) == ["1.0.0", "1.0.1", "1.0.2"]
    assert all(v["run_status"] == "complete" for v in versions)
