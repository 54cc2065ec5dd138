"""Secret references: ``env://NAME``, ``file://PATH`` and ``vault://MOUNT/PATH#KEY``.

Config never holds secret values, only references. A backend is a small class per scheme,
found through the explicit :data:`BACKENDS` dict. Every failure is a
:class:`~mlops.errors.SecretError` naming the reference and the reason.

``vault://MOUNT/PATH#KEY`` reads KEY from the KV v2 secret PATH on the engine mounted at MOUNT
(``vault://secret/mlops/prod/privacy#pii_hash_key``); ``?version=N`` pins a version
(``vault://secret/app?version=2#key``; ``#key?version=2`` is accepted too). hvac is imported only
when a Vault reference is first resolved, so importing this package stays cheap.

Vault login is a plug point: :class:`VaultAuth` subclasses, one per ``type`` of the
``vault.auth`` config (token, AppRole, Kubernetes), found through :data:`AUTH_METHODS`.

The default resolver. :func:`resolve_secret` uses one process-wide :class:`SecretResolver`,
built on first use from the environment alone (``VAULT_ADDR``, ``VAULT_TOKEN``, the variables the
Vault CLI reads), because library code and pipeline steps call it without a platform config at
hand. A process that has one installs a resolver built from its ``vault:`` section with
``set_default_resolver(SecretResolver(platform.vault))``. In both cases a set ``VAULT_ADDR``
replaces ``vault.address`` and a set ``VAULT_TOKEN`` selects token auth, so an operator can point
``mlops secrets …`` at Vault with their own token.

Only ``vault://`` values are cached (``vault.cache_ttl_s``, per reference): environment variables
and agent-rendered files are local reads, and a rotated file must be seen at once.

Layout (private modules; import from this package): ``_backends`` (the plug point and the
local backends), ``_vault`` and ``_vault_auth`` (KV v2 session, backend and login methods),
``_resolver``, ``_audit`` and ``_rotation``.
"""

from mlops.secrets._audit import AuditRow, AuditStatus, audit_secrets, collect_references
from mlops.secrets._backends import EnvBackend, FileBackend, SecretBackend
from mlops.secrets._resolver import (
    BACKENDS,
    SecretResolver,
    default_resolver,
    resolve_secret,
    set_default_resolver,
)
from mlops.secrets._rotation import ALPHABETS, RotationResult, generate_value, rotate_secret
from mlops.secrets._vault import (
    SecretMetadata,
    VaultBackend,
    VaultReference,
    VaultSession,
    effective_vault_config,
)
from mlops.secrets._vault_auth import AUTH_METHODS, AppRoleAuth, KubernetesAuth, TokenAuth, VaultAuth

__all__ = [
    "ALPHABETS",
    "AUTH_METHODS",
    "BACKENDS",
    "AppRoleAuth",
    "AuditRow",
    "AuditStatus",
    "EnvBackend",
    "FileBackend",
    "KubernetesAuth",
    "RotationResult",
    "SecretBackend",
    "SecretMetadata",
    "SecretResolver",
    "TokenAuth",
    "VaultAuth",
    "VaultBackend",
    "VaultReference",
    "VaultSession",
    "audit_secrets",
    "collect_references",
    "default_resolver",
    "effective_vault_config",
    "generate_value",
    "resolve_secret",
    "rotate_secret",
    "set_default_resolver",
]
