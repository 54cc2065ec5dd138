"""secrets/vault: per-workload policies are least privilege, and OpenBao enforces them."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops.secrets import resolve_secret
from tests.servers import OpenBao, venv_binary

ROOT = Path(__file__).resolve().parents[2]
VAULT = ROOT / "secrets" / "vault"
POLICIES = VAULT / "policies"
ROTATION = "secrets-rotation"
WRITE = {"create", "update", "patch", "delete", "sudo"}

BLOCK = re.compile(r'path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}', re.S)


def parse_policy(text: str) -> dict[str, set[str]]:
    """Path → capabilities; anything but comments and path blocks is refused (nothing unparsed)."""
    body = re.sub(r"#[^\n]*", "", text)
    rules = {m.group(1): set(re.findall(r'"([^"]+)"', m.group(2))) for m in BLOCK.finditer(body)}
    if BLOCK.sub("", body).strip():
        raise ValueError(f"unparsed policy content: {BLOCK.sub('', body).strip()[:60]!r}")
    return rules


def least_privilege_problems(name: str, rules: dict[str, set[str]]) -> list[str]:
    problems = []
    for path, caps in rules.items():
        if not path.startswith("secret/data/mlops/") and not path.startswith("secret/metadata/mlops/"):
            problems.append(f"{path}: outside the platform's secrets")
        if caps & {"delete", "sudo"}:
            problems.append(f"{path}: {sorted(caps)}")
        if name != ROTATION and (caps - {"read"} or "*" in path):
            problems.append(f"{path}: a runtime workload reads exact paths only, got {sorted(caps)}")
        if caps & WRITE and path.rstrip("*/") in {"secret", "secret/data"}:
            problems.append(f"{path}: wildcard write on secret/*")
    return problems


def policy_files() -> list[Path]:
    return sorted(POLICIES.glob("*.hcl"))


def test_each_workload_has_a_policy() -> None:
    assert {p.stem for p in policy_files()} >= {"training-pipeline", "serving", "feature-store", "backup", ROTATION}


@pytest.mark.parametrize("policy", policy_files(), ids=lambda p: p.stem)
def test_policy_is_least_privilege(policy: Path) -> None:
    rules = parse_policy(policy.read_text())
    assert rules
    assert least_privilege_problems(policy.stem, rules) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("serving", 'path "secret/*" {\n  capabilities = ["create", "update"]\n}\n'),
        ("serving", 'path "secret/data/mlops/+/serving" {\n  capabilities = ["read", "update"]\n}\n'),
        ("backup", 'path "secret/data/mlops/*" {\n  capabilities = ["read"]\n}\n'),
        (ROTATION, 'path "secret/data/*" {\n  capabilities = ["update"]\n}\n'),
        (ROTATION, 'path "secret/data/mlops/*" {\n  capabilities = ["delete"]\n}\n'),
    ],
)
def test_the_check_catches_broad_policies(name: str, text: str) -> None:
    assert least_privilege_problems(name, parse_policy(text))


def test_the_parser_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(ValueError, match="unparsed"):
        parse_policy('path "secret/data/x" {\n  capabilities = ["read"]\n  allowed_parameters = {}\n}\n')


def _token_for(vault_root: Any, policy: str) -> str:
    for hcl in policy_files():
        # OpenBao parses each policy: a syntax error fails here.
        vault_root.sys.create_or_update_policy(name=hcl.stem, policy=hcl.read_text())
    created = vault_root.auth.token.create(policies=[policy], ttl="5m", no_default_policy=False)
    return str(created["auth"]["client_token"])


def test_training_token_reads_its_paths_and_is_denied_others(vault_root: Any, openbao: OpenBao) -> None:
    import hvac
    import hvac.exceptions

    env = f"env-{uuid.uuid4().hex[:8]}"
    kv = vault_root.secrets.kv.v2
    kv.create_or_update_secret(path=f"mlops/{env}/privacy", secret={"pii_hash_key": "training-may-read"})
    kv.create_or_update_secret(path=f"mlops/{env}/serving", secret={"app_value": "serving-only"})
    kv.create_or_update_secret(path=f"mlops/{env}/backup", secret={"encryption_key": "backup-only"})
    training = hvac.Client(url=openbao.address, token=_token_for(vault_root, "training-pipeline"), timeout=5)
    got = training.secrets.kv.v2.read_secret_version(path=f"mlops/{env}/privacy", raise_on_deleted_version=True)
    assert got["data"]["data"] == {"pii_hash_key": "training-may-read"}
    for other in ("serving", "backup"):
        with pytest.raises(hvac.exceptions.Forbidden):
            training.secrets.kv.v2.read_secret_version(path=f"mlops/{env}/{other}", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        training.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/privacy", secret={"pii_hash_key": "x"})
    rotation = hvac.Client(url=openbao.address, token=_token_for(vault_root, ROTATION), timeout=5)
    written = rotation.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/serving", secret={"app_value": "new"})
    assert written["data"]["version"] == 2
    with pytest.raises(hvac.exceptions.Forbidden):
        rotation.secrets.kv.v2.delete_metadata_and_all_versions(path=f"mlops/{env}/serving")


def test_agent_template_renders_a_file_the_platform_reads(vault_root: Any, openbao: OpenBao, tmp_path: Path) -> None:
    """The shipped template, rendered by the real agent with a training-policy token."""
    env = f"env-{uuid.uuid4().hex[:8]}"
    vault_root.secrets.kv.v2.create_or_update_secret(path=f"mlops/{env}/privacy", secret={"pii_hash_key": "k-123"})
    token_file = tmp_path / "token"
    token_file.write_text(_token_for(vault_root, "training-pipeline"))
    out = tmp_path / "secrets" / "pii-hash-key"
    # The shipped agent config logs in with Kubernetes; here a token file stands in for it.
    config = tmp_path / "agent.hcl"
    config.write_text(
        f'exit_after_auth = true\nvault {{ address = "{openbao.address}" }}\n'
        f'auto_auth {{\n  method "token_file" {{ config = {{ token_file_path = "{token_file}" }} }}\n}}\n'
        f'template {{\n  source = "{VAULT / "agent" / "templates" / "pii-hash-key.ctmpl"}"\n'
        f'  destination = "{out}"\n  perms = "0400"\n}}\n'
    )
    done = subprocess.run(
        [str(venv_binary("bao")), "agent", f"-config={config}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLOPS_ENV": env},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert out.stat().st_mode & 0o777 == 0o400
    assert resolve_secret(f"file://{out}") == "k-123"


def test_shipped_agent_config_uses_kubernetes_auth_and_existing_templates() -> None:
    text = (VAULT / "agent" / "training-pipeline.hcl").read_text()
    assert re.search(r'method\s+"kubernetes"', text)
    assert 'role = "training-pipeline"' in text
    for source in re.findall(r'source\s*=\s*"/vault/templates/([^"]+)"', text):
        assert (VAULT / "agent" / "templates" / source).is_file(), source
