"""``anonymize_frame`` as the pipeline runs it: inside the ingest step, the hash key from the
platform's secret resolver (``file://`` as `make run` sets it up, ``env://``), before anything is
written (fixtures from :mod:`tests.steps`)."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from mlops.contracts import DataContract
from mlops.errors import SecretError
from privacy.anonymization.step import anonymize_frame
from privacy.config import PrivacyConfig
from tests.steps import DATASET, HASH_KEY, StepRun, ingest, recorded

KEY_VARIABLE = "MLOPS_STEP_TESTS_PII_KEY"


def keyed_hash(value: str, key: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture(scope="module")
def raw(sample_run: StepRun) -> pd.DataFrame:
    return pd.read_parquet(sample_run.raw)


@pytest.fixture(scope="module")
def written(sample_run: StepRun, ingested: DataContract) -> pd.DataFrame:
    return pd.read_parquet(sample_run.artifact("ingest", "dataset"))


def test_ingest_writes_pii_only_in_its_anonymised_form(
    sample_run: StepRun, raw: pd.DataFrame, written: pd.DataFrame
) -> None:
    assert sample_run.config.platform.privacy.hash_key == f"file://{sample_run.hash_key_file}"
    # hash: keyed with the key the resolver read from the file, so equal values stay joinable.
    for column in ("full_name", "email"):
        assert list(written[column]) == [keyed_hash(v, HASH_KEY) for v in raw[column]], column
    # mask: only the last four characters stay.
    assert list(written["phone"]) == ["*" * (len(v) - 4) + v[-4:] for v in raw["phone"]]
    # drop: the column is gone.
    assert "national_id" not in written.columns
    # redact: e-mails and phone numbers inside free text become placeholders.
    assert not written["note"].str.contains("@", regex=False).any()
    assert written["note"].str.contains("[EMAIL]", regex=False).any()
    assert written["note"].str.contains("[PHONE]", regex=False).any()
    # Everything else is untouched.
    for column in ("applicant_id", "income", "sex", "defaulted"):
        assert (written[column] == raw[column]).all(), column


def test_no_raw_pii_value_reaches_the_artifact_or_the_run_record(sample_run: StepRun, raw: pd.DataFrame) -> None:
    data = sample_run.artifact("ingest", "dataset").read_bytes()
    record = (sample_run.run_dir / "steps" / "ingest.json").read_text()
    for column in ("full_name", "email", "phone", "national_id"):
        for value in raw[column].drop_duplicates().head(25):
            assert value.encode() not in data, column
            assert value not in record, column
    rec = recorded(sample_run, "ingest")
    assert rec["figures"]["pii"] == "full_name=hash, email=hash, phone=mask, national_id=drop, note=redact"


def test_an_env_reference_to_the_same_key_gives_the_same_hashes(
    sample_run: StepRun, raw: pd.DataFrame, written: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_env = PrivacyConfig(hash_key=f"env://{KEY_VARIABLE}")
    vault = sample_run.platform.vault
    monkeypatch.setenv(KEY_VARIABLE, HASH_KEY)
    out, actions = anonymize_frame(raw, sample_run.config.dataset, privacy=by_env, vault=vault)
    assert actions == {"full_name": "hash", "email": "hash", "phone": "mask", "national_id": "drop", "note": "redact"}
    assert list(out["email"]) == list(written["email"])
    # Another key: other hashes (the key, not the reference's scheme, decides).
    monkeypatch.setenv(KEY_VARIABLE, HASH_KEY + "-rotated")
    rotated, _ = anonymize_frame(raw.head(50), sample_run.config.dataset, privacy=by_env, vault=vault)
    assert not set(rotated["email"]) & set(written["email"])


def test_without_the_key_ingest_fails_before_writing_anything(
    sample_run: StepRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    run = sample_run.variant("no-pii-key", privacy=PrivacyConfig(hash_key=f"env://{KEY_VARIABLE}"))
    with pytest.raises(SecretError, match=f"secret env://{KEY_VARIABLE}: environment variable {KEY_VARIABLE}"):
        ingest(run)
    assert not run.artifact(*DATASET).exists()
    rec = recorded(run, "ingest", status="failed")
    assert rec["message"].startswith("SecretError: secret env://")
    assert run.received("ingest") == {}
