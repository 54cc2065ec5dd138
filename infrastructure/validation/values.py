"""Helm values: files layered as Helm merges them, the file that sets each key, and failures
of values.schema.json or Helm's own errors said as ``<values file>: <key>: <reason>``."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from infrastructure.validation.core import one_line
from infrastructure.validation.manifests import plain_data


def load_values(values_file: Path | None) -> dict[str, Any]:
    """A values file as a mapping (empty for none); raises ValueError when it is not one."""
    if values_file is None:
        return {}
    values = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError("a values file must be a mapping")
    return dict(plain_data(values))


def release_values(chart_dir: Path, env: str) -> dict[str, Any]:
    """What Argo CD layers over a chart's values.yaml for ``env`` (infrastructure/argocd/applicationset.yaml's
    valueFiles): what Terraform built (``../environments/<env>.yaml``), then ``values-<env>.yaml``."""
    return coalesce(
        load_values(chart_dir.parent / "environments" / f"{env}.yaml"), load_values(chart_dir / f"values-{env}.yaml")
    )


def coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: later files win key by key; a null removes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def key_text(path: Sequence[Any]) -> str:
    """A values key as a user writes it: ``image.tag``, ``env[0].name``, ``annotations."a.b/c"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = str(part)
            name = json.dumps(name) if "." in name or not name else name
            text += f".{name}" if text else name
    return text or "<root>"


def _lookup(tree: Any, path: Sequence[Any]) -> tuple[bool, int]:
    """Whether the path exists in a values tree, and how many of its leading keys do."""
    node = tree
    for depth, part in enumerate(path):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            return False, depth
        node = node[part]
    return True, len(path)


def values_leaves(layers: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every leaf of the merged values as {key, value, file}: the file is the last to set it."""
    leaves: dict[str, dict[str, Any]] = {}

    def walk(node: Any, path: list[Any], file: str) -> None:
        if isinstance(node, dict) and node:
            for key, item in node.items():
                walk(item, [*path, key], file)
            return
        key = key_text(path)
        if node is None:
            # A null removes the key and everything under it, as in Helm.
            for known in [k for k in leaves if k == key or k.startswith(f"{key}.")]:
                del leaves[known]
        else:
            leaves[key] = {"key": key, "value": node, "file": file}

    for file, tree in layers:
        walk(tree, [], file)
    return list(leaves.values())


def values_origin(layers: Sequence[tuple[str, dict[str, Any]]], path: Sequence[Any]) -> str:
    """The values file that sets a key (the last one to, as Helm merges), else the one that sets
    most of its parents (where a missing key would go)."""
    if not layers:
        return "values"
    best, best_depth = layers[-1][0], -1
    for name, tree in reversed(layers):
        found, depth = _lookup(tree, path)
        if found:
            return name
        if depth > best_depth:
            best, best_depth = name, depth
    return best


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _schema_problems(error: Any) -> list[tuple[list[Any], str]]:
    """(key path, reason in words) for one jsonschema error; some errors name several keys."""
    import jsonschema

    path = list(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        extras = [k for k in instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [([*path, key], f"unknown key{hint}") for key in extras]
    if kind == "required" and isinstance(instance, dict):
        return [([*path, key], "is required but not set") for key in expected if key not in instance]
    if kind == "type":
        wanted = " or ".join(
            str(_JSON_TYPES.get(t, t)) for t in (expected if isinstance(expected, list) else [expected])
        )
        reason = f"must be {wanted}, not {_JSON_TYPES.get(_json_type(instance), 'this')} {_short(instance)}"
    elif kind == "not" and isinstance(expected, dict) and "const" in expected:
        reason = f"must not be {_short(expected['const'])}"
    elif kind == "not" and isinstance(expected, dict) and "enum" in expected:
        reason = f"must not be any of {', '.join(map(_short, expected['enum']))} (got {_short(instance)})"
    elif kind == "not":
        reason = f"{_short(instance)} must not match {_short(expected)}"
    elif kind == "enum":
        reason = f"must be one of {', '.join(map(_short, expected))}, not {_short(instance)}"
    elif kind == "const":
        reason = f"must be {_short(expected)}, not {_short(instance)}"
    elif kind == "pattern":
        reason = f"{_short(instance)} does not match the pattern {expected}"
    elif kind in ("oneOf", "anyOf") and error.context:
        return _schema_problems(jsonschema.exceptions.best_match(error.context))
    else:
        reason = error.message
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        reason += f" ({description})"
    return [(path, reason)]


def values_schema_problems(chart_dir: Path, layers: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """``<values file>: <key>: <reason>`` for each way the merged values break values.schema.json."""
    schema_path = chart_dir / "values.schema.json"
    if not schema_path.is_file():
        return []
    import jsonschema

    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_class.check_schema(schema)
    except (json.JSONDecodeError, jsonschema.SchemaError) as exc:
        return [f"{schema_path.name} is not a valid JSON schema: {one_line(str(exc))[:300]}"]
    merged: dict[str, Any] = {}
    for _, tree in layers:
        merged = coalesce(merged, tree)
    problems: list[str] = []
    for error in sorted(validator_class(schema).iter_errors(merged), key=lambda e: list(map(str, e.absolute_path))):
        for path, reason in _schema_problems(error):
            problems.append(f"{values_origin(layers, path)}: {key_text(path)}: {reason} (values.schema.json)")
    return problems


# Helm's schema errors: "- at '/image/tag': 'not' failed".
_HELM_SCHEMA_LINE = re.compile(r"^- at '(?P<pointer>[^']*)': (?P<reason>.+)$")


def helm_error(message: str, layers: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Helm's error on one line, its schema lines turned into ``<values file>: <key>: <reason>``."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    parts = []
    for line in lines:
        match = _HELM_SCHEMA_LINE.match(line)
        if match is None:
            parts.append(line)
            continue
        path: list[Any] = [
            int(p) if p.isdigit() else p.replace("~1", "/").replace("~0", "~")
            for p in match["pointer"].strip("/").split("/")
            if p
        ]
        parts.append(f"{values_origin(layers, path)}: {key_text(path)}: {match['reason']}")
    return one_line("; ".join(parts))
