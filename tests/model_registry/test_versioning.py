import pytest

from mlops.errors import VersionError
from mlops.hashing import fingerprint
from model_registry.versioning import FIRST, SemVer, classify_change, next_version


def test_parse_and_bump() -> None:
    v = SemVer.parse("1.4.2")
    assert str(v.bump("major")) == "2.0.0"
    assert str(v.bump("minor")) == "1.5.0"
    assert str(v.bump("patch")) == "1.4.3"
    assert SemVer.parse("1.10.0") > SemVer.parse("1.9.9")


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0-rc1", ""])
def test_malformed_versions_raise(bad: str) -> None:
    with pytest.raises(VersionError):
        SemVer.parse(bad)


def test_change_classification() -> None:
    prev = {"schema_hash": "s1", "training_fingerprint": "t1"}
    assert classify_change(None, schema_hash="s1", training_fingerprint="t1") is None
    assert classify_change(prev, schema_hash="s2", training_fingerprint="t1") == "major"
    assert classify_change(prev, schema_hash="s1", training_fingerprint="t2") == "minor"
    assert classify_change(prev, schema_hash="s1", training_fingerprint="t1") == "patch"
    assert next_version(None, None) == FIRST
    assert str(next_version(SemVer(1, 2, 0), "major")) == "2.0.0"


def test_fingerprint_is_order_independent_for_keys() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
