"""Fairness gate: per-group metrics (fairlearn) for each sensitive attribute, decided by a
:class:`~model_governance.config.FairnessGate`."""

from model_governance.fairness.assessment import (
    MISSING_GROUP,
    AttributeFairness,
    AttributeStatus,
    FairnessReport,
    GroupRow,
    assess_fairness,
)

__all__ = ["MISSING_GROUP", "AttributeFairness", "AttributeStatus", "FairnessReport", "GroupRow", "assess_fairness"]
