"""The platform config: ``config/platform.yaml`` with an environment overlay, composed of the
sections each room owns, and a training run's :class:`RunConfig`.

This package sits above the rooms and below the components: a room never sees the whole
platform config, only its own section (and the state folder) handed to it by a component or
the CLI. Kernel-level parts (Vault, datasets, secrets policy) stay in :mod:`mlops.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator

from data_quality.config import QualityGate
from feature_store.config import FeatureConfig
from mlops.config import (
    ENVIRONMENTS,
    DatasetConfig,
    StrictModel,
    VaultConfig,
    deep_merge,
    read_yaml,
    validation_to_config_error,
)
from mlops.errors import ConfigError
from mlops.object_store import ObjectStoreConfig
from model_governance.config import FairnessGate
from model_registry.config import RegistryConfig
from observability.prediction_log import PredictionLogConfig
from observability.status import SloConfig
from privacy.config import PrivacyConfig
from training.config import EvaluationGate, ModelConfig

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry
    from serving.stores import ServingStores


class KfpConfig(StrictModel):
    image: str = Field(default="ghcr.io/mlops-platform/platform:0.1.0", pattern=r"^[^:\s]+:[^:\s]+$")
    pipeline_root: str | None = None

    @field_validator("image")
    @classmethod
    def _no_latest(cls, v: str) -> str:
        if v.endswith(":latest"):
            raise ValueError("a pinned image tag, not ':latest'")
        return v


class PlatformConfig(StrictModel):
    """``config/platform.yaml`` merged with ``config/environments/<env>.yaml``."""

    environment: Literal["dev", "local-stack", "staging", "prod"] = "dev"
    state_dir: Path = Path(".mlops")
    default_dataset: Path = Path("config/datasets/credit_risk.yaml")
    model: ModelConfig = ModelConfig()
    quality: QualityGate = QualityGate()
    evaluation: EvaluationGate = EvaluationGate()
    fairness: FairnessGate = FairnessGate()
    features: FeatureConfig = FeatureConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    registry: RegistryConfig = RegistryConfig()
    kfp: KfpConfig = KfpConfig()
    vault: VaultConfig = VaultConfig()
    # Where s3:// datasets (and backups) live; credentials as secret references.
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    prediction_log: PredictionLogConfig = PredictionLogConfig()
    # The targets `mlops monitor status` judges (the alert rules carry the same thresholds).
    slo: SloConfig = SloConfig()

    def open_registry(self) -> ModelRegistry:
        """The model registry this platform config names (SQLite under the state folder by default)."""
        from model_registry.steps import registry_for

        return registry_for(self.registry, self.state_dir)

    def serving_stores(self) -> ServingStores:
        """Where ``mlops serve`` finds models, online features and its shadow log."""
        from serving.stores import ServingStores

        return ServingStores(
            registry=self.open_registry(),
            state_dir=self.state_dir,
            features=self.features,
            environment=self.environment,
            prediction_log=self.prediction_log,
        )


class RunConfig(StrictModel):
    """The configuration of one training run: the platform config and the dataset's.

    It travels between the steps as one JSON parameter, validated once at each step's entry.
    """

    platform: PlatformConfig
    dataset: DatasetConfig
    # Why the run started: "manual", or the retraining trigger that fired and its figures
    # (recorded in the registered version's lineage and the run folder).
    reason: str = Field(default="manual", min_length=1, max_length=500)

    def dump(self) -> str:
        return self.model_dump_json()

    @classmethod
    def parse(cls, text: str) -> RunConfig:
        return cls.model_validate_json(text)


def load_platform_config(config_dir: Path = Path("config"), environment: str = "dev") -> PlatformConfig:
    """``platform.yaml`` with the environment overlay merged over it."""
    if environment not in ENVIRONMENTS:
        raise ConfigError(config_dir / "environments", "environment", f"one of {', '.join(ENVIRONMENTS)}")
    base_path = config_dir / "platform.yaml"
    overlay_path = config_dir / "environments" / f"{environment}.yaml"
    merged = deep_merge(read_yaml(base_path), read_yaml(overlay_path))
    merged["environment"] = environment
    # Errors point at the overlay when the key comes from it, else at the base file.
    try:
        return PlatformConfig.model_validate(merged)
    except ValidationError as exc:
        overlay = read_yaml(overlay_path)
        first = exc.errors()[0]["loc"]
        node: Any = overlay
        for part in first:
            node = node.get(part) if isinstance(node, dict) else None
        culprit = overlay_path if node is not None else base_path
        raise validation_to_config_error(culprit, exc) from None


__all__ = ["KfpConfig", "PlatformConfig", "RunConfig", "load_platform_config"]
