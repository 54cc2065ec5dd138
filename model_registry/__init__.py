"""The model registry: MLflow registry with semantic versions and aliases, lineage, the
compatibility matrix, and the register / promote pipeline steps.

    config      RegistryConfig: this room's section of the platform config
    registry    ModelRegistry, VersionInfo (MLflow, imported lazily)
    versioning  semantic versions allocated from MLflow's own numbering
    steps       registry_for, register_step, promote_step

Nothing is imported here, so reading the config section stays cheap.
"""

__all__ = ["config", "registry", "steps", "versioning"]
