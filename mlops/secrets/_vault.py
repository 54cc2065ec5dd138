"""``vault://MOUNT/PATH#KEY`` from KV v2: the reference syntax, the session and the backend.

hvac is imported only when a Vault reference is first resolved, so importing this module
stays cheap. A set ``VAULT_ADDR`` replaces ``vault.address`` and a set ``VAULT_TOKEN`` selects
token auth (:func:`effective_vault_config`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from mlops.config import TokenAuthConfig, VaultConfig
from mlops.errors import SecretAccessDeniedError, SecretError, SecretNotFoundError, VaultUnavailableError
from mlops.secrets._backends import SecretBackend
from mlops.secrets._vault_auth import AUTH_METHODS

if TYPE_CHECKING:
    import hvac


@dataclass(frozen=True)
class VaultReference:
    """``vault://MOUNT/PATH[?version=N]#KEY`` split into its parts."""

    mount: str
    path: str
    key: str | None = None
    version: int | None = None

    @property
    def secret_path(self) -> str:
        """``MOUNT/PATH``: what rotation rules match and what the audit reports."""
        return f"{self.mount}/{self.path}"

    @classmethod
    def parse(cls, text: str, *, require_key: bool = True) -> VaultReference:
        """Parse a reference; the ``vault://`` prefix may be left out (CLI arguments)."""
        body = text.removeprefix("vault://")
        locator, _, fragment = body.partition("#")
        query = ""
        if "?" in locator:
            locator, _, query = locator.partition("?")
        elif "?" in fragment:
            fragment, _, query = fragment.partition("?")
        parts = locator.split("/")
        if len(parts) < 2 or any(not p or p in {".", ".."} for p in parts):
            raise SecretError(text, "not a reference of the form vault://MOUNT/PATH#KEY")
        if require_key and not fragment:
            raise SecretError(text, "names no key: add #KEY (vault://MOUNT/PATH#KEY)")
        version: int | None = None
        if query:
            params = parse_qs(query, keep_blank_values=True)
            if set(params) != {"version"} or len(params["version"]) != 1 or not params["version"][0].isdigit():
                raise SecretError(text, "the only query parameter is ?version=N (N a positive integer)")
            version = int(params["version"][0])
            if version < 1:
                raise SecretError(text, "versions start at 1")
        return cls(mount=parts[0], path="/".join(parts[1:]), key=fragment or None, version=version)


def effective_vault_config(vault: VaultConfig | None = None, environ: Mapping[str, str] | None = None) -> VaultConfig:
    """``vault`` with the standard environment variables applied (they win over the file)."""
    env = os.environ if environ is None else environ
    cfg = vault or VaultConfig()
    update: dict[str, Any] = {}
    if env.get("VAULT_ADDR"):
        update["address"] = env["VAULT_ADDR"]
    if env.get("VAULT_TOKEN"):
        update["auth"] = TokenAuthConfig(token="env://VAULT_TOKEN")
    if env.get("VAULT_NAMESPACE"):
        update["namespace"] = env["VAULT_NAMESPACE"]
    if env.get("VAULT_CACERT"):
        update["ca_cert"] = Path(env["VAULT_CACERT"])
    return cfg.model_copy(update=update) if update else cfg


@dataclass(frozen=True)
class SecretMetadata:
    """KV v2 metadata of a secret's current version (no values)."""

    path: str
    current_version: int
    created_time: datetime
    deleted: bool


def _parse_time(value: str) -> datetime:
    # Vault writes nanoseconds; datetime takes at most microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed)


