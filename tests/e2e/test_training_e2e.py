"""The whole training pipeline through kfp.local, as a user runs it (`mlops run training`).

Each run is a real local KFP run (every step a subprocess), the registry is real MLflow on
SQLite and the feature store real Feast on SQLite/parquet, all under a temporary folder.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines import TRAINING_STEPS
from tests.e2e.project import ROOT, latest_run, new_project, registry_versions, run, steps, write_yaml
from training.sample_data import generate_credit_risk

pytestmark = pytest.mark.e2e
SUITE = ROOT / "data_quality" / "expectations" / "credit_risk.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder like a user's: config copied, a dev hash key, its own .mlops state."""
    return new_project(tmp_path_factory.mktemp("project"))


def sample_config(workdir: Path, name: str, df: pd.DataFrame) -> Path:
    data = workdir / "data" / f"{name}.parquet"
    data.parent.mkdir(exist_ok=True)
    df.to_parquet(data, index=False)
    base = yaml.safe_load((ROOT / "config/datasets/credit_risk.yaml").read_text())
    base.pop("synthetic")
    base.update(name="credit_risk", path=str(data), expectation_suite=str(SUITE))
    return write_yaml(workdir / f"{name}.yaml", base)


def test_sample_runs_end_to_end_and_registers_a_challenger(workdir: Path) -> None:
    cfg = sample_config(workdir, "sample", generate_credit_risk(20000, seed=11))
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = latest_run(workdir)
    recorded = steps(run_dir)
    assert {s: r["status"] for s, r in recorded.items()} == dict.fromkeys(TRAINING_STEPS, "succeeded")
    assert "Run summary" in out.stdout
    assert "credit_risk 1.0.0" in out.stdout
    assert "challenger" in out.stdout
    reports = run_dir / "reports"
    assert {p.name for p in reports.iterdir()} >= {"quality.html", "model_card.html", "model_card.md"}
    assert "<script src=" not in (reports / "model_card.html").read_text()
    versions = registry_versions(workdir, "credit_risk")
    assert [(v["semver"], v["aliases"]) for v in versions] == [("1.0.0", "challenger")]
    # PII and sensitive attributes never became features: the registered lineage says which did.
    from model_registry.registry import ModelRegistry

    reg = ModelRegistry.local(workdir / ".mlops" / "registry")
    lineage = reg.lineage(reg.get("credit_risk", "challenger"))
    features = {ref.split(":")[1] for ref in lineage["feature_refs"]}
    assert len(features) == 11
    assert features.isdisjoint({"full_name", "email", "phone", "national_id", "note", "sex", "age_band"})
    assert lineage["entity_ids_artifact"] == "lineage/entity_ids.parquet"
    assert lineage["data_quality"]["row_pass_rate"] == 1.0
    shown = run(workdir, "runs", "show")
    assert shown.returncode == 0
    assert "quality.html" in shown.stdout
    models = run(workdir, "models", "show", "credit_risk", "challenger")
    assert models.returncode == 0, models.stderr
    assert "dataset_hash" in models.stdout
    assert "full_name" not in models.stdout
    assert "email" not in models.stdout


