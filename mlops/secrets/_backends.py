"""The secret-backend plug point and the two local backends (``env://``, ``file://``).

A backend is a small class per scheme; the resolver finds it through the explicit
``BACKENDS`` dict of :mod:`mlops.secrets._resolver` (nothing registers itself on import).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from mlops.config import VaultConfig
from mlops.errors import SecretError


class SecretBackend(ABC):
    """Reads the value behind one reference scheme."""

    scheme: ClassVar[str]

    @classmethod
    def from_config(cls, vault: VaultConfig) -> SecretBackend:
        """Build the backend for a resolver; only backends that talk to Vault use ``vault``."""
        return cls()

    @abstractmethod
    def read(self, reference: str, locator: str) -> str:
        """Return the secret at ``locator`` (the part after ``scheme://``)."""


class EnvBackend(SecretBackend):
    scheme = "env"

    def read(self, reference: str, locator: str) -> str:
        value = os.environ.get(locator)
        if not value:
            raise SecretError(reference, f"environment variable {locator} is not set or empty")
        return value


class FileBackend(SecretBackend):
    """Files rendered by the Vault agent (or created by `make run` for local development)."""

    scheme = "file"

    def read(self, reference: str, locator: str) -> str:
        path = Path(locator)
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            raise SecretError(reference, f"file {path} does not exist") from None
        except OSError as exc:
            raise SecretError(reference, f"file {path} is not readable ({exc.strerror})") from None
        if not value:
            raise SecretError(reference, f"file {path} is empty")
        return value


def read_local(reference: str) -> str:
    """Resolve an ``env://`` or ``file://`` reference (Vault credentials; never cached)."""
    scheme, _, locator = reference.partition("://")
    backend: SecretBackend = EnvBackend() if scheme == "env" else FileBackend()
    return backend.read(reference, locator)
