"""Right to erasure end to end, as a privacy officer runs it: a trained project with every store
filled (pipeline copies, quarantine, Feast offline and online, registry lineage, prediction log
from a batch run, batch outputs, shadow log, a backup), then `mlops privacy erase`, then a
restore of the backup taken before the erasure — and a search of every file for the subject's
id, its keyed hash and their raw personal data: zero hits.

The search is independent of the erasure code: parquet files are decoded cell by cell, SQLite
files are dumped as SQL, everything else is searched byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from privacy.anonymization import keyed_digest
from serving.shadow.store import ComparisonStore, ShadowPair, comparison_store_path
from tests.e2e.project import ROOT, new_project, registry_versions, run, write_yaml
from training.sample_data import generate_credit_risk

pytestmark = pytest.mark.e2e
HASH_KEY = "e2e-test-key-0123456789abcdef"
PII = ("full_name", "email", "phone", "national_id")


def _needles(data: pd.DataFrame, row: pd.Series) -> dict[str, str]:
    """What must be gone: the id, raw personal data and their keyed hashes — those values only
    the subject has (a synthetic name can be someone else's too)."""
    own = [c for c in ("applicant_id", *PII) if (data[c] == row[c]).sum() == 1]
    assert {"applicant_id", "email", "national_id"} <= set(own)
    found = {column: str(row[column]) for column in own}
    found |= {f"hash({column})": keyed_digest(row[column], HASH_KEY.encode()) for column in own}
    return found


def _hits(root: Path, needles: dict[str, str]) -> list[str]:
    hits: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "restic" in path.parts:  # the encrypted repository: searched through a restore instead
            continue
        head = path.read_bytes()[:16]
        if head.startswith(b"PAR1"):
            table = pq.read_table(path)
            cells = {str(v) for column in table.columns for v in column.to_pylist() if v is not None}
            hits += [f"{path}: {name}" for name, value in needles.items() if value in cells]
            continue
        if head.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as conn:
                text = "\n".join(conn.iterdump())
            hits += [f"{path} (rows): {name}" for name, value in needles.items() if value in text]
        data = path.read_bytes()
        hits += [f"{path} (bytes): {name}" for name, value in needles.items() if value.encode() in data]
    return hits


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = new_project(tmp_path_factory.mktemp("erasure"))
    # Batch outputs are a store the platform config names for erasure.
    dev = work / "config" / "environments" / "dev.yaml"
    settings = yaml.safe_load(dev.read_text()) or {}
    settings.setdefault("privacy", {})["batch_outputs"] = [str(work / "scores")]
    write_yaml(dev, settings)
    return work


def test_erasure_leaves_no_trace_in_any_store_nor_in_a_restored_backup(project: Path) -> None:
    data = generate_credit_risk(12000, seed=5)
    # The newest application: its features are in the online store too.
    subject = data.loc[data["application_ts"].idxmax()]
    needles = _needles(data, subject)
    source = project / "data" / "applicants.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(source, index=False)
    base = yaml.safe_load((ROOT / "config/datasets/credit_risk.yaml").read_text())
    base.pop("synthetic")
    base.update(path=str(source), expectation_suite=str(ROOT / "data_quality/expectations/credit_risk.yaml"))
    write_yaml(project / "config" / "datasets" / "credit_risk.yaml", base)

    trained = run(project, "run", "training", "--dataset", "config/datasets/credit_risk.yaml")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert [v["semver"] for v in registry_versions(project, "credit_risk")] == ["1.0.0"]
    scored = run(
        project, "batch", "predict", "--input", str(source), "--output", str(project / "scores"),
        "--model", "credit_risk", "--ref", "challenger", "--id-column", "applicant_id",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stdout + scored.stderr
    shadow = ComparisonStore(comparison_store_path(project / ".mlops", "credit_risk"))
    shadow.append(
        [
            ShadowPair(f"r{i}", time.time(), entity, {}, "1.0.0", "1.0.0", 0.1, 0.2, 1.0, 1.0, None)
            for i, entity in enumerate([needles["applicant_id"], "APP-OTHER"])
        ]
    )
    consent = project / "consent.csv"
    consent.write_text(
        "subject_id,purpose,status,time\n"
        f"{needles['applicant_id']},monitoring,granted,2026-01-05T10:00:00Z\n"
        "APP-OTHER,training,granted,2026-01-05T10:00:00Z\n"
    )
    imported = run(project, "privacy", "consent", "import", str(consent))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    consent.unlink()  # the operator's file is theirs to delete; the store is what erasure reaches
    before = _hits(project, needles)
    assert any("feast" in h for h in before), before
    assert any("scores" in h for h in before), before
    backed = run(project, "backup", "create", "--env", "dev")
    assert backed.returncode == 0, backed.stdout + backed.stderr

    dry = run(project, "privacy", "erase", "--subject", needles["applicant_id"], "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert _hits(project, needles) == before  # a dry run changes nothing

    erased = run(project, "privacy", "erase", "--subject", needles["applicant_id"], "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    receipt = json.loads(erased.stdout)
    assert receipt["model_versions"] == ["credit_risk 1.0.0"]
    assert receipt["tombstones_added"] >= 1
    for store in ("dataset-copies", "feast-offline", "feast-online", "prediction-logs", "shadow-logs",
                  "registry-artifacts", "batch-outputs", "dataset-sources", "consent-records"):  # fmt: skip
        assert receipt["stores"][store]["rows"] >= 1, (store, receipt["stores"])
    assert _hits(project, needles) == []
    versions = registry_versions(project, "credit_risk")
    assert versions[0]["erasure_pending"] == receipt["erasure_id"]
    written = (project / ".mlops" / "privacy" / "receipts" / f"{receipt['erasure_id']}.json").read_text()
    audit = (project / ".mlops" / "privacy" / "audit.jsonl").read_text()
    assert not [n for n, v in needles.items() if v in written or v in audit]
    # Everyone else is still there.
    assert len(pd.read_parquet(source)) == len(data) - 1

    restored = run(project, "backup", "restore", "--backup", "latest", "--to", "dev", "--force")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "erasure tombstones applied" in restored.stdout
    assert _hits(project, needles) == []
    # The restore brought the others' data back.
    assert any(p.stat().st_size for p in (project / ".mlops" / "predictions").rglob("*.parquet"))


def test_unknown_subject_is_a_clean_zero(project: Path) -> None:
    out = run(project, "privacy", "erase", "--subject", "NO-SUCH-SUBJECT-42")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no rows of the subject found in any store" in out.stdout
    receipts = sorted((project / ".mlops" / "privacy" / "receipts").glob("*.json"))
    assert json.loads(receipts[-1].read_text())["rows"] == 0
