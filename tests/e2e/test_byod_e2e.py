"""Bring your own data, end to end: train, batch-score and serve datasets unlike the sample.

Two shapes (see ``tests/byod.py``): a credit file with string labels, no id or timestamp, a
numeric sensitive attribute and ~5 % gaps, sorted by its label; and a wide loans file with
declared free-text PII and columns empty in ~85 % of rows. Each is trained with
``mlops run training``, scored with ``mlops batch predict`` and served (the app as
``mlops serve`` builds it) with a row holding missing values. Every file the runs and the
batch job wrote is then searched for the raw values of the declared PII.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from platform_config import load_platform_config
from tests.byod import credit_file, raw_pii_values, wide_loans_file
from tests.e2e.project import latest_run, new_project, registry_versions, run, steps, write_yaml

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("byod"))


def serve(project: Path, model: str) -> Any:
    """The app `mlops serve --model <model>` builds, on this project's state (no shadow)."""
    from serving.server import build_app

    platform = load_platform_config(project / "config", "dev")
    platform = platform.model_copy(update={"state_dir": project / ".mlops"})
    return build_app(platform.serving_stores(), model, shadow=False)


def ok(out: Any) -> str:
    assert out.returncode in (0, 3), out.stdout[-4000:] + out.stderr[-4000:]
    return str(out.stdout)


# --------------------------------------------------------------------------- the credit file
@pytest.fixture(scope="module")
def credit(project: Path) -> Path:
    data = project / "data" / "credit.csv"
    data.parent.mkdir(exist_ok=True)
    credit_file(4500).to_csv(data, index=False)
    return write_yaml(
        project / "credit.yaml",
        {
            "name": "credit",
            "path": "data/credit.csv",
            "description": "Consumer credit applications exported from the loan system.",
            "intended_use": "Ranks applications for manual review; never an automatic decline.",
            "limitations": ["Applicants under 21 are barely represented."],
            "target": "Risk",
            "positive_label": "bad",
            "sensitive_attributes": ["Age"],
        },
    )


def test_config_validate_reads_the_file_before_any_run(project: Path, credit: Path) -> None:
    out = run(project, "config", "validate", "--dataset", str(credit))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "positive label 'bad'" in out.stdout
    assert "none (holdout: seeded stratified random split)" in out.stdout
    broken = write_yaml(project / "broken.yaml", {"name": "credit", "path": "data/credit.csv", "target": "Risk"})
    out = run(project, "config", "validate", "--dataset", str(broken))
    assert out.returncode == 1
    assert "positive_label" in out.stderr
    assert "'bad', 'good'" in out.stderr


def test_credit_file_trains_with_string_labels_and_a_random_holdout(project: Path, credit: Path) -> None:
    stdout = ok(run(project, "run", "training", "--dataset", str(credit)))
    rec = steps(latest_run(project))
    assert rec["register"]["status"] == "succeeded", rec
    assert "order_ref" in stdout  # named in the summary as left out of the features
    assert any("not a feature: order_ref" in n for n in rec["ingest"]["notes"])
    assert rec["train"]["figures"]["holdout"] == "stratified_random"
    assert "Age" in rec["govern"]["figures"]["fairness"]
    card = (latest_run(project) / "reports" / "model_card.md").read_text()
    assert "credit 1.0.0" in card  # rendered after registration: the version is on it
    assert "Ranks applications for manual review" in card
    assert "Applicants under 21" in card
    assert "seeded stratified random 20%" in card
    assert "order\\_ref" in card or "order_ref" in card
    assert "MLflow run" in card  # lineage
    versions = registry_versions(project, "credit")
    assert [v["semver"] for v in versions] == ["1.0.0"]
    assert versions[0]["feature_view"].startswith("credit_features_")


