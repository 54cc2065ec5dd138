import importlib
import sys
import sysconfig
from pathlib import Path

import pytest

import mlops.secrets
from mlops.errors import SecretError
from mlops.secrets import AUTH_METHODS, BACKENDS, SecretBackend, VaultAuth, generate_value, resolve_secret


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


def test_public_api_is_declared_and_the_modules_behind_it_are_private() -> None:
    exported = mlops.secrets.__all__
    assert len(exported) == len(set(exported))
    assert all(hasattr(mlops.secrets, name) for name in exported)
    # What the CLI, the privacy room and the tests import.
    assert {
        "SecretResolver",
        "VaultReference",
        "audit_secrets",
        "collect_references",
        "default_resolver",
        "resolve_secret",
        "rotate_secret",
        "set_default_resolver",
    } <= set(exported)
    modules = {p.stem for p in Path(mlops.secrets.__file__).parent.glob("*.py")} - {"__init__"}
    assert modules == {"_audit", "_backends", "_resolver", "_rotation", "_vault", "_vault_auth"}


def test_plug_points_are_explicit_dicts_of_their_base() -> None:
    assert {scheme: cls.scheme for scheme, cls in BACKENDS.items()} == {"env": "env", "file": "file", "vault": "vault"}
    assert all(issubclass(cls, SecretBackend) for cls in BACKENDS.values())
    assert set(AUTH_METHODS) == {"token", "approle", "kubernetes"}
    assert all(issubclass(cls, VaultAuth) for cls in AUTH_METHODS.values())


def test_rotation_draws_from_the_standard_library_csprng() -> None:
    rotation = importlib.import_module("mlops.secrets._rotation")
    stdlib = rotation._stdlib_secrets
    assert stdlib is sys.modules["secrets"]
    assert Path(stdlib.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    value = generate_value(40, "hex")
    assert len(value) == 40
    assert set(value) <= set("0123456789abcdef")
