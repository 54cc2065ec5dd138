import pandas as pd
import pytest

from mlops.config import PiiColumn
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
    policies = {
        "name": PiiColumn(action="hash"),
        "phone": PiiColumn(action="mask", keep_last=4),
        "ssn": PiiColumn(action="drop"),
        "income": PiiColumn(action="generalise", bucket=25000),
        "seen": PiiColumn(action="generalise", period="month"),
        "zip": PiiColumn(action="generalise", prefix=3),
        "note": PiiColumn(action="redact"),
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
    pol = {"name": PiiColumn(action="hash")}
    a, _ = anonymize(frame, pol, hash_key="key-one")
    b, _ = anonymize(frame, pol, hash_key="key-two")
    assert a["name"][0] != b["name"][0]


def test_missing_column_and_missing_key_are_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(DatasetError, match="not in the dataset: email"):
        anonymize(frame, {"email": PiiColumn(action="drop")}, hash_key=None)
    with pytest.raises(DatasetError, match="hash key is required"):
        anonymize(frame, {"name": PiiColumn(action="hash")}, hash_key=None)
    with pytest.raises(DatasetError, match="needs bucket"):
        anonymize(frame, {"income": PiiColumn(action="generalise")}, hash_key=None)
