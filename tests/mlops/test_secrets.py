from pathlib import Path

import pytest

from mlops.errors import SecretError
from mlops.secrets import resolve_secret


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_SECRET", "s3cr3t-value")
    assert resolve_secret("env://MLOPS_TEST_SECRET") == "s3cr3t-value"


def test_missing_env_names_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_NOT_SET", raising=False)
    with pytest.raises(SecretError, match=r"secret env://MLOPS_NOT_SET: environment variable MLOPS_NOT_SET"):
        resolve_secret("env://MLOPS_NOT_SET")


def test_file_reference(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text("abc123\n")
    assert resolve_secret(f"file://{f}") == "abc123"
    with pytest.raises(SecretError, match="does not exist"):
        resolve_secret(f"file://{tmp_path / 'nope'}")
    (tmp_path / "empty").write_text("")
    with pytest.raises(SecretError, match="is empty"):
        resolve_secret(f"file://{tmp_path / 'empty'}")


@pytest.mark.parametrize("ref", ["plain-value", "s3://bucket/key", "env://"])
def test_bad_references(ref: str) -> None:
    with pytest.raises(SecretError):
        resolve_secret(ref)
