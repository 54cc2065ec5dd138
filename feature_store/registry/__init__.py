"""Feast repo configuration per environment.

``local.yaml`` (dev: SQLite online store, parquet offline store, file registry under the state
folder), ``local-stack.yaml`` (``make up``'s PostgreSQL for the SQL registry and the offline
store, and Redis) and ``cluster.yaml`` (Redis online store, Postgres offline store and SQL registry) with
the small ``staging.yaml`` / ``prod.yaml`` overlays. Secrets appear only as ``${VAR}``
references. :func:`repo_config` turns a template into a Feast ``RepoConfig``.
"""

from feature_store.registry.loader import (
    TEMPLATE_DIR,
    TEMPLATES,
    feature_store_yaml,
    load_template,
    render_template,
    repo_config,
    repo_settings,
    template_paths,
    template_variables,
)

__all__ = [
    "TEMPLATES",
    "TEMPLATE_DIR",
    "feature_store_yaml",
    "load_template",
    "render_template",
    "repo_config",
    "repo_settings",
    "template_paths",
    "template_variables",
]
