"""The feature store's section of the platform config: ``features``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops.config import StrictModel


class FeatureConfig(StrictModel):
    ttl_days: int = Field(default=3650, ge=1)
    # Share of entity rows Feast may drop (no value inside the TTL) before the step fails.
    max_dropped_fraction: float = Field(default=0.0, ge=0, le=1)
    # The online store serves the latest value per entity, so only the most recent window is
    # materialised (None: the whole history; materialising costs ~70 us per value locally).
    online_window_days: int | None = Field(default=30, ge=1)
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str | None = None


__all__ = ["FeatureConfig"]
