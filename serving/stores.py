"""Where the online app finds what it serves: the parts of the platform config it needs.

The CLI (or a test) builds it from the platform config (``PlatformConfig.serving_stores()``);
serving never reads the whole platform config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feature_store.config import FeatureConfig
    from model_registry.registry import ModelRegistry
    from observability.prediction_log import PredictionLogConfig


@dataclass(frozen=True)
class ServingStores:
    registry: ModelRegistry
    # The state folder: the Feast repository and the shadow comparison log live under it.
    state_dir: Path
    features: FeatureConfig
    # Picks the Feast registry template (feature_store/registry/<environment>).
    environment: str
    # What was scored goes to the prediction log (None or not enabled: nothing is logged).
    prediction_log: PredictionLogConfig | None = None


__all__ = ["ServingStores"]
