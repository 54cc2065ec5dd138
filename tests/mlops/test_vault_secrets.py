"""vault:// references against a real OpenBao server: KV v2, AppRole, denial, cache, failures."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.config import AppRoleAuthConfig, KubernetesAuthConfig, TokenAuthConfig, VaultConfig
from mlops.errors import SecretError
from mlops.secrets import (
    SecretResolver,
    VaultReference,
    default_resolver,
    resolve_secret,
    set_default_resolver,
)
from tests.servers import OpenBao, free_port

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "secrets" / "vault" / "policies"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def token_env(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLOPS_TEST_VAULT_TOKEN", openbao.root_token)
    return "env://MLOPS_TEST_VAULT_TOKEN"


def resolver_for(openbao: OpenBao, token_ref: str, **kwargs: Any) -> SecretResolver:
    clock = kwargs.pop("clock", time.monotonic)
    cfg = VaultConfig(address=openbao.address, auth=TokenAuthConfig(token=token_ref), **kwargs)
    # environ={}: the developer's own VAULT_ADDR / VAULT_TOKEN must not leak into the test.
    return SecretResolver(cfg, environ={}, clock=clock)


def test_kv2_latest_and_pinned_versions(openbao: OpenBao, vault_root: Any, token_env: str) -> None:
    path = f"mlops/test/{unique('kv')}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"app_value": "first-value"})
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"app_value": "second-value"})
    resolver = resolver_for(openbao, token_env, cache_ttl_s=0)
    assert resolver.resolve(f"vault://secret/{path}#app_value") == "second-value"
    assert resolver.resolve(f"vault://secret/{path}?version=1#app_value") == "first-value"
    assert resolver.resolve(f"vault://secret/{path}#app_value?version=2") == "second-value"
    with pytest.raises(SecretError, match=r"no such secret in Vault \(read secret/data/.* version 9\)"):
        resolver.resolve(f"vault://secret/{path}?version=9#app_value")


def test_missing_path_and_missing_key_name_the_reference(openbao: OpenBao, vault_root: Any, token_env: str) -> None:
    path = f"mlops/test/{unique('missing')}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"present": "x"})
    resolver = resolver_for(openbao, token_env)
    ref = f"vault://secret/{path}-nope#present"
    with pytest.raises(SecretError) as exc:
        resolver.resolve(ref)
    assert exc.value.reference == ref
    assert str(exc.value).startswith(f"secret {ref}: no such secret in Vault")
    with pytest.raises(SecretError, match=r"key 'absent' is not in secret/mlops/test/.* \(keys: present\)"):
        resolver.resolve(f"vault://secret/{path}#absent")


def _apply_policies(vault_root: Any) -> None:
    for hcl in POLICIES.glob("*.hcl"):
        vault_root.sys.create_or_update_policy(name=hcl.stem, policy=hcl.read_text())


@pytest.fixture
def approle(vault_root: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppRoleAuthConfig]:
    """An AppRole bound to the training-pipeline policy, credentials in environment variables."""
    _apply_policies(vault_root)
    mount = unique("approle")
    vault_root.sys.enable_auth_method(method_type="approle", path=mount)
    vault_root.auth.approle.create_or_update_approle(
        role_name="training", token_policies=["training-pipeline"], token_ttl="5m", mount_point=mount
    )
    role_id = vault_root.auth.approle.read_role_id(role_name="training", mount_point=mount)["data"]["role_id"]
    secret_id = vault_root.auth.approle.generate_secret_id(role_name="training", mount_point=mount)["data"]["secret_id"]
    monkeypatch.setenv("MLOPS_TEST_ROLE_ID", role_id)
    monkeypatch.setenv("MLOPS_TEST_SECRET_ID", secret_id)
    yield AppRoleAuthConfig(
        role_id="env://MLOPS_TEST_ROLE_ID", secret_id="env://MLOPS_TEST_SECRET_ID", mount_point=mount
    )
    vault_root.sys.disable_auth_method(path=mount)


def test_approle_login_reads_its_path_and_is_denied_elsewhere(
    openbao: OpenBao, vault_root: Any, approle: AppRoleAuthConfig
) -> None:
    env = unique("env")
    vault_root.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/privacy", secret={"pii_hash_key": "k1"})
    vault_root.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/serving", secret={"app_value": "s1"})
    resolver = SecretResolver(VaultConfig(address=openbao.address, auth=approle), environ={})
    assert resolver.resolve(f"vault://secret/mlops/{env}/privacy#pii_hash_key") == "k1"
    denied = f"vault://secret/mlops/{env}/serving#app_value"
    with pytest.raises(SecretError, match=r"permission denied by Vault \(read secret/data/mlops/.*/serving\)") as exc:
        resolver.resolve(denied)
    assert exc.value.reference == denied


def test_bad_approle_secret_id_is_a_login_error(
    openbao: OpenBao, approle: AppRoleAuthConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TEST_SECRET_ID", str(uuid.uuid4()))
    resolver = SecretResolver(VaultConfig(address=openbao.address, auth=approle), environ={})
    with pytest.raises(SecretError, match=r"Vault login \(approle auth\) failed"):
        resolver.resolve("vault://secret/mlops/dev/privacy#pii_hash_key")


def test_cache_serves_within_ttl_and_refreshes_after(openbao: OpenBao, vault_root: Any, token_env: str) -> None:
    path = f"mlops/test/{unique('cache')}"
    ref = f"vault://secret/{path}#k"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "old"})
    now = [1000.0]
    resolver = resolver_for(openbao, token_env, cache_ttl_s=30, clock=lambda: now[0])
    assert resolver.resolve(ref) == "old"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "new"})
    now[0] += 29
    assert resolver.resolve(ref) == "old"  # served from the cache: Vault was not asked
    now[0] += 2
    assert resolver.resolve(ref) == "new"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "newer"})
    resolver.invalidate(ref)
    assert resolver.resolve(ref) == "newer"


def test_token_is_read_from_a_file_and_a_missing_token_is_named(
    openbao: OpenBao, vault_root: Any, tmp_path: Path
) -> None:
    path = f"mlops/test/{unique('file')}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"})
    sink = tmp_path / "token"
    sink.write_text(openbao.root_token + "\n")
    assert resolver_for(openbao, f"file://{sink}").resolve(f"vault://secret/{path}#k") == "v"
    with pytest.raises(
        SecretError, match=r"Vault login \(token auth\) failed: secret file://.*/gone: file .* does not"
    ):
        resolver_for(openbao, f"file://{tmp_path / 'gone'}").resolve(f"vault://secret/{path}#k")


def test_a_revoked_token_is_replaced_by_logging_in_again(openbao: OpenBao, vault_root: Any, tmp_path: Path) -> None:
    path = f"mlops/test/{unique('relogin')}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"})
    first, second = (vault_root.auth.token.create(ttl="5m")["auth"]["client_token"] for _ in range(2))
    sink = tmp_path / "token"
    sink.write_text(first + "\n")
    resolver = resolver_for(openbao, f"file://{sink}", cache_ttl_s=0)
    assert resolver.resolve(f"vault://secret/{path}#k") == "v"
    # The agent renewed the sink and the old token is gone: one refusal, a login, the read.
    vault_root.auth.token.revoke(first)
    sink.write_text(second + "\n")
    assert resolver.resolve(f"vault://secret/{path}#k") == "v"
    assert resolver.vault.client("test").token == second


def test_invalid_token_is_refused(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_BAD_TOKEN", "not-a-real-token")
    with pytest.raises(SecretError, match="Vault does not accept the token"):
        resolver_for(openbao, "env://MLOPS_TEST_BAD_TOKEN").resolve("vault://secret/mlops/dev/privacy#k")


def test_kubernetes_auth_without_a_service_account_token(openbao: OpenBao, tmp_path: Path) -> None:
    auth = KubernetesAuthConfig(role="training-pipeline", token_path=tmp_path / "sa-token")
    resolver = SecretResolver(VaultConfig(address=openbao.address, auth=auth), environ={})
    with pytest.raises(SecretError, match=r"Vault login \(kubernetes auth\) failed: .*sa-token does not exist"):
        resolver.resolve("vault://secret/mlops/dev/privacy#pii_hash_key")


UNUSED_TOKEN = TokenAuthConfig(token="env://MLOPS_TEST_UNUSED_TOKEN")


def test_vault_down_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_UNUSED_TOKEN", "unused")
    port = free_port()  # nothing listens there
    cfg = VaultConfig(address=f"http://127.0.0.1:{port}", auth=UNUSED_TOKEN, connect_timeout_s=2, read_timeout_s=2)
    resolver = SecretResolver(cfg, environ={})
    ref = "vault://secret/mlops/prod/privacy#pii_hash_key"
    started = time.monotonic()
    with pytest.raises(SecretError, match=rf"secret {ref}: Vault at http://127.0.0.1:{port} is unreachable"):
        resolver.resolve(ref)
    assert time.monotonic() - started < 3


def test_vault_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_UNUSED_TOKEN", "unused")
    # Accepts connections (the kernel completes the handshake) but never replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        cfg = VaultConfig(
            address=f"http://127.0.0.1:{port}", auth=UNUSED_TOKEN, connect_timeout_s=1, read_timeout_s=0.5
        )
        resolver = SecretResolver(cfg, environ={})
        started = time.monotonic()
        with pytest.raises(SecretError, match="did not answer in time"):
            resolver.resolve("vault://secret/mlops/prod/privacy#pii_hash_key")
        assert time.monotonic() - started < 2


def test_no_address_is_an_error_not_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretError, match="no Vault address"):
        SecretResolver(VaultConfig(), environ={}).resolve("vault://secret/mlops/dev/privacy#pii_hash_key")


def test_resolve_secret_uses_the_environment_by_default(
    openbao: OpenBao, vault_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"mlops/test/{unique('default')}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "from-default"})
    monkeypatch.setenv("VAULT_ADDR", openbao.address)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    set_default_resolver(None)
    try:
        assert resolve_secret(f"vault://secret/{path}#k") == "from-default"
        assert default_resolver().vault_config.address == openbao.address
    finally:
        set_default_resolver(None)


def test_environment_wins_over_the_config_file() -> None:
    cfg = VaultConfig(
        address="https://vault.example:8200",
        auth=AppRoleAuthConfig(role_id="env://R", secret_id="file:///run/secret-id"),
    )
    assert SecretResolver(cfg, environ={}).vault_config == cfg
    overridden = SecretResolver(cfg, environ={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "t"}).vault_config
    assert overridden.address == "http://127.0.0.1:1"
    assert overridden.auth == TokenAuthConfig(token="env://VAULT_TOKEN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "vault://secret/mlops/prod/privacy#pii_hash_key",
            VaultReference("secret", "mlops/prod/privacy", "pii_hash_key"),
        ),
        ("vault://kv/a?version=3#k", VaultReference("kv", "a", "k", 3)),
        ("vault://kv/a/b#k?version=2", VaultReference("kv", "a/b", "k", 2)),
    ],
)
def test_reference_parsing(text: str, expected: VaultReference) -> None:
    assert VaultReference.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("vault://secret#k", "of the form"),
        ("vault://secret//x#k", "of the form"),
        ("vault://secret/x", "names no key"),
        ("vault://secret/x?version=0#k", "start at 1"),
        ("vault://secret/x?v=1#k", "only query parameter"),
    ],
)
def test_bad_vault_references(text: str, reason: str) -> None:
    with pytest.raises(SecretError, match=reason):
        SecretResolver(VaultConfig(address="http://127.0.0.1:1"), environ={}).resolve(text)


def test_vault_credentials_must_be_references() -> None:
    with pytest.raises(ValueError, match="env://NAME or file://PATH"):
        TokenAuthConfig(token="s.literaltoken")
    with pytest.raises(ValueError, match="never vault://"):
        AppRoleAuthConfig(role_id="vault://secret/x#y", secret_id="env://S")