def test_identical_data_registers_a_patch(project: Path, credit: Path) -> None:
    ok(run(project, "run", "training", "--dataset", str(credit)))
    versions = registry_versions(project, "credit")
    assert [(v["semver"], v["bump"]) for v in versions] == [("1.0.0", "initial"), ("1.0.1", "patch")]
    assert versions[0]["training_fingerprint"] == versions[1]["training_fingerprint"]


def test_the_champion_keeps_reading_its_features_after_a_retrain_without_one(project: Path, credit: Path) -> None:
    ok(run(project, "models", "promote", "credit", "1.0.0", "--to", "champion", "--force"))
    cfg = write_yaml(project / "credit_fewer.yaml", {**_yaml(credit), "exclude": ["purpose"]})
    ok(run(project, "run", "training", "--dataset", str(cfg)))
    versions = registry_versions(project, "credit")
    assert versions[-1]["semver"] == "2.0.0"
    assert versions[-1]["feature_view"] != versions[0]["feature_view"]
    app = serve(project, "credit")
    try:
        client = TestClient(app.app)
        # An id alone: every feature (purpose included) comes from the view 1.0.0 was trained on.
        by_id = client.post("/predict", json={"entity_id": "row-7"})
        assert by_id.status_code == 200, by_id.text
        assert by_id.json()["model_version"] == "1.0.0"
        row = _features(project, "row-7")
        with_gaps = {**row, "yearly_income": None, "savings": None, "Age": 46}
        scored = client.post("/predict", json=with_gaps)
        assert scored.status_code == 200, scored.text
    finally:
        app.close()


def test_credit_batch_scores_rows_with_gaps_and_keeps_numbers_numeric(project: Path) -> None:
    fresh = credit_file(300, seed=9).drop(columns=["Risk"])
    fresh.loc[:20, "yearly_income"] = None
    src = project / "data" / "to_score.csv"
    fresh.to_csv(src, index=False)
    out = run(project, "batch", "predict", "--input", str(src), "--output", str(project / "scores"),
              "--model", "credit", "--ref", "champion", "--id-column", "order_ref")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    scores = pd.read_parquet(next((project / "scores").glob("run=*")))
    assert len(scores) == 300
    assert scores["score"].between(0, 1).all()
    assert pd.api.types.is_integer_dtype(scores["Age"])  # passed through as a number, not text


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text()))


def _features(project: Path, row_id: str) -> dict[str, Any]:
    """A credit row as a client would send it (features only, JSON types)."""
    frame = credit_file(4500)
    row = frame.iloc[int(row_id.split("-")[1])]
    out: dict[str, Any] = {}
    for column in ("checking_status", "duration_months", "credit_history", "purpose", "credit_amount",
                   "savings", "installment_rate", "yearly_income", "housing"):  # fmt: skip
        value = row[column]
        out[column] = None if pd.isna(value) else (value.item() if hasattr(value, "item") else value)
    for column in ("duration_months", "installment_rate", "credit_amount", "yearly_income"):
        out[column] = None if out[column] is None else float(out[column])
    return out


# --------------------------------------------------------------------------- the wide loans file
@pytest.fixture(scope="module")
def loans(project: Path) -> tuple[Path, pd.DataFrame]:
    frame = wide_loans_file(10_000)
    data = project / "data" / "loans.parquet"
    data.parent.mkdir(exist_ok=True)
    frame.to_parquet(data, index=False)
    cfg = write_yaml(
        project / "loans.yaml",
        {
            "name": "loans",
            "path": "data/loans.parquet",
            "target": "loan_status",
            "positive_label": "Charged Off",
            "entity_id": "loan_id",
            "event_timestamp": "issue_d",
            "pii": {
                "borrower_name": {"action": "hash"},
                "borrower_email": {"action": "mask", "keep_last": 4},
                "emp_title": {"action": "hash"},
            },
            "sensitive_attributes": ["applicant_age"],
        },
    )
    return cfg, frame


