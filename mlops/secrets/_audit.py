"""The rotation audit: age and version of every referenced secret against the policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from mlops.config import SECRET_SCHEMES, SecretsPolicyConfig
from mlops.errors import SecretAccessDeniedError, SecretError, SecretNotFoundError, VaultUnavailableError
from mlops.secrets._vault import VaultReference, VaultSession

AuditStatus = Literal["ok", "overdue", "missing", "denied", "error", "unmanaged"]


@dataclass(frozen=True)
class AuditRow:
    """One referenced secret against the rotation policy."""

    reference: str
    status: AuditStatus
    path: str | None = None
    version: int | None = None
    created: datetime | None = None
    age_days: float | None = None
    max_age_days: float | None = None
    detail: str = ""

    @property
    def offender(self) -> bool:
        # env:// and file:// values are not in Vault: no version history to judge.
        return self.status not in {"ok", "unmanaged"}


def _walk_strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_strings(value, f"{where}[{i}]")
    elif isinstance(node, str):
        yield where, node


def collect_references(platform: BaseModel, environment: str, policy: SecretsPolicyConfig) -> list[str]:
    """Every secret reference the environment uses: platform config values + the policy's list.

    ``platform`` is the whole platform config (any model: the kernel does not know its sections).
    """
    found: list[str] = []
    dumped = platform.model_dump(mode="json")
    # The vault section holds the credentials for Vault itself; their lifetime is the auth
    # method's (token TTL, secret_id TTL), not a KV rotation policy.
    dumped.pop("vault", None)
    for _, value in _walk_strings(dumped):
        if value.startswith(SECRET_SCHEMES) and value not in found:
            found.append(value)
    for ref in policy.references:
        expanded = ref.replace("{environment}", environment)
        if expanded not in found:
            found.append(expanded)
    return found


def audit_secrets(
    references: list[str],
    policy: SecretsPolicyConfig,
    session: VaultSession,
    now: datetime | None = None,
) -> list[AuditRow]:
    """Age and version of each ``vault://`` secret's current version against ``policy``.

    Reads KV v2 metadata only (no values). A missing secret or a refused read is an offender;
    an unreachable Vault raises, so one clear line replaces a table of identical failures.
    """
    now = now or datetime.now(UTC)
    rows: list[AuditRow] = []
    for reference in references:
        if not reference.startswith("vault://"):
            rows.append(AuditRow(reference, "unmanaged", detail="not in Vault"))
            continue
        ref = VaultReference.parse(reference, require_key=False)
        rule = policy.rule_for(ref.secret_path)
        path, max_age = ref.secret_path, rule.max_age_days
        try:
            meta = session.metadata(reference, ref)
        except VaultUnavailableError:
            raise
        except SecretError as exc:
            status: AuditStatus = "error"
            if isinstance(exc, SecretNotFoundError):
                status = "missing"
            elif isinstance(exc, SecretAccessDeniedError):
                status = "denied"
            rows.append(AuditRow(reference, status, path=path, max_age_days=max_age, detail=exc.reason))
            continue
        age = (now - meta.created_time).total_seconds() / 86400
        detail = ""
        if meta.deleted:
            status, detail = "missing", f"current version {meta.current_version} is deleted"
        elif age > max_age:
            status, detail = "overdue", f"{age:.1f} days old, policy allows {max_age:g}"
        else:
            status = "ok"
        rows.append(
            AuditRow(
                reference,
                status,
                path=path,
                version=meta.current_version,
                created=meta.created_time,
                age_days=age,
                max_age_days=max_age,
                detail=detail,
            )
        )
    return rows
