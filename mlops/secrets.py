"""Secret references: ``env://NAME`` and ``file://PATH``.

Config never holds secret values, only references. A backend is a small class per scheme,
found through the explicit :data:`BACKENDS` dict (``vault://`` joins it with the Vault
work). Every failure is a :class:`~mlops.errors.SecretError` naming the reference.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from mlops.errors import SecretError


class SecretBackend(ABC):
    """Reads the value behind one reference scheme."""

    scheme: ClassVar[str]

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


BACKENDS: dict[str, type[SecretBackend]] = {"env": EnvBackend, "file": FileBackend}


def resolve_secret(reference: str) -> str:
    """Return the value behind ``reference``; unknown schemes and missing values raise."""
    scheme, sep, locator = reference.partition("://")
    if not sep or not locator:
        raise SecretError(reference, "not a reference of the form scheme://locator")
    backend = BACKENDS.get(scheme)
    if backend is None:
        raise SecretError(reference, f"unknown scheme {scheme!r} (known: {', '.join(sorted(BACKENDS))})")
    return backend().read(reference, locator)
