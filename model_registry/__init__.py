"""The model registry: MLflow registry with semantic versions and aliases, lineage, the
compatibility matrix, and the register / promote pipeline steps."""

from model_registry.registry import ModelRegistry, VersionInfo
from model_registry.steps import promote_step, register_step, registry_for

__all__ = ["ModelRegistry", "VersionInfo", "promote_step", "register_step", "registry_for"]
