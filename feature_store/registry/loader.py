"""feature_store.yaml templates per environment, and the RepoConfig built from them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from feature_store.config import FeatureConfig
from mlops.config import SECRET_SCHEMES, deep_merge
from mlops.errors import FeatureStoreError

if TYPE_CHECKING:
    from feast import RepoConfig

TEMPLATE_DIR = Path(__file__).parent
# Platform environment -> template files, merged left to right (later files override keys).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "dev": ("local.yaml",),
    "local-stack": ("local-stack.yaml",),
    "staging": ("cluster.yaml", "staging.yaml"),
    "prod": ("cluster.yaml", "prod.yaml"),
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_paths(environment: str) -> list[Path]:
    try:
        names = TEMPLATES[environment]
    except KeyError:
        raise FeatureStoreError(
            f"no feature store template for environment {environment!r} (known: {', '.join(TEMPLATES)})"
        ) from None
    return [TEMPLATE_DIR / name for name in names]


def load_template(environment: str) -> dict[str, Any]:
    """The merged template, ``${VAR}`` references left in place."""
    merged: dict[str, Any] = {}
    for path in template_paths(environment):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise FeatureStoreError(f"{path}: expected a mapping at the top level")
        merged = deep_merge(merged, data)
    return merged


def feature_store_yaml(environment: str) -> str:
    """A complete feature_store.yaml for ``environment`` with ``${VAR}`` references kept.

    Feast expands environment variables itself when it loads the file, so this text can go
    into a ConfigMap while the secrets arrive as Vault-injected environment variables.
    """
    return yaml.safe_dump(load_template(environment), sort_keys=False)


def template_variables(value: Any) -> set[str]:
    """Names of every ``${VAR}`` referenced anywhere in a parsed template."""
    if isinstance(value, dict):
        return set().union(*(template_variables(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(template_variables(v) for v in value)) if value else set()
    return set(_VARIABLE.findall(value)) if isinstance(value, str) else set()


def _substitute(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: variables[m.group(1)], value)
    return value


def render_template(environment: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """The template with every ``${VAR}`` replaced; unset variables are named in the error.

    Substitution works on parsed values, so a value containing YAML syntax cannot change the
    structure of the file.
    """
    template = load_template(environment)
    missing = sorted(name for name in template_variables(template) if not variables.get(name))
    if missing:
        raise FeatureStoreError(
            f"feature store config for {environment!r} needs these variables set: {', '.join(missing)}"
        )
    rendered: dict[str, Any] = _substitute(template, variables)
    return rendered


# Template variables the app fills itself (repo_settings): the state folder always, Redis' host:port
# from the platform config's features.redis_connection when it is set.
SET_BY_APP = frozenset({"FEAST_STATE_DIR"})
FROM_REDIS_CONNECTION = "REDIS_CONNECTION"


def repo_settings(
    state_dir: Path,
    config: FeatureConfig | None = None,
    *,
    environment: str = "dev",
    environ: Mapping[str, str] | None = None,
    resolve: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The rendered feature_store.yaml content for ``environment`` (secrets substituted).

    Local paths live under ``state_dir``. ``config.redis_connection`` fills
    ``${REDIS_CONNECTION}``, and ``config.online_store == "redis"`` also moves a dev store
    onto that Redis. ``config.variables`` fill the others (over the environment's); secret
    references among them go through ``resolve`` (default: the process-wide secret resolver).
    So does an environment variable of the template that holds a reference rather than a value:
    the KFP step pods get ``vault://`` references for the Feast passwords (the pipelines chart's
    step environment) and resolve them with their own Vault login.
    """
    config = config or FeatureConfig()
    state_dir = state_dir.resolve()
    environ = os.environ if environ is None else environ
    variables = {name: environ[name] for name in template_variables(load_template(environment)) if name in environ}
    variables["FEAST_STATE_DIR"] = str(state_dir)
    if config.redis_connection:
        variables[FROM_REDIS_CONNECTION] = config.redis_connection
    variables.update(config.variables)
    for name, value in variables.items():
        if value.startswith(SECRET_SCHEMES):
            from mlops.secrets import resolve_secret

            variables[name] = (resolve or resolve_secret)(value)
    raw = render_template(environment, variables)
    if environment == "dev" and config.online_store == "redis":
        if not config.redis_connection:
            raise FeatureStoreError("features.online_store is redis but features.redis_connection is unset")
        raw["online_store"] = {"type": "redis", "connection_string": config.redis_connection}
    return raw


def repo_config(
    state_dir: Path,
    config: FeatureConfig | None = None,
    *,
    environment: str = "dev",
    environ: Mapping[str, str] | None = None,
    resolve: Callable[[str], str] | None = None,
) -> RepoConfig:
    """The Feast ``RepoConfig`` of :func:`repo_settings`.

    Feast validates store configs by importing their modules, so the cluster environments
    need the ``feast[redis,postgres]`` extras installed.
    """
    from feast import RepoConfig

    raw = repo_settings(state_dir, config, environment=environment, environ=environ, resolve=resolve)
    try:
        return RepoConfig(repo_path=state_dir.resolve(), **raw)
    except Exception as exc:  # pydantic and import errors alike: one line naming the environment
        raise FeatureStoreError(f"invalid Feast config for {environment!r}: {exc}") from exc
