"""Retraining triggers declared in ``config/retraining_triggers.yaml``."""

from observability.triggers.config import RetrainingTriggersConfig

__all__ = ["RetrainingTriggersConfig"]
