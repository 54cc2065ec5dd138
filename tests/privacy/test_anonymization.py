from pathlib import Path

import pandas as pd
import pytest

from mlops.config import PiiColumn, PiiDrop, PiiGeneralise, PiiHash, PiiMask, PiiRedact, load_dataset_config
from mlops.errors import DatasetError
from privacy.anonymization import anonymize


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Ana Silva", "Ben Park", "Ana Silva"],
            "phone": ["+1-555-123-4567", "+1-555-987-6543", None],
            "ssn": ["123-45-6789", "987-65-4321", "111-22-3333"],
            "income": [51234.0, 79999.0, 120000.0],
            "seen": pd.to_datetime(["2025-03-04", "2025-07-30", "2025-12-31"], utc=True),
            "zip": ["90210", "10001", "60614"],
            "note": ["mail me at ana@example.org", "call +1 555 123 4567 now", "pin 12345 ok"],
        }
    )


def test_every_action(frame: pd.DataFrame) -> None:
    policies: dict[str, PiiColumn] = {
        "name": PiiHash(action="hash"),
        "phone": PiiMask(action="mask", keep_last=4),
        "ssn": PiiDrop(action="drop"),
        "income": PiiGeneralise(action="generalise", bucket=25000),
        "seen": PiiGeneralise(action="generalise", period="month"),
        "zip": PiiGeneralise(action="generalise", prefix=3),
        "note": PiiRedact(action="redact"),
    }
    out, report = anonymize(frame, policies, hash_key="test-key-not-secret")
    assert "ssn" not in out.columns
    # Keyed hash: equal inputs stay equal (joinable), the raw value is gone.
    assert out["name"][0] == out["name"][2] != out["name"][1]
    assert "Ana" not in out["name"][0]
    assert out["phone"].tolist()[:2] == ["***********4567", "***********6543"]
    assert pd.isna(out["phone"][2])
    assert out["income"].tolist() == ["50000-75000", "75000-100000", "100000-125000"]
    assert out["seen"].tolist() == ["2025-03", "2025-07", "2025-12"]
    assert out["zip"].tolist() == ["902", "100", "606"]
    assert out["note"].tolist() == ["mail me at [EMAIL]", "call [PHONE] now", "pin [NUMBER] ok"]
    assert report.actions["ssn"] == "drop"
    assert frame["name"][0] == "Ana Silva"  # the input is not modified


def test_hash_depends_on_key(frame: pd.DataFrame) -> None:
    pol: dict[str, PiiColumn] = {"name": PiiHash(action="hash")}
    a, _ = anonymize(frame, pol, hash_key="key-one")
    b, _ = anonymize(frame, pol, hash_key="key-two")
    assert a["name"][0] != b["name"][0]


def test_missing_column_and_missing_key_are_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(DatasetError, match="not in the dataset: email"):
        anonymize(frame, {"email": PiiDrop(action="drop")}, hash_key=None)
    with pytest.raises(DatasetError, match="hash key is required"):
        anonymize(frame, {"name": PiiHash(action="hash")}, hash_key=None)


@pytest.mark.parametrize(
    ("column", "policy", "needs"),
    [
        ("income", PiiGeneralise(action="generalise", period="month"), "a number needs bucket"),
        ("seen", PiiGeneralise(action="generalise", prefix=2), "a timestamp needs period"),
        ("zip", PiiGeneralise(action="generalise", bucket=10), "text needs prefix"),
    ],
)
def test_generalise_needs_the_option_of_the_column_type(
    frame: pd.DataFrame, column: str, policy: PiiGeneralise, needs: str
) -> None:
    # Which option applies is known only from the data, so this is checked as the data is read.
    with pytest.raises(DatasetError, match=f"column '{column}': generalising {needs}"):
        anonymize(frame, {column: policy}, hash_key=None)


def test_policies_from_a_dataset_config_drive_the_anonymisation(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "ds.yaml"
    path.write_text(
        "name: people\npath: people.csv\ntarget: y\npii:\n"
        "  phone: {action: mask, keep_last: 2}\n  zip: {action: generalise, prefix: 1}\n  ssn: {action: drop}\n"
    )
    cfg = load_dataset_config(path)
    out, report = anonymize(frame, cfg.pii, hash_key=None)
    assert out["phone"][0] == "*************67"
    assert out["zip"].tolist() == ["9", "1", "6"]
    assert "ssn" not in out.columns
    assert report.actions == {"phone": "mask", "zip": "generalise", "ssn": "drop"}
