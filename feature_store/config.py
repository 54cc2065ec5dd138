"""The feature store's section of the platform config: ``features``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

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
    # Values of the feature_store.yaml template's ${VAR}s (local-stack: hosts, ports and
    # passwords). A value that is a secret reference (env://, file://, vault://) is resolved
    # when the store is opened, so no password is written in a config file.
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [name for name in v if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        if bad:
            raise ValueError(f"template variable names (letters, digits, _), got {', '.join(map(repr, bad))}")
        return v


__all__ = ["FeatureConfig"]
