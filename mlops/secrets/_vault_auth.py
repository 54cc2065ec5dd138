"""Vault login as a plug point: one :class:`VaultAuth` subclass per ``vault.auth.type``.

Found through the explicit :data:`AUTH_METHODS` dict (token, AppRole, Kubernetes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from mlops.config import AppRoleAuthConfig, KubernetesAuthConfig, TokenAuthConfig
from mlops.secrets._backends import FileBackend, read_local

if TYPE_CHECKING:
    import hvac


class VaultAuth(ABC):
    """Logs an hvac client in; one subclass per ``vault.auth.type``."""

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def login(self, client: hvac.Client) -> None:
        """Set ``client.token``; raise SecretError (reference = the credential) on failure."""


class TokenAuth(VaultAuth):
    config: TokenAuthConfig

    def login(self, client: hvac.Client) -> None:
        # Re-read on every login: a Vault Agent token sink file is rewritten when it renews.
        client.token = read_local(self.config.token)


class AppRoleAuth(VaultAuth):
    config: AppRoleAuthConfig

    def login(self, client: hvac.Client) -> None:
        client.auth.approle.login(
            role_id=read_local(self.config.role_id),
            secret_id=read_local(self.config.secret_id),
            mount_point=self.config.mount_point,
        )


class KubernetesAuth(VaultAuth):
    config: KubernetesAuthConfig

    def login(self, client: hvac.Client) -> None:
        jwt = FileBackend().read(f"file://{self.config.token_path}", str(self.config.token_path))
        client.auth.kubernetes.login(role=self.config.role, jwt=jwt, mount_point=self.config.mount_point)


AUTH_METHODS: dict[str, type[VaultAuth]] = {
    "token": TokenAuth,
    "approle": AppRoleAuth,
    "kubernetes": KubernetesAuth,
}
