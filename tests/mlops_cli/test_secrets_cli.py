"""`mlops secrets audit` and `mlops secrets rotate` as a user runs them, against real OpenBao."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.config import SecretsPolicyConfig, TokenAuthConfig, VaultConfig
from mlops.errors import SecretError
from mlops.secrets import SecretResolver, audit_secrets, collect_references, rotate_secret
from platform_config import load_platform_config
from tests.servers import OpenBao, free_port

ROOT = Path(__file__).resolve().parents[2]


def mlops(*args: str, cwd: Path, vault: OpenBao | None, address: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["VAULT_ADDR"] = address or (vault.address if vault else "")
    env["VAULT_TOKEN"] = vault.root_token if vault else "unused"
    env["COLUMNS"] = "250"  # keep table rows on one line each
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def set_policy(workdir: Path, **default: Any) -> None:
    path = workdir / "config" / "secrets_policy.yaml"
    data = yaml.safe_load(path.read_text())
    data["default"].update(default)
    for rule in data["rules"]:
        rule.update({k: v for k, v in default.items() if k == "max_age_days"})
    path.write_text(yaml.safe_dump(data))


def seed(vault_root: Any, env: str, skip: tuple[str, ...] = ()) -> None:
    values = {
        "privacy": {"pii_hash_key": "p"},
        "registry": {"db_password": "r"},
        "feature-store": {"redis_password": "f"},
        "backup": {"encryption_key": "b"},
        "consent": {"db_password": "c"},
    }
    for area, secret in values.items():
        if area not in skip:
            vault_root.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/{area}", secret=secret)


def test_audit_passes_then_names_offenders(openbao: OpenBao, vault_root: Any, workdir: Path) -> None:
    seed(vault_root, "prod")
    ok = mlops("secrets", "audit", "--env", "prod", cwd=workdir, vault=openbao)
    assert ok.returncode == 0, ok.stderr
    for ref in ("vault://secret/mlops/prod/privacy#pii_hash_key", "vault://secret/mlops/prod/backup#encryption_key"):
        assert ref in ok.stdout
    set_policy(workdir, max_age_days=0)
    old = mlops("secrets", "audit", "--env", "prod", cwd=workdir, vault=openbao)
    assert old.returncode == 3
    lines = [ln for ln in old.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "5 secret(s) break the rotation policy" in lines[0]
    assert "vault://secret/mlops/prod/privacy#pii_hash_key (overdue" in lines[0]
    assert "p" not in {w.strip("();,") for w in old.stdout.split()}  # no values printed


def test_audit_reports_a_missing_secret(openbao: OpenBao, vault_root: Any, workdir: Path) -> None:
    seed(vault_root, "staging", skip=("backup",))
    out = mlops("secrets", "audit", "--env", "staging", cwd=workdir, vault=openbao)
    assert out.returncode == 3
    assert "1 secret(s)" in out.stderr
    assert "vault://secret/mlops/staging/backup#encryption_key (missing: no such secret" in out.stderr


def test_audit_with_vault_down_is_one_line_and_fast(workdir: Path) -> None:
    started = time.monotonic()
    out = mlops("secrets", "audit", "--env", "prod", cwd=workdir, vault=None, address=f"http://127.0.0.1:{free_port()}")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "is unreachable" in out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - started < 10  # interpreter start included


def test_rotate_writes_a_new_version_and_never_prints_it(openbao: OpenBao, vault_root: Any, workdir: Path) -> None:
    path = "mlops/rotate-cli/privacy"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"pii_hash_key": "before", "other": "kept"})
    out = mlops("secrets", "rotate", f"vault://secret/{path}#pii_hash_key", cwd=workdir, vault=openbao)
    assert out.returncode == 0, out.stderr
    assert f"rotated secret/{path} (keys: pii_hash_key) → version 2" in out.stdout
    data = vault_root.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"]
    assert data["other"] == "kept"
    new = data["pii_hash_key"]
    # secret/mlops/*/privacy: 64 hex characters by the shipped policy.
    assert len(new) == 64
    assert set(new) <= set("0123456789abcdef")
    assert new not in out.stdout + out.stderr


def test_rotate_refuses_to_create_without_flag(openbao: OpenBao, workdir: Path) -> None:
    out = mlops("secrets", "rotate", "secret/mlops/rotate-cli/typo#k", cwd=workdir, vault=openbao)
    assert out.returncode == 1
    assert "no such secret" in out.stderr
    assert "--create" in out.stderr
    made = mlops("secrets", "rotate", "secret/mlops/rotate-cli/new#k", "--create", cwd=workdir, vault=openbao)
    assert made.returncode == 0, made.stderr
    assert "→ version 1" in made.stdout


# ---------------------------------------------------------------- the library functions in-process
def root_session(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLOPS_TEST_ROOT_TOKEN", openbao.root_token)
    cfg = VaultConfig(address=openbao.address, auth=TokenAuthConfig(token="env://MLOPS_TEST_ROOT_TOKEN"))
    return SecretResolver(cfg, environ={}).vault


POLICY = SecretsPolicyConfig.model_validate(
    {
        "default": {"max_age_days": 30},
        "rules": [{"path": "secret/lib/*/short", "max_age_days": 1, "length": 20, "alphabet": "urlsafe"}],
    }
)


def test_audit_ages_with_an_injected_clock(openbao: OpenBao, vault_root: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    vault_root.secrets.kv.v2.create_or_update_secret(path="lib/a/short", secret={"k": "v"})
    vault_root.secrets.kv.v2.create_or_update_secret(path="lib/a/long", secret={"k": "v"})
    refs = ["vault://secret/lib/a/short#k", "vault://secret/lib/a/long#k", "env://HOME"]
    session = root_session(openbao, monkeypatch)
    later = datetime.now(UTC) + timedelta(days=2)
    rows = {r.reference: r for r in audit_secrets(refs, POLICY, session, now=later)}
    assert rows["vault://secret/lib/a/short#k"].status == "overdue"
    assert rows["vault://secret/lib/a/short#k"].max_age_days == 1
    assert rows["vault://secret/lib/a/long#k"].status == "ok"
    assert rows["vault://secret/lib/a/long#k"].version == 1
    assert 1.9 < (rows["vault://secret/lib/a/long#k"].age_days or 0) < 2.1
    assert rows["env://HOME"].status == "unmanaged"
    assert not rows["env://HOME"].offender


def test_rotate_every_key_follows_the_rule(openbao: OpenBao, vault_root: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    vault_root.secrets.kv.v2.create_or_update_secret(path="lib/b/short", secret={"a": "1", "b": "2"})
    result = rotate_secret("vault://secret/lib/b/short", POLICY, root_session(openbao, monkeypatch))
    assert (result.keys, result.version) == (("a", "b"), 2)
    data = vault_root.secrets.kv.v2.read_secret_version(path="lib/b/short", raise_on_deleted_version=True)
    values = data["data"]["data"]
    assert all(len(v) == 20 for v in values.values())
    assert values["a"] != values["b"]
    with pytest.raises(SecretError, match="leave out"):
        rotate_secret("vault://secret/lib/b/short?version=1#a", POLICY, root_session(openbao, monkeypatch))


def test_references_come_from_platform_config_and_policy() -> None:
    platform = load_platform_config(ROOT / "config", "prod")
    policy = SecretsPolicyConfig.model_validate(
        {"default": {"max_age_days": 1}, "references": ["vault://secret/mlops/{environment}/x#y"]}
    )
    assert collect_references(platform, platform.environment, policy) == [
        "vault://secret/mlops/prod/privacy#pii_hash_key",
        "vault://secret/mlops/prod/consent#db_password",
        "vault://secret/mlops/prod/x#y",
    ]
    dev = load_platform_config(ROOT / "config", "dev")
    assert collect_references(dev, dev.environment, policy)[0] == "file://.mlops/secrets/pii-hash-key"
