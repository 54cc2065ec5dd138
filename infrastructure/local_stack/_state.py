"""The stack's folder and ``stack.json``: ports, pids, folders, endpoints and credentials.

Everything lives under ``<state>/stack/``, one folder per server. ``stack.json`` holds the
generated credentials, so it is written with mode 600, like every other file holding a secret.
Credentials are generated once, at first start, with the lengths and alphabets that
``config/secrets_policy.yaml`` gives the matching OpenBao paths, so a later
``mlops secrets rotate`` writes values of the same shape.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops.config import SecretsPolicyConfig, load_model
from mlops.secrets import generate_value

ENVIRONMENT = "local-stack"
STATE_FORMAT = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRETS_POLICY = REPO_ROOT / "config" / "secrets_policy.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerRecord(_Strict):
    """One server: its ports (the first one is the endpoint's), its pid while it runs."""

    ports: dict[str, int]
    pid: int | None = None
    data_dir: str
    log: str
    endpoint: str


class Credentials(_Strict):
    s3_access_key: str
    s3_secret_key: str
    postgres_superuser_password: str
    # database (and its owner role, same name) -> password
    database_passwords: dict[str, str]
    redis_password: str


class StackRecord(_Strict):
    format: int = STATE_FORMAT
    environment: str = ENVIRONMENT
    created_at: str
    servers: dict[str, ServerRecord]
    credentials: Credentials


class Layout:
    """Where each file of the stack lives under the state folder."""

    def __init__(self, state: Path) -> None:
        self.state = state.expanduser().resolve()
        self.root = self.state / "stack"
        self.record = self.root / "stack.json"
        self.lock = self.root / ".lock"

    def server_dir(self, name: str) -> Path:
        return self.root / name

    @property
    def escrow(self) -> Path:
        """What the operator keeps outside the deployment (``<state>/secrets``, not ``stack/``):
        it survives the loss of the deployment's data, so a restore can use it."""
        return self.state / "secrets"

    @property
    def openbao_escrow(self) -> Path:
        """The copy of OpenBao's unseal key and root token, written when OpenBao is initialised."""
        return self.escrow / "openbao-init.json"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 600, atomically (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)  # an existing temporary file keeps its mode on O_CREAT
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_private(path: Path, data: Any) -> None:
    write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_record(layout: Layout) -> StackRecord | None:
    if not layout.record.exists():
        return None
    return StackRecord.model_validate_json(layout.record.read_text())


def save_record(layout: Layout, record: StackRecord) -> None:
    write_json_private(layout.record, record.model_dump(mode="json"))


def _policy() -> SecretsPolicyConfig:
    return load_model(SECRETS_POLICY, SecretsPolicyConfig)


def generate_secret(area: str, policy: SecretsPolicyConfig | None = None) -> str:
    """A fresh value shaped as the rotation rule of ``secret/mlops/local-stack/<area>`` says."""
    rule = (policy or _policy()).rule_for(f"secret/mlops/{ENVIRONMENT}/{area}")
    return generate_value(rule.length, rule.alphabet)


def new_credentials(databases: tuple[str, ...]) -> Credentials:
    policy = _policy()
    return Credentials(
        # The usual shape of S3 keys: a 20-character id, a 40-character secret.
        s3_access_key=generate_value(20, "alphanumeric").upper(),
        s3_secret_key=generate_value(40, "alphanumeric"),
        postgres_superuser_password=generate_secret("registry", policy),
        database_passwords={db: generate_secret("registry", policy) for db in databases},
        redis_password=generate_secret("feature-store", policy),
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
