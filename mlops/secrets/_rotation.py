"""Rotation: a new KV v2 version with fresh random values.

Values come from the standard library's CSPRNG: ``import secrets`` is absolute, so it is the
standard module, never this package (``mlops.secrets``).
"""

from __future__ import annotations

import secrets as _stdlib_secrets
import string
from dataclasses import dataclass

from mlops.config import SecretsPolicyConfig
from mlops.errors import SecretError, SecretNotFoundError
from mlops.secrets._vault import VaultReference, VaultSession

ALPHABETS: dict[str, str] = {
    "hex": string.hexdigits[:16],
    "alphanumeric": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


def generate_value(length: int, alphabet: str) -> str:
    """A random value from the CSPRNG."""
    chars = ALPHABETS[alphabet]
    return "".join(_stdlib_secrets.choice(chars) for _ in range(length))


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