class VaultSession:
    """One logged-in hvac client with bounded timeouts and errors mapped to SecretError.

    The client is created and logged in on first use; when a call is refused because the
    token expired, it logs in again once and retries.
    """

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self._client: hvac.Client | None = None
        self._lock = threading.Lock()

    def _new_client(self, reference: str) -> hvac.Client:
        import hvac

        if not self.config.address:
            raise SecretError(reference, "no Vault address (set vault.address in the platform config or VAULT_ADDR)")
        verify: bool | str = True
        if self.config.ca_cert:
            # Checked here: requests would only say "invalid path" on the first call.
            if not self.config.ca_cert.is_file():
                raise SecretError(
                    reference,
                    f"vault.ca_cert / VAULT_CACERT {self.config.ca_cert}: no such file "
                    "(expected the PEM CA bundle of Vault's certificate)",
                )
            verify = str(self.config.ca_cert)
        return hvac.Client(
            url=self.config.address,
            namespace=self.config.namespace,
            verify=verify,
            timeout=(self.config.connect_timeout_s, self.config.read_timeout_s),
        )

    def _login(self, client: hvac.Client, reference: str) -> None:
        method = AUTH_METHODS[self.config.auth.type](self.config.auth)
        try:
            with self._mapped(reference, "login"):
                method.login(client)
        except SecretError as exc:
            detail = exc.reason if exc.reference == reference else str(exc)
            raise type(exc)(reference, f"Vault login ({self.config.auth.type} auth) failed: {detail}") from None

    def client(self, reference: str) -> hvac.Client:
        with self._lock:
            if self._client is None:
                client = self._new_client(reference)
                self._login(client, reference)
                self._client = client
            return self._client

    @contextmanager
    def _mapped(self, reference: str, what: str) -> Iterator[None]:
        """Turn transport and HTTP errors into one SecretError naming the reference."""
        import hvac.exceptions as hx
        import requests

        address = self.config.address
        try:
            yield
        except requests.exceptions.Timeout:
            raise VaultUnavailableError(reference, f"Vault at {address} did not answer in time ({what})") from None
        except requests.exceptions.SSLError:
            # A subclass of ConnectionError: name the cause, which is configuration, not an outage.
            trust = f"the CA in {self.config.ca_cert}" if self.config.ca_cert else "the system trust store"
            raise SecretError(
                reference,
                f"Vault at {address}: TLS certificate verification failed against {trust} ({what}); "
                "set vault.ca_cert or VAULT_CACERT to the CA of Vault's certificate",
            ) from None
        except requests.exceptions.ConnectionError:
            raise VaultUnavailableError(reference, f"Vault at {address} is unreachable ({what})") from None
        except hx.VaultDown:
            raise VaultUnavailableError(reference, f"Vault at {address} is sealed or down ({what})") from None
        except hx.Forbidden:
            raise SecretAccessDeniedError(reference, f"permission denied by Vault ({what})") from None
        except hx.Unauthorized:
            raise SecretAccessDeniedError(reference, f"Vault rejected the credentials ({what})") from None
        except hx.InvalidPath:
            raise SecretNotFoundError(reference, f"no such secret in Vault ({what})") from None
        except hx.VaultError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SecretError(reference, f"Vault error ({what}): {first}") from None

    def call(self, reference: str, what: str, fn: Callable[[hvac.Client], Any]) -> Any:
        """Run ``fn(client)``; on a refusal caused by an expired token, log in again once."""
        import hvac.exceptions as hx

        client = self.client(reference)
        for again in (False, True):
            if again:
                self._login(client, reference)
            with self._mapped(reference, what):
                try:
                    return fn(client)
                except hx.Forbidden:
                    if client.is_authenticated():
                        raise
        raise SecretAccessDeniedError(
            reference, f"Vault does not accept the token from {self.config.auth.type} auth ({what})"
        )

    def read(self, reference: str, ref: VaultReference) -> dict[str, Any]:
        """The key/value mapping of the secret (at ``ref.version`` if pinned)."""
        what = f"read {ref.mount}/data/{ref.path}" + (f" version {ref.version}" if ref.version else "")
        response = self.call(
            reference,
            what,
            lambda c: c.secrets.kv.v2.read_secret_version(
                path=ref.path, version=ref.version, mount_point=ref.mount, raise_on_deleted_version=True
            ),
        )
        data = (response or {}).get("data") or {}
        if data.get("data") is None:
            raise SecretNotFoundError(reference, f"no data in Vault ({what}; deleted or destroyed version)")
        return dict(data["data"])

    def metadata(self, reference: str, ref: VaultReference) -> SecretMetadata:
        what = f"read {ref.mount}/metadata/{ref.path}"
        response = self.call(
            reference,
            what,
            lambda c: c.secrets.kv.v2.read_secret_metadata(path=ref.path, mount_point=ref.mount),
        )
        data = response["data"]
        current = int(data["current_version"])
        version = data["versions"][str(current)]
        return SecretMetadata(
            path=ref.secret_path,
            current_version=current,
            created_time=_parse_time(version["created_time"]),
            deleted=bool(version.get("deletion_time")) or bool(version.get("destroyed")),
        )

    def write(self, reference: str, ref: VaultReference, data: dict[str, str], cas: int) -> int:
        """Write ``data`` as a new version (check-and-set on ``cas``); return its number."""
        what = f"write {ref.mount}/data/{ref.path}"
        response = self.call(
            reference,
            what,
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=ref.path, secret=data, cas=cas, mount_point=ref.mount
            ),
        )
        return int(response["data"]["version"])


class VaultBackend(SecretBackend):
    """``vault://MOUNT/PATH#KEY`` from KV v2."""

    scheme = "vault"

    def __init__(self, session: VaultSession) -> None:
        self.session = session

    @classmethod
    def from_config(cls, vault: VaultConfig) -> SecretBackend:
        return cls(VaultSession(vault))

    def read(self, reference: str, locator: str) -> str:
        ref = VaultReference.parse(reference)
        data = self.session.read(reference, ref)
        assert ref.key is not None  # parse(require_key=True)
        if ref.key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise SecretError(reference, f"key {ref.key!r} is not in {ref.secret_path} (keys: {keys})")
        value = data[ref.key]
        if not isinstance(value, str) or not value:
            raise SecretError(reference, f"key {ref.key!r} in {ref.secret_path} is empty or not a string")
        return value
