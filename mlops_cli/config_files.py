"""Every file under ``config/`` and the model that validates it (``mlops config validate``).

The rooms own the schemas of their files; this table, at the top layer, brings them together
(the kernel cannot import rooms). The environment overlays validate as ``PlatformConfig``
after merging; datasets as ``DatasetConfig``.
"""

from __future__ import annotations

from pathlib import Path

from mlops.config import ENVIRONMENTS, SecretsPolicyConfig, StrictModel, load_dataset_config, load_model
from mlops.errors import ConfigError
from observability.costs import CostOptimizationConfig
from observability.triggers import RetrainingTriggersConfig
from platform_config import PlatformConfig, load_platform_config
from privacy.retention import RetentionConfig
from serving.config import AbTestingConfig, ShadowPolicyConfig

CONFIG_FILES: dict[str, type[StrictModel]] = {
    "platform.yaml": PlatformConfig,
    "cost_optimization.yaml": CostOptimizationConfig,
    "retraining_triggers.yaml": RetrainingTriggersConfig,
    "ab_testing.yaml": AbTestingConfig,
    "secrets_policy.yaml": SecretsPolicyConfig,
    "shadow.yaml": ShadowPolicyConfig,
    "retention.yaml": RetentionConfig,
}


def validate_config_dir(config_dir: Path = Path("config")) -> list[str]:
    """Validate every file under ``config/``; return the names checked (raises on the first error)."""
    checked: list[str] = []
    for name, model in CONFIG_FILES.items():
        if name == "platform.yaml":
            for env in ENVIRONMENTS:
                load_platform_config(config_dir, env)
                checked.append(f"platform.yaml + environments/{env}.yaml")
            continue
        path = config_dir / name
        load_model(path, model)
        checked.append(name)
    for ds in sorted((config_dir / "datasets").glob("*.yaml")):
        load_dataset_config(ds)
        checked.append(f"datasets/{ds.name}")
    known = set(CONFIG_FILES) | {"environments", "datasets"}
    for extra in sorted(p.name for p in config_dir.iterdir()):
        if extra not in known:
            raise ConfigError(config_dir / extra, "", f"a known config file ({', '.join(sorted(CONFIG_FILES))})")
    return checked


__all__ = ["CONFIG_FILES", "validate_config_dir"]
