"""The registry's section of the platform config: ``registry``."""

from __future__ import annotations

from mlops.config import StrictModel


class RegistryConfig(StrictModel):
    # None: SQLite under the state folder.
    tracking_uri: str | None = None
    artifact_root: str | None = None


__all__ = ["RegistryConfig"]