def test_wide_file_with_mostly_null_columns_trains_batches_and_serves(
    project: Path, loans: tuple[Path, pd.DataFrame]
) -> None:
    cfg, frame = loans
    ok(run(project, "run", "training", "--dataset", str(cfg)))
    rec = steps(latest_run(project))
    assert rec["register"]["status"] == "succeeded", rec
    assert rec["train"]["figures"]["holdout"] == "time"
    from model_registry.registry import ModelRegistry

    info = ModelRegistry.local(project / ".mlops" / "registry").get("loans", "1.0.0")
    schema = info.schema
    assert schema is not None
    assert {"mths_since_last_delinq", "hardship_reason", "sec_app_revol_util"} <= set(schema.nullable)
    assert "zip3" not in schema.features  # ~900 values: left out by default
    assert set(schema.pii) == {"borrower_name", "borrower_email", "emp_title"}
    assert schema.sensitive["applicant_age"].type == "number"
    assert schema.sensitive["applicant_age"].bins
    ok(run(project, "models", "promote", "loans", "1.0.0", "--to", "champion", "--force"))

    # Batch: the input carries the raw PII columns; the score files must not.
    batch_in = project / "data" / "loans_to_score.parquet"
    frame.drop(columns=["loan_status"]).head(2000).to_parquet(batch_in, index=False)
    out = run(project, "batch", "predict", "--input", str(batch_in), "--output", str(project / "loan_scores"),
              "--model", "loans", "--id-column", "loan_id")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    scores = pd.read_parquet(next((project / "loan_scores").glob("run=*")))
    assert len(scores) == 2000
    assert not {"borrower_name", "borrower_email", "emp_title"} & set(scores.columns)

    # Online: a row with its mostly-null columns empty, the sensitive attribute as a number.
    row = frame.iloc[0]
    body = {c: _json(row[c]) for c in schema.features}
    body.update(mths_since_last_delinq=None, hardship_reason=None, sec_app_revol_util=None, applicant_age=37)
    app = serve(project, "loans")
    try:
        response = TestClient(app.app).post("/predict", json=body)
        assert response.status_code == 200, response.text
        refused = TestClient(app.app).post("/predict", json={**body, "emp_title": row["emp_title"]})
        assert refused.status_code == 422
        assert row["emp_title"] not in refused.text
    finally:
        app.close()


def _json(value: Any) -> Any:
    if pd.isna(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def test_no_raw_pii_in_any_file_the_runs_and_batch_jobs_wrote(project: Path, loans: tuple[Path, pd.DataFrame]) -> None:
    if not registry_versions(project, "loans"):
        pytest.skip("needs the loans runs above")
    _, frame = loans
    values = raw_pii_values(frame, ["borrower_name", "borrower_email", "emp_title"], sample=300)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)).encode())
    written = [project / ".mlops", project / "loan_scores", project / "scores"]
    scanned, found = 0, []
    for path, blob in _contents(written):
        scanned += 1
        hit = pattern.search(blob)
        if hit:
            found.append(f"{path}: {hit.group().decode(errors='replace')}")
    assert scanned > 50, scanned  # runs, pipeline artifacts, registry, feature store, batch output
    assert not found, found[:10]
    # The search does find them where they are: the user's own input files.
    assert all(pattern.search(blob) for _, blob in _contents([project / "data" / "loans_to_score.parquet"]))


def _contents(roots: list[Path]) -> Iterator[tuple[Path, bytes]]:
    """Every file's searchable bytes: parquet cells as text, zip members unpacked, else raw bytes."""
    import pyarrow.parquet as pq

    for root in roots:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            head = path.read_bytes()[:4]
            if head == b"PAR1":
                table = pq.read_table(path)
                text = "\n".join(str(v) for column in table.columns for v in column.to_pylist())
                yield path, text.encode() + path.read_bytes()
            elif head[:2] == b"PK":
                with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
                    yield path, b"\n".join(archive.read(name) for name in archive.namelist())
            else:
                yield path, path.read_bytes()