def test_batch_predict_with_the_registered_challenger(workdir: Path) -> None:
    """`mlops batch predict` scores a file with the model the pipeline just registered."""
    if not registry_versions(workdir, "credit_risk"):
        pytest.skip("needs the model registered by test_sample_runs_end_to_end_and_registers_a_challenger")
    fresh = generate_credit_risk(500, seed=99)
    src = workdir / "data" / "to_score.parquet"
    fresh.to_parquet(src, index=False)
    out = run(
        workdir, "batch", "predict", "--input", str(src), "--output", str(workdir / "scores"),
        "--model", "credit_risk", "--ref", "challenger", "--id-column", "applicant_id",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "scored 500 rows with credit_risk 1.0.0" in out.stdout
    scores = pd.read_parquet(next((workdir / "scores").glob("run=*")))
    assert len(scores) == 500
    assert scores["score"].between(0, 1).all()
    assert set(scores["applicant_id"]) == set(fresh["applicant_id"])


def test_loadtest_serves_the_model_without_failures(workdir: Path) -> None:
    """`make loadtest`'s runner: promotes the challenger, serves it, runs Locust headless, stops."""
    if not registry_versions(workdir, "credit_risk"):
        pytest.skip("needs the model registered by test_sample_runs_end_to_end_and_registers_a_challenger")
    # 15 s: under a loaded machine Locust can spend seconds starting, which a shorter run leaves no time after.
    out = subprocess.run(
        [sys.executable, str(ROOT / "performance" / "load_testing" / "run.py"),
         "--users", "4", "--spawn-rate", "4", "--duration", "15s", "--out", "lt",
         "--entity-range", "18500:19999"],  # the 20k sample's last ~30 days: in the online store
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    stats = pd.read_csv(workdir / "lt" / "loadtest_stats.csv").set_index("Name")
    assert stats.loc["Aggregated", "Request Count"] > 0
    assert stats.loc["Aggregated", "Failure Count"] == 0
    assert (workdir / "lt" / "loadtest.html").exists()
    assert registry_versions(workdir, "credit_risk")[0]["aliases"] == "challenger,champion"


def test_bad_rows_fail_the_gate_quarantine_and_register_nothing(workdir: Path) -> None:
    df = generate_credit_risk(3000, seed=12)
    rng = np.random.default_rng(0)
    bad = rng.choice(len(df), size=300, replace=False)
    nulls, out_of_range, unknown = bad[:100], bad[100:200], bad[200:]
    df.loc[nulls, "income"] = np.nan
    df.loc[out_of_range, "credit_score"] = 9999
    df.loc[unknown, "employment_type"] = "astronaut"
    cfg = sample_config(workdir, "corrupt", df)
    data = yaml.safe_load(cfg.read_text())
    data["name"] = "credit_risk_corrupt"
    write_yaml(cfg, data)
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 3, out.stdout + out.stderr
    rec = steps(latest_run(workdir))
    assert rec["validate_data"]["status"] == "blocked"
    message = rec["validate_data"]["message"]
    for expectation in ("not_be_null", "income", "credit_score", "employment_type"):
        assert expectation in message
    assert "register" not in rec
    quarantine = pd.read_parquet(rec["validate_data"]["reports"]["quarantine.parquet"])
    assert set(quarantine["applicant_id"]) == set(df.loc[bad, "applicant_id"])
    # Quarantined rows hold the anonymised form of PII: hashed, masked, dropped, redacted.
    assert not set(quarantine["full_name"]) & set(df["full_name"])
    assert not set(quarantine["email"]) & set(df["email"])
    assert "national_id" not in quarantine.columns
    assert registry_versions(workdir, "credit_risk_corrupt") == []
    assert "gate blocked at validate_data" in out.stdout


def loans_frame(rows: int, seed: int, extra_feature: bool = False) -> pd.DataFrame:
    """A differently shaped dataset: other names, CSV, no id, no timestamp, no suite."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 4000, rows).round(2)
    tenure = rng.integers(0, 40, rows)
    grade = rng.choice(["A", "B", "C", "D"], rows)
    gender = rng.choice(["f", "m", "x"], rows, p=[0.48, 0.48, 0.04])
    risk = 0.3 * (grade == "D") + 0.15 * (grade == "C") - 0.01 * tenure + amount / 80000
    frame = pd.DataFrame(
        {
            "Borrower Email": [f"user{i}@example.org" for i in range(rows)],
            "amount": amount,
            "tenure_years": tenure,
            "grade": grade,
            "gender": gender,
            "bad_loan": (rng.random(rows) < np.clip(risk + 0.1, 0, 1)).astype(int),
        }
    )
    if extra_feature:
        frame["branch"] = rng.choice(["n", "s"], rows)
    return frame


def test_differently_shaped_csv_without_ids_or_suite(workdir: Path) -> None:
    data = workdir / "data" / "loans.csv"
    data.parent.mkdir(exist_ok=True)
    loans_frame(3000, 1).to_csv(data, index=False)
    cfg = write_yaml(
        workdir / "loans.yaml",
        {
            "name": "loans",
            "path": "data/loans.csv",
            "target": "bad_loan",
            "pii": {"Borrower Email": {"action": "hash"}},
            "sensitive_attributes": ["gender"],
        },
    )
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode in (0, 3), out.stdout + out.stderr
    rec = steps(latest_run(workdir))
    assert rec["validate_data"]["status"] == "succeeded"
    assert rec["register"]["status"] == "succeeded"
    baseline = workdir / ".mlops" / "suites" / "loans.baseline.yaml"
    assert baseline.exists(), "the baseline profiled by a run that registered a version is accepted"
    assert not (workdir / ".mlops" / "suites" / "loans.baseline.pending.yaml").exists()
    assert "Borrower Email" not in baseline.read_text()
    assert registry_versions(workdir, "loans")[-1]["semver"] == "1.0.0"

    # Same dataset name, one more feature column: the feature schema changed → MAJOR.
    loans_frame(3000, 1, extra_feature=True).to_csv(data, index=False)
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode in (0, 3), out.stdout + out.stderr
    versions = registry_versions(workdir, "loans")
    assert [v["semver"] for v in versions] == ["1.0.0", "2.0.0"]
    assert versions[-1]["bump"] == "major"


def test_fairness_violation_blocks_the_challenger_alias(workdir: Path) -> None:
    """A third shape (parquet, int ids, own timestamp) whose target follows the sensitive attribute."""
    rng = np.random.default_rng(5)
    rows = 3000
    group = rng.choice(["g1", "g2"], rows)
    # 'district' is a near-perfect proxy for the group, and the label follows the group.
    district = np.where(rng.random(rows) < 0.95, np.where(group == "g1", "d1", "d2"), "d3")
    label = (rng.random(rows) < np.where(group == "g1", 0.8, 0.1)).astype(int)
    frame = pd.DataFrame(
        {
            "customer": np.arange(10_000, 10_000 + rows),
            "as_of": pd.date_range("2025-01-01", periods=rows, freq="h", tz="UTC"),
            "district": district,
            "visits": rng.poisson(3, rows),
            "segment": group,
            "hired": label,
        }
    )
    path = workdir / "data" / "hiring.parquet"
    path.parent.mkdir(exist_ok=True)
    frame.to_parquet(path, index=False)
    cfg = write_yaml(
        workdir / "hiring.yaml",
        {
            "name": "hiring",
            "path": str(path),
            "target": "hired",
            "entity_id": "customer",
            "event_timestamp": "as_of",
            "sensitive_attributes": ["segment"],
        },
    )
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 3, out.stdout + out.stderr
    rec = steps(latest_run(workdir))
    assert rec["govern"]["status"] == "blocked"
    assert "segment" in rec["govern"]["message"]
    assert rec["register"]["status"] == "succeeded"
    assert "promote" not in rec
    versions = registry_versions(workdir, "hiring")
    assert [(v["semver"], v["aliases"], v["gate.fairness"]) for v in versions] == [("1.0.0", "", "fail")]
