"""Secret references: ``env://NAME``, ``file://PATH`` and ``vault://MOUNT/PATH#KEY``.

Config never holds secret values, only references. A backend is a small class per scheme,
found through the explicit :data:`BACKENDS` dict. Every failure is a
:class:`~mlops.errors.SecretError` naming the reference and the reason.

``vault://MOUNT/PATH#KEY`` reads KEY from the KV v2 secret PATH on the engine mounted at MOUNT
(``vault://secret/mlops/prod/privacy#pii_hash_key``); ``?version=N`` pins a version
(``vault://secret/app?version=2#key``; ``#key?version=2`` is accepted too). hvac is imported only
when a Vault reference is first resolved, so importing this module stays cheap.

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
"""

from __future__ import annotations

import os
import re
import secrets as _random
import string
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qs

from mlops.config import (
    SECRET_SCHEMES,
    AppRoleAuthConfig,
    KubernetesAuthConfig,
    PlatformConfig,
    SecretsPolicyConfig,
    TokenAuthConfig,
    VaultConfig,
)
from mlops.errors import SecretAccessDeniedError, SecretError, SecretNotFoundError, VaultUnavailableError

if TYPE_CHECKING:
    import hvac


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


def _read_local(reference: str) -> str:
    """Resolve an ``env://`` or ``file://`` reference (Vault credentials; never cached)."""
    scheme, _, locator = reference.partition("://")
    backend: SecretBackend = EnvBackend() if scheme == "env" else FileBackend()
    return backend.read(reference, locator)


# --------------------------------------------------------------------------- vault references
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
        client.token = _read_local(self.config.token)


class AppRoleAuth(VaultAuth):
    config: AppRoleAuthConfig

    def login(self, client: hvac.Client) -> None:
        client.auth.approle.login(
            role_id=_read_local(self.config.role_id),
            secret_id=_read_local(self.config.secret_id),
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
        verify: bool | str = str(self.config.ca_cert) if self.config.ca_cert else True
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
        with self._mapped(reference, what):
            try:
                return fn(client)
            except hx.Forbidden:
                if client.is_authenticated():
                    raise
        self._login(client, reference)
        with self._mapped(reference, what):
            try:
                return fn(client)
            except hx.Forbidden:
                if client.is_authenticated():
                    raise
                raise SecretAccessDeniedError(
                    reference, f"Vault does not accept the token from {self.config.auth.type} auth ({what})"
                ) from None

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


BACKENDS: dict[str, type[SecretBackend]] = {"env": EnvBackend, "file": FileBackend, "vault": VaultBackend}


# --------------------------------------------------------------------------- resolver
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

    @classmethod
    def from_platform(cls, platform: PlatformConfig, environ: Mapping[str, str] | None = None) -> SecretResolver:
        return cls(platform.vault, environ=environ)

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


# --------------------------------------------------------------------------- audit and rotation
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


def collect_references(platform: PlatformConfig, policy: SecretsPolicyConfig) -> list[str]:
    """Every secret reference the environment uses: platform config values + the policy's list."""
    found: list[str] = []
    dumped = platform.model_dump(mode="json")
    # The vault section holds the credentials for Vault itself; their lifetime is the auth
    # method's (token TTL, secret_id TTL), not a KV rotation policy.
    dumped.pop("vault", None)
    for _, value in _walk_strings(dumped):
        if value.startswith(SECRET_SCHEMES) and value not in found:
            found.append(value)
    for ref in policy.references:
        expanded = ref.replace("{environment}", platform.environment)
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


ALPHABETS: dict[str, str] = {
    "hex": string.hexdigits[:16],
    "alphanumeric": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


def generate_value(length: int, alphabet: str) -> str:
    """A random value from the CSPRNG."""
    chars = ALPHABETS[alphabet]
    return "".join(_random.choice(chars) for _ in range(length))


@dataclass(frozen=True)
class RotationResult:
    path: str
    keys: tuple[str, ...]
    version: int


def rotate_secret(
    target: str, policy: SecretsPolicyConfig, session: VaultSession, *, create: bool = False
) -> RotationResult:
    """Write a new KV v2 version with fresh random values; the values are never returned.

    ``target`` is ``[vault://]MOUNT/PATH#KEY`` (that key; the other keys are carried over) or
    ``[vault://]MOUNT/PATH`` (every key of the current version). A missing secret is created
    only with ``create`` and a key, so a typo cannot silently start a new secret.
    """
    ref = VaultReference.parse(target, require_key=False)
    if ref.version is not None:
        raise SecretError(target, "a rotation writes a new version: leave out ?version=")
    rule = policy.rule_for(ref.secret_path)
    try:
        meta = session.metadata(target, ref)
    except SecretNotFoundError as exc:
        if not (create and ref.key):
            raise SecretError(target, f"{exc.reason}; pass --create with a #KEY to create it") from None
        value = generate_value(rule.length, rule.alphabet)
        return RotationResult(ref.secret_path, (ref.key,), session.write(target, ref, {ref.key: value}, cas=0))
    current = {} if meta.deleted else session.read(target, VaultReference(ref.mount, ref.path))
    keys = (ref.key,) if ref.key else tuple(sorted(current))
    if not keys:
        raise SecretError(target, "the secret has no keys to rotate: name one with #KEY")
    if ref.key and ref.key not in current and not create:
        raise SecretError(target, f"key {ref.key!r} is not in {ref.secret_path}; pass --create to add it")
    data = {k: str(v) for k, v in current.items()}
    for key in keys:
        data[key] = generate_value(rule.length, rule.alphabet)
    # Check-and-set: a concurrent writer makes this fail instead of being overwritten.
    return RotationResult(ref.secret_path, keys, session.write(target, ref, data, cas=meta.current_version))
