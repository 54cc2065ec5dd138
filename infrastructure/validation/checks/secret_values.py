"""``secret-values``: secret-shaped values anywhere in rendered and plain manifests (connection
strings with a password, inline credentials, secret-named keys, detect-secrets' token formats,
high-entropy strings); ``secret-allowlist.yaml`` lists known-safe values with reasons."""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from infrastructure.validation.context import Context
from infrastructure.validation.core import MAKE_INSTALL, CheckResult, Layout, one_line
from infrastructure.validation.manifests import Manifest, manifests_from_file, plain_manifest_files
from infrastructure.validation.render import unrendered_failures
from infrastructure.validation.values import values_leaves
from mlops.errors import MissingToolError

# Known-safe values the scan would flag (digests, uids, ...), each with the reason it is safe.
SECRET_ALLOWLIST = "secret-allowlist.yaml"  # pragma: allowlist secret
# High-entropy strings: long runs of base64/base64url characters that mix letter case and digits
# (identifiers rarely do) above a Shannon entropy per character, and long hex runs. A random
# 20-character alphanumeric string scores 3.65 bits/char or more 99 times in 100, a 32-digit hex
# one 3.26; words, names and paths of the same length mix fewer kinds of character.
ENTROPY_MIN_LENGTH = 20
BASE64_ENTROPY_LIMIT = 3.5
HEX_MIN_LENGTH = 32
HEX_ENTROPY_LIMIT = 3.0
_TOKEN = re.compile(rf"[A-Za-z0-9+/=_-]{{{ENTROPY_MIN_LENGTH},}}")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_SECRET_WORD = (
    r"(?:password|passwd|pwd|(?<![a-z])pass|secret|token"
    r"|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"
)
# A password in a URL: scheme "://" user ":" password "@" host.
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:(?P<secret>[^\s/@'\"]+)@")
# "password=...", "DB_PASS: ...", '"token": "..."' inside a value (DSNs, JDBC URLs, JSON, .env files).
_INLINE_CREDENTIAL = re.compile(
    r"(?i)(?<![a-z0-9])[a-z0-9_.-]*?" + _SECRET_WORD + r"[\"']?\s*[=:]\s*[\"']?(?P<secret>[^\s;&'\",}]+)"
)
# An argument naming a secret ("--db-password"); the next argument is its value.
_SECRET_FLAG = re.compile(r"(?i)^--?[a-z0-9_.-]*" + _SECRET_WORD + r"$")
# Values that stand for a secret without being one: references, templates, placeholders.
_REFERENCE_PREFIXES = ("vault://", "env://", "file:///vault/secrets/", "/vault/secrets/")
_PLACEHOLDER = re.compile(r"(?i)^(?:\$\w+|\$\{[^}]*\}?|\$\([^)]*\)?|%s|%\(\w+\)s|<[^>]*>|\*+|x{3,}|\.{3})$")
_TEMPLATE_MARKERS = ("{{", "${", "$(")
# The detect-secrets plugins whose job the checks above do with this project's thresholds and
# allowlist (entropy), or that flag what is not a secret here (public IPs in NetworkPolicies).
_DETECT_SECRETS_SKIPPED = frozenset(
    {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"}
)


@dataclass(frozen=True)
class SecretSite:
    """A string in an object: where it is, the name it is given (env var, data key), the text."""

    where: str
    name: str | None
    value: str
    keyed: bool = False  # the name says what the value is (env var, parameter, data key)


@dataclass(frozen=True)
class SecretFinding:
    what: str
    secret: str
    start: int
    end: int


@dataclass(frozen=True)
class SecretAllow:
    pattern: re.Pattern[str]
    reason: str
    path: re.Pattern[str] | None
    label: str


@functools.cache
def _detect_secrets() -> tuple[tuple[Any, ...], Any]:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.keyword import KeywordDetector
    except ImportError as exc:
        raise MissingToolError("detect-secrets (import detect_secrets)", MAKE_INSTALL) from exc
    classes: dict[str, Any] = get_mapping_from_secret_type_to_class()
    plugins = tuple(plugin() for kind, plugin in classes.items() if kind not in _DETECT_SECRETS_SKIPPED)
    return plugins, KeywordDetector()


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _stands_for_a_secret(secret: str) -> bool:
    secret = secret.strip("\"'")
    return (
        not secret
        or secret.startswith(_REFERENCE_PREFIXES)
        or any(marker in secret for marker in _TEMPLATE_MARKERS)
        or bool(_PLACEHOLDER.match(secret))
    )


def _span(value: str, secret: str) -> tuple[int, int]:
    start = value.find(secret)
    return (start, start + len(secret)) if start >= 0 else (0, len(value))


def find_secrets(site: SecretSite) -> list[SecretFinding]:
    """Secret-shaped values in one string, whatever it is called."""
    plugins, keyword = _detect_secrets()
    value = site.value
    found: dict[tuple[int, int], SecretFinding] = {}

    def add(what: str, secret: str, start: int | None = None) -> None:
        if _stands_for_a_secret(secret):
            return
        span = (start, start + len(secret)) if start is not None else _span(value, secret)
        found.setdefault(span, SecretFinding(what, secret, *span))

    for match in _URL_CREDENTIALS.finditer(value):
        add("a password in a connection string", match["secret"], match.start("secret"))
    for match in _INLINE_CREDENTIAL.finditer(value):
        add("a credential written inline (key=value)", match["secret"], match.start("secret"))
    if site.keyed and site.name and "\n" not in value:
        line = f"{site.name}: {json.dumps(value)}"
        for potential in keyword.analyze_line(filename="values.yaml", line=line, line_number=1):
            add(f"a literal value for {site.name}, whose name says it is a secret", str(potential.secret_value))
    for line in value.splitlines() if "\n" in value else []:
        for potential in keyword.analyze_line(filename=site.name or "values.yaml", line=line, line_number=1):
            add("a literal secret in file content", str(potential.secret_value))
    for plugin in plugins:
        for secret in plugin.analyze_string(value):
            add(f"a {plugin.secret_type} (detect-secrets)", str(secret))
    for match in _TOKEN.finditer(value):
        token = match.group(0)
        entropy = shannon_entropy(token)
        if _HEX.fullmatch(token):
            if len(token) >= HEX_MIN_LENGTH and entropy >= HEX_ENTROPY_LIMIT:
                add(f"a high-entropy hex string ({len(token)} chars, {entropy:.2f} bits/char)", token, match.start())
            continue
        kinds = sum(bool(re.search(pattern, token)) for pattern in ("[a-z]", "[A-Z]", "[0-9]"))
        if kinds == 3 and entropy >= BASE64_ENTROPY_LIMIT:
            add(f"a high-entropy string ({len(token)} chars, {entropy:.2f} bits/char)", token, match.start())
    return sorted(found.values(), key=lambda f: f.start)


def _site_label(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return str(name) if isinstance(name, str) and name else str(index)


def _walk_strings(node: Any, where: str) -> Iterator[SecretSite]:
    """Every string under a node; name/value pairs (env vars, parameters) carry their name."""
    if isinstance(node, dict):
        pair_name = node.get("name") if isinstance(node.get("name"), str) and "value" in node else None
        for key, item in node.items():
            child = f"{where}.{key}" if where else str(key)
            if pair_name is not None and key == "value" and isinstance(item, str):
                yield SecretSite(child, str(pair_name), item, keyed=True)
            else:
                yield from _walk_strings(item, child)
    elif isinstance(node, list):
        previous = ""
        for index, item in enumerate(node):
            child = f"{where}[{_site_label(item, index)}]"
            # "--password", "<value>" in command/args lists.
            if isinstance(item, str) and _SECRET_FLAG.match(previous):
                yield SecretSite(child, previous.lstrip("-"), item, keyed=True)
            else:
                yield from _walk_strings(item, child)
            previous = item if isinstance(item, str) else ""
    elif isinstance(node, str):
        yield SecretSite(where, None, node)


def _decoded(value: Any) -> str | None:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def secret_sites(body: dict[str, Any]) -> Iterator[SecretSite]:
    """The strings of an object to scan: all of them, data maps keyed by their keys (base64
    decoded where Kubernetes encodes them), a SealedSecret's ciphertext left out."""
    kind = body.get("kind")
    data_maps: dict[str, bool] = {}  # field -> base64 encoded
    if kind == "ConfigMap":
        data_maps = {"data": False}
    elif kind == "Secret":
        data_maps = {"data": True, "stringData": False}
    for key, item in body.items():
        if key in data_maps and isinstance(item, dict):
            for name, value in item.items():
                text = _decoded(value) if data_maps[key] else str(value)
                yield SecretSite(f"{key}.{name}", str(name), text if text is not None else str(value), keyed=True)
        elif kind == "SealedSecret" and key == "spec" and isinstance(item, dict):
            # encryptedData is ciphertext by design; the template's data is plain base64.
            template_data = (item.get("template") or {}).get("data") or {}
            for name, value in template_data.items():
                yield SecretSite(f"spec.template.data.{name}", str(name), _decoded(value) or str(value), keyed=True)
            rest = {k: v for k, v in item.items() if k not in ("encryptedData", "template")}
            yield from _walk_strings(rest, "spec")
        else:
            yield from _walk_strings(item, str(key))


def load_secret_allowlist(layout: Layout) -> tuple[list[SecretAllow], list[str]]:
    path = layout.validation / SECRET_ALLOWLIST
    if not path.is_file():
        return [], []
    where = layout.rel(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [], [f"{where}: does not parse: {one_line(str(exc))}"]
    entries = loaded.get("allow") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        return [], [f"{where}: needs a list under `allow`"]
    allow: list[SecretAllow] = []
    problems: list[str] = []
    for index, entry in enumerate(entries, start=1):
        if (
            not isinstance(entry, dict)
            or not str(entry.get("pattern") or "")
            or not str(entry.get("reason") or "").strip()
        ):
            problems.append(f"{where}: entry {index} needs a pattern and a reason")
            continue
        try:
            path_pattern = re.compile(str(entry["path"])) if entry.get("path") else None
            allow.append(
                SecretAllow(
                    re.compile(str(entry["pattern"])), str(entry["reason"]).strip(), path_pattern, f"entry {index}"
                )
            )
        except re.error as exc:
            problems.append(f"{where}: entry {index}: not a regular expression: {exc}")
    return allow, problems


def _allowed_by(allowlist: Sequence[SecretAllow], site: SecretSite, finding: SecretFinding) -> SecretAllow | None:
    for entry in allowlist:
        if entry.path is not None and not entry.path.search(site.where):
            continue
        if any(m.start() <= finding.start and finding.end <= m.end() for m in entry.pattern.finditer(site.value)):
            return entry
    return None


def _redacted(site: SecretSite, finding: SecretFinding) -> str:
    """Where the secret sits, without it: connection strings keep their shape."""
    if finding.what.startswith("a password in a connection string"):
        return one_line(site.value[: finding.start] + "***" + site.value[finding.end :])[:120]
    if "high-entropy" in finding.what:
        return "not shown"
    return f"{len(finding.secret)} characters, not shown"


def _secret_origin(leaves: Sequence[dict[str, Any]], site: SecretSite, finding: SecretFinding) -> str:
    """The values file and key the flagged string came from, when a values leaf holds it."""
    for leaf in leaves:
        value = leaf["value"]
        if isinstance(value, str) and finding.secret in value and value in site.value:
            return f"; set in {leaf['file']} at {leaf['key']}"
    return ""


def check_secret_values(ctx: Context) -> CheckResult:
    """Secret-shaped values in rendered and plain manifests, whatever their name: connection
    strings with a password, key=value credentials, a secret-named env var or data key with a
    literal value, detect-secrets' token formats, high-entropy strings. Known-safe values are
    listed, with the reason, in infrastructure/validation/secret-allowlist.yaml."""
    result = CheckResult("secret-values")
    layout = ctx.layout
    _detect_secrets()
    allowlist, problems = load_secret_allowlist(layout)
    result.failures += problems
    outcome = ctx.rendered()
    groups: list[tuple[list[Manifest], list[dict[str, Any]]]] = [
        (render.manifests, values_leaves(render.layers)) for render in outcome.renders
    ]
    for path in plain_manifest_files(layout):
        groups.append((manifests_from_file(path, layout)[0], []))
    used: set[str] = set()
    result.counts = {"objects": 0, "strings": 0, "allowlisted": 0}
    for manifests, leaves in groups:
        for manifest in manifests:
            result.count("objects")
            for site in secret_sites(manifest.body):
                result.count("strings")
                for finding in find_secrets(site):
                    entry = _allowed_by(allowlist, site, finding)
                    if entry is not None:
                        used.add(entry.label)
                        result.count("allowlisted")
                        continue
                    result.failures.append(
                        f"{manifest.source}: {manifest.ref} {site.where}: {finding.what} "
                        f"({_redacted(site, finding)}{_secret_origin(leaves, site, finding)})"
                    )
    if result.failures:
        result.notes.append(
            "secrets come from Vault: reference them (vault://..., /vault/secrets/<file>); a flagged value "
            f"that is not a secret goes in {layout.rel(layout.validation / SECRET_ALLOWLIST)} with the reason"
        )
    result.notes += [
        f"{layout.rel(layout.validation / SECRET_ALLOWLIST)}: {entry.label} ({entry.pattern.pattern}) allowed nothing"
        for entry in allowlist
        if entry.label not in used
    ]
    result.failures += unrendered_failures(outcome)
    return result
