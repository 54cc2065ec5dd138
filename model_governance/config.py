"""The governance room's section of the platform config: ``fairness`` (the gate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops.config import StrictModel


class FairnessGate(StrictModel):
    max_demographic_parity_difference: float = Field(default=0.2, ge=0, le=1)
    max_equalized_odds_difference: float = Field(default=0.2, ge=0, le=1)
    # Groups smaller than this are reported but do not decide the gate.
    min_group_size: int = Field(default=30, ge=1)
    # An attribute with fewer than two groups of min_group_size rows cannot be assessed:
    # "warn" passes the gate and says so on the card and in the summary; "fail" blocks it.
    not_assessed: Literal["warn", "fail"] = "warn"


__all__ = ["FairnessGate"]
