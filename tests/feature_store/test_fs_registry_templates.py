"""feature_store.yaml templates: they parse, hold no literal secrets, and render to RepoConfig."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from feature_store.config import FeatureConfig
from feature_store.registry import (
    TEMPLATE_DIR,
    TEMPLATES,
    feature_store_yaml,
    load_template,
    render_template,
    repo_config,
    repo_settings,
    template_variables,
)
from mlops.config import ENVIRONMENTS
from mlops.errors import FeatureStoreError

SECRET_KEY = re.compile(r"password|secret|token|credential|api_key", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
# password=... inside connection strings and user:password@ inside URLs.
INLINE_PASSWORD = re.compile(r"password=(?!\$\{)|://[^/@\s]*:(?!\$\{)[^/@\s]+@")

CLUSTER_VARS = {
    "FEAST_REGISTRY_USER": "feast",
    "FEAST_REGISTRY_PASSWORD": "registry-pw",  # pragma: allowlist secret
    "FEAST_POSTGRES_HOST": "pg.feature-store.svc",
    "FEAST_OFFLINE_USER": "offline",
    "FEAST_OFFLINE_PASSWORD": "offline-pw",  # pragma: allowlist secret
    "REDIS_PASSWORD": "redis-pw",  # pragma: allowlist secret
}


def literal_secrets(node: Any, path: str = "") -> list[str]:
    """Dotted paths of values that look like secrets written in clear."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)) and not (isinstance(value, str) and REFERENCE.match(value)):
                found.append(where)
            found += literal_secrets(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += literal_secrets(value, f"{path}[{i}]")
    elif isinstance(node, str) and INLINE_PASSWORD.search(node):
        found.append(path)
    return found


def template_files() -> list[Path]:
    return sorted(TEMPLATE_DIR.glob("*.yaml"))


def test_every_platform_environment_has_a_template() -> None:
    assert set(TEMPLATES) == set(ENVIRONMENTS)
    used = {name for names in TEMPLATES.values() for name in names}
    assert used == {p.name for p in template_files()}


@pytest.mark.parametrize("path", template_files(), ids=lambda p: p.name)
def test_template_parses_and_holds_no_literal_secret(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    assert data
    assert literal_secrets(data) == []


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_cluster_templates_take_every_secret_from_the_environment(environment: str) -> None:
    merged = load_template(environment)
    assert literal_secrets(merged) == []
    assert {"REDIS_PASSWORD", "FEAST_REGISTRY_PASSWORD", "FEAST_OFFLINE_PASSWORD"} <= template_variables(merged)
    assert merged["online_store"]["type"] == "redis"
    assert merged["registry"]["registry_type"] == "sql"
    assert merged["offline_store"]["type"] == "postgres"


def test_secret_checker_flags_clear_text() -> None:
    assert literal_secrets({"db": {"password": "hunter2"}}) == ["db.password"]  # pragma: allowlist secret
    assert literal_secrets({"online_store": {"connection_string": "redis:6379,password=hunter2"}}) == [
        "online_store.connection_string"
    ]
    url = "postgresql://u:hunter2@h/db"  # pragma: allowlist secret
    assert literal_secrets({"registry": {"path": url}}) == ["registry.path"]
    assert literal_secrets({"registry": {"path": "postgresql://u:${PW}@h/db"}, "password": "${PW}"}) == []


def test_prod_overlay_changes_only_its_keys() -> None:
    staging, prod = load_template("staging"), load_template("prod")
    assert prod["online_store"]["redis_type"] == "redis_cluster"
    assert "ssl=true" in prod["online_store"]["connection_string"]
    assert staging["offline_store"] == prod["offline_store"]
    assert "${REDIS_PASSWORD}" in feature_store_yaml("prod")


def test_render_names_every_unset_variable() -> None:
    with pytest.raises(FeatureStoreError) as info:
        render_template("prod", {"REDIS_PASSWORD": "x"})
    message = str(info.value)
    assert "FEAST_OFFLINE_PASSWORD" in message
    assert "REDIS_CONNECTION" in message
    assert "REDIS_PASSWORD" not in message


def test_cluster_settings_use_platform_redis_and_env_secrets(tmp_path: Path) -> None:
    config = FeatureConfig(online_store="redis", redis_connection="redis-master.feature-store.svc:6379")
    settings = repo_settings(tmp_path, config, environment="prod", environ=CLUSTER_VARS)
    assert "${" not in yaml.safe_dump(settings)
    assert settings["online_store"]["connection_string"] == (
        "redis-master.feature-store.svc:6379,password=redis-pw,ssl=true"
    )
    assert settings["registry"]["path"] == (
        "postgresql+psycopg://feast:registry-pw@pg.feature-store.svc:5432/feast_registry"  # pragma: allowlist secret
    )
    assert settings["offline_store"]["password"] == "offline-pw"  # pragma: allowlist secret


def test_environment_variables_holding_references_are_resolved(tmp_path: Path) -> None:
    """A KFP step pod's environment (the pipelines chart's step environment) carries vault://
    references for the Feast passwords: each is resolved once, with the given resolver; a
    variable the template does not read is neither resolved nor used."""
    asked: list[str] = []

    def resolve(reference: str) -> str:
        asked.append(reference)
        return "resolved-" + reference.rsplit("#", 1)[-1]

    ref = "vault://secret/mlops/prod/feature-store#"
    environ = {
        **CLUSTER_VARS,
        "FEAST_REGISTRY_PASSWORD": ref + "registry_password",  # pragma: allowlist secret
        "FEAST_OFFLINE_PASSWORD": ref + "offline_password",  # pragma: allowlist secret
        "UNRELATED": "vault://secret/mlops/prod/other#key",
    }
    config = FeatureConfig(online_store="redis", redis_connection="redis-master.feature-store.svc:6379")
    settings = repo_settings(tmp_path, config, environment="prod", environ=environ, resolve=resolve)
    assert sorted(asked) == [
        "vault://secret/mlops/prod/feature-store#offline_password",
        "vault://secret/mlops/prod/feature-store#registry_password",
    ]
    assert settings["offline_store"]["password"] == "resolved-offline_password"  # pragma: allowlist secret
    assert ":resolved-registry_password@" in settings["registry"]["path"]


def test_local_repo_config_keeps_everything_under_the_state_dir(tmp_path: Path) -> None:
    repo = repo_config(tmp_path / "feast", FeatureConfig(), environ={})
    state = str((tmp_path / "feast").resolve())
    assert repo.registry.path == f"{state}/registry.db"
    assert repo.online_store.path == f"{state}/online.db"
    assert repo.offline_store.type == "file"
    assert repo.provider == "local"
    assert repo.repo_path == (tmp_path / "feast").resolve()


def test_local_redis_needs_a_connection(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match="redis_connection is unset"):
        repo_config(tmp_path, FeatureConfig(online_store="redis"), environ={})


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_cluster_repo_config_loads_in_feast(tmp_path: Path, environment: str) -> None:
    # Feast imports the Redis and Postgres store modules to validate them: the image's
    # feast[redis,postgres] extras must be installed for the cluster environments to start.
    config = FeatureConfig(online_store="redis", redis_connection="redis-master.feature-store.svc:6379")
    repo = repo_config(tmp_path, config, environment=environment, environ=CLUSTER_VARS)
    assert repo.online_store.type == "redis"
    assert repo.offline_store.type == "postgres"
    assert repo.registry.registry_type == "sql"
