"""The ``validate_data`` step called in-process as its component calls it: the gate's verdict,
the clean and quarantined rows, the report, the run record (fixtures from :mod:`tests.steps`)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_quality.validation import FAILED_COLUMN
from mlops.contracts import DataContract, QualityResult
from tests.steps import DATASET, SAMPLE_ROWS, StepRun, recorded, validate

SUITE = Path(__file__).resolve().parents[2] / "data_quality" / "expectations" / "credit_risk.yaml"
OUT_OF_RANGE = "expect_column_values_to_be_between(column=credit_score)"


def test_the_sample_passes_the_gate_with_the_dataset_suite(sample_run: StepRun, validated: QualityResult) -> None:
    assert validated.passed
    assert (validated.suite, validated.suite_origin, validated.suite_path) == ("credit_risk", "file", str(SUITE))
    assert validated.row_pass_rate == 1.0
    assert validated.expectation_pass_rate == 1.0
    assert validated.failed_expectations == []
    assert validated.quarantined_rows == 0
    # A dataset's own suite is never a baseline waiting to be accepted.
    assert validated.baseline_pending is None
    assert validated.baseline is None

    clean = pd.read_parquet(sample_run.artifact("validate_data", "clean"))
    assert len(clean) == SAMPLE_ROWS
    assert pd.read_parquet(sample_run.artifact("validate_data", "quarantine")).empty

    rec = recorded(sample_run, "validate_data")
    assert rec["figures"]["rows"] == SAMPLE_ROWS
    assert rec["figures"]["row_pass_rate"] == 1.0
    assert rec["figures"]["suite"] == "file"
    assert rec["notes"][0] == f"expectation suite (file): {SUITE}"
    # The report and the quarantine are copied into the run folder, self-contained.
    report = Path(rec["reports"]["quality.html"])
    assert report == sample_run.run_dir / "reports" / "quality.html"
    html = report.read_text()
    assert "credit_risk" in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html)  # nothing fetched from elsewhere
    assert Path(rec["reports"]["quarantine.parquet"]).is_file()


def _corrupt(source: StepRun, run: StepRun, share: float) -> set[str]:
    """``source``'s ingested dataset, with ``share`` of its rows given an impossible credit
    score, as ``run``'s ingested dataset; returns the ids of those rows."""
    frame = pd.read_parquet(source.artifact(*DATASET))
    bad = np.random.default_rng(0).random(len(frame)) < share
    frame.loc[bad, "credit_score"] = 999
    frame.to_parquet(run.artifact(*DATASET), index=False)
    return set(frame.loc[bad, "applicant_id"])


def _validate(run: StepRun, data: DataContract) -> QualityResult:
    """The step on ``run``'s own ingested dataset."""
    return validate(run, data)


def test_failing_rows_are_quarantined_while_the_gate_still_passes(sample_run: StepRun, ingested: DataContract) -> None:
    run = sample_run.variant("dq-few-bad-rows")
    bad_ids = _corrupt(sample_run, run, share=0.02)
    quality = _validate(run, ingested)

    assert quality.passed
    assert quality.quarantined_rows == len(bad_ids) > 0
    assert quality.row_pass_rate == pytest.approx(1 - len(bad_ids) / SAMPLE_ROWS)
    assert quality.failed_expectations == [f"{OUT_OF_RANGE}: {len(bad_ids)} rows"]
    quarantine = pd.read_parquet(run.artifact("validate_data", "quarantine"))
    assert set(quarantine["applicant_id"]) == bad_ids
    assert quarantine[FAILED_COLUMN].str.contains("credit_score").all()
    clean = pd.read_parquet(run.artifact("validate_data", "clean"))
    assert len(clean) == SAMPLE_ROWS - len(bad_ids)
    assert not set(clean["applicant_id"]) & bad_ids
    recorded(run, "validate_data")


def test_a_dataset_failing_the_gate_is_blocked_not_crashed(sample_run: StepRun, ingested: DataContract) -> None:
    run = sample_run.variant("dq-blocked")
    bad_ids = _corrupt(sample_run, run, share=0.2)
    quality = _validate(run, ingested)

    assert not quality.passed
    assert quality.row_pass_rate < run.config.platform.quality.min_row_pass_rate
    assert quality.quarantined_rows == len(bad_ids)
    assert quality.failed_expectations == [f"{OUT_OF_RANGE}: {len(bad_ids)} rows"]

    rec = recorded(run, "validate_data", status="blocked")
    assert rec["message"].startswith(f"row pass rate {quality.row_pass_rate:.2%} vs gate 95%; failed: {OUT_OF_RANGE}")
    assert rec["message"].endswith(f"suite: {SUITE}")
    assert rec["figures"]["quarantined"] == len(bad_ids)
    # A blocked gate still writes its report, for the person who has to fix the data.
    assert (run.run_dir / "reports" / "quality.html").is_file()
