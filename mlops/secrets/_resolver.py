"""The resolver: a reference's scheme picks its backend from :data:`BACKENDS`.

:func:`resolve_secret` uses one process-wide :class:`SecretResolver`, built on first use from
the environment alone, because library code and pipeline steps call it without a platform
config at hand; a process that has one installs its own with :func:`set_default_resolver`.
Only ``vault://`` values are cached (``vault.cache_ttl_s``, per reference).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from mlops.config import VaultConfig
from mlops.errors import SecretError
from mlops.secrets._backends import EnvBackend, FileBackend, SecretBackend
from mlops.secrets._vault import VaultBackend, VaultSession, effective_vault_config

BACKENDS: dict[str, type[SecretBackend]] = {"env": EnvBackend, "file": FileBackend, "vault": VaultBackend}


class SecretResolver:
    """Resolves references through :data:`BACKENDS`, caching remote values for a TTL."""

    # Remote reads are cached; local ones are cheap and must reflect a re-rendered file at once.
    cached_schemes: ClassVar[frozenset[str]] = frozenset({"vault"})

    def __init__(
        self,
        vault: VaultConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vault_config = effective_vault_config(vault, environ)
        self.ttl_s = self.vault_config.cache_ttl_s
        self._clock = clock
        self._backends: dict[str, SecretBackend] = {}
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def backend(self, scheme: str) -> SecretBackend:
        with self._lock:
            if scheme not in self._backends:
                self._backends[scheme] = BACKENDS[scheme].from_config(self.vault_config)
            return self._backends[scheme]

    @property
    def vault(self) -> VaultSession:
        backend = self.backend("vault")
        assert isinstance(backend, VaultBackend)
        return backend.session

    def resolve(self, reference: str) -> str:
        """Return the value behind ``reference``; unknown schemes and missing values raise."""
        scheme, sep, locator = reference.partition("://")
        if not sep or not locator:
            raise SecretError(reference, "not a reference of the form scheme://locator")
        if scheme not in BACKENDS:
            raise SecretError(reference, f"unknown scheme {scheme!r} (known: {', '.join(sorted(BACKENDS))})")
        cached = scheme in self.cached_schemes and self.ttl_s > 0
        if cached:
            with self._lock:
                hit = self._cache.get(reference)
            if hit is not None and hit[0] > self._clock():
                return hit[1]
        value = self.backend(scheme).read(reference, locator)
        if cached:
            with self._lock:
                self._cache[reference] = (self._clock() + self.ttl_s, value)
        return value

    def invalidate(self, reference: str | None = None) -> None:
        """Forget one cached value, or all of them."""
        with self._lock:
            if reference is None:
                self._cache.clear()
            else:
                self._cache.pop(reference, None)


_default: SecretResolver | None = None
_default_lock = threading.Lock()


def default_resolver() -> SecretResolver:
    """The process-wide resolver (built from the environment on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SecretResolver()
        return _default


def set_default_resolver(resolver: SecretResolver | None) -> None:
    """Install the resolver :func:`resolve_secret` uses (None: rebuild from the environment)."""
    global _default
    with _default_lock:
        _default = resolver


def resolve_secret(reference: str) -> str:
    """Return the value behind ``reference``; unknown schemes and missing values raise."""
    return default_resolver().resolve(reference)
