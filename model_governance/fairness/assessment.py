"""Group-fairness assessment of binary predictions, decided against a :class:`FairnessGate`.

For every sensitive attribute (one column of ``sensitive``) a fairlearn ``MetricFrame`` gives the
by-group count, selection rate, accuracy, true-positive rate and false-positive rate, and
fairlearn's ``demographic_parity_difference`` / ``equalized_odds_difference`` (between groups,
worst case) measure the gaps.

Small groups: a group with fewer than ``gate.min_group_size`` rows stays in the by-group table
(``in_gate`` is false) but its rows are removed before the two differences that decide the gate
are computed, because the rates of a handful of rows swing on noise and would fail (or pass)
the gate by chance. The differences over *all* groups are reported alongside, for reading only.
An attribute with fewer than two groups of the minimum size cannot be compared: it passes,
its decision differences are ``None`` and the report carries a warning naming it.

Inputs are matched by position (the index of a Series or DataFrame is ignored), and missing
sensitive values form their own group, labelled ``(missing)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from mlops.config import FairnessGate

MISSING_GROUP = "(missing)"
SpreadMetric = Literal["selection_rate", "true_positive_rate", "false_positive_rate"]


class GroupRow(TypedDict):
    """One row of the by-group table (rates are ``None`` when undefined)."""

    group: str
    count: int
    selection_rate: float | None
    accuracy: float | None
    true_positive_rate: float | None
    false_positive_rate: float | None
    in_gate: bool


@dataclass(frozen=True)
class AttributeFairness:
    """Fairness of the predictions with respect to one sensitive attribute.

    ``demographic_parity_difference`` and ``equalized_odds_difference`` are computed over the
    groups with ``in_gate`` true and decide ``passed``; the ``*_all_groups`` values include the
    small groups and are informational.
    """

    attribute: str
    groups: list[GroupRow]
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    demographic_parity_difference_all_groups: float | None
    equalized_odds_difference_all_groups: float | None
    excluded_groups: list[str]
    passed: bool


@dataclass(frozen=True)
class FairnessReport:
    """The fairness gate's result: a value to record and act on, never an exception."""

    passed: bool
    per_attribute: dict[str, AttributeFairness]
    violations: list[str]
    warnings: list[str] = field(default_factory=list)
    thresholds: dict[str, float | int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (``json.dumps`` works on it as is)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessReport:
        """Rebuild a report written by :meth:`to_dict` (e.g. read back from ``fairness.json``)."""
        per_attribute = {
            name: AttributeFairness(
                **{**attr, "groups": [_group_row(row) for row in attr["groups"]]},
            )
            for name, attr in data["per_attribute"].items()
        }
        return cls(
            passed=data["passed"],
            per_attribute=per_attribute,
            violations=list(data["violations"]),
            warnings=list(data.get("warnings", [])),
            thresholds=dict(data.get("thresholds", {})),
        )


def assess_fairness(
    y_true: Sequence[int] | np.ndarray | pd.Series,
    y_pred: Sequence[int] | np.ndarray | pd.Series,
    sensitive: pd.DataFrame,
    gate: FairnessGate,
) -> FairnessReport:
    """Assess binary (0/1) predictions per column of ``sensitive`` and decide the gate.

    Raises ``ValueError`` when the inputs do not line up or are not binary labels: those are
    caller bugs, whereas an unfair model is a failed *result*.
    """
    truth = _binary_array(y_true, "y_true")
    pred = _binary_array(y_pred, "y_pred")
    if not isinstance(sensitive, pd.DataFrame) or sensitive.shape[1] == 0:
        raise ValueError("sensitive must be a DataFrame with at least one column")
    if not len(truth) == len(pred) == len(sensitive):
        raise ValueError(
            f"y_true ({len(truth)}), y_pred ({len(pred)}) and sensitive ({len(sensitive)}) "
            "must have the same number of rows"
        )
    if len(truth) == 0:
        raise ValueError("no rows to assess")

    per_attribute: dict[str, AttributeFairness] = {}
    violations: list[str] = []
    warnings: list[str] = []
    for column in sensitive.columns:
        name = str(column)
        result, attr_violations, attr_warning = _assess_attribute(
            name, truth, pred, _group_labels(sensitive[column]), gate
        )
        per_attribute[name] = result
        violations.extend(attr_violations)
        if attr_warning:
            warnings.append(attr_warning)
    return FairnessReport(
        passed=not violations,
        per_attribute=per_attribute,
        violations=violations,
        warnings=warnings,
        thresholds=gate.model_dump(),
    )


def _assess_attribute(
    name: str, truth: np.ndarray, pred: np.ndarray, groups: np.ndarray, gate: FairnessGate
) -> tuple[AttributeFairness, list[str], str | None]:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rows = _group_table(truth, pred, groups, gate.min_group_size)
    gated = [r["group"] for r in rows if r["in_gate"]]
    excluded = [r["group"] for r in rows if not r["in_gate"]]

    dp_all = _num(demographic_parity_difference(truth, pred, sensitive_features=groups))
    eo_all = _num(equalized_odds_difference(truth, pred, sensitive_features=groups))

    if len(gated) < 2:
        warning = (
            f"{name}: fewer than two groups with at least {gate.min_group_size} rows "
            f"({len(gated)} of {len(rows)}); the attribute cannot be compared and does not decide the gate"
        )
        result = AttributeFairness(name, rows, None, None, dp_all, eo_all, excluded, passed=True)
        return result, [], warning

    mask = np.isin(groups, gated)
    dp = _num(demographic_parity_difference(truth[mask], pred[mask], sensitive_features=groups[mask]))
    eo = _num(equalized_odds_difference(truth[mask], pred[mask], sensitive_features=groups[mask]))
    gated_rows = [r for r in rows if r["in_gate"]]

    violations = []
    limit = gate.max_demographic_parity_difference
    if dp is not None and dp > limit:
        violations.append(
            f"{name}: demographic_parity_difference = {dp:.4f} exceeds the maximum {limit:.4f} "
            f"({_spread(gated_rows, 'selection_rate')})"
        )
    limit = gate.max_equalized_odds_difference
    if eo is not None and eo > limit:
        violations.append(
            f"{name}: equalized_odds_difference = {eo:.4f} exceeds the maximum {limit:.4f} "
            f"({_spread(gated_rows, 'true_positive_rate')}; {_spread(gated_rows, 'false_positive_rate')})"
        )
    result = AttributeFairness(name, rows, dp, eo, dp_all, eo_all, excluded, passed=not violations)
    return result, violations, None


def _group_table(truth: np.ndarray, pred: np.ndarray, groups: np.ndarray, min_size: int) -> list[GroupRow]:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=truth,
        y_pred=pred,
        sensitive_features=pd.Series(groups, name="group"),
    )
    rows: list[GroupRow] = []
    for group, values in frame.by_group.iterrows():
        size = int(values["count"])
        rows.append(
            GroupRow(
                group=str(group),
                count=size,
                selection_rate=_num(values["selection_rate"]),
                accuracy=_num(values["accuracy"]),
                true_positive_rate=_num(values["true_positive_rate"]),
                false_positive_rate=_num(values["false_positive_rate"]),
                in_gate=size >= min_size,
            )
        )
    return rows


def _group_row(row: dict[str, Any]) -> GroupRow:
    return GroupRow(
        group=str(row["group"]),
        count=int(row["count"]),
        selection_rate=row["selection_rate"],
        accuracy=row["accuracy"],
        true_positive_rate=row["true_positive_rate"],
        false_positive_rate=row["false_positive_rate"],
        in_gate=bool(row["in_gate"]),
    )


def _spread(rows: list[GroupRow], metric: SpreadMetric) -> str:
    """'<metric> <lowest group> x vs <highest group> y' over the rows with a defined value."""
    defined = [(value, r["group"]) for r in rows if (value := r[metric]) is not None]
    if not defined:
        return f"{metric} undefined"
    (lo, lo_group), (hi, hi_group) = min(defined), max(defined)
    return f"{metric} {lo_group} {lo:.4f} vs {hi_group} {hi:.4f}"


def _binary_array(values: Sequence[int] | np.ndarray | pd.Series, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(int)
    unexpected = set(pd.unique(array).tolist()) - {0, 1}
    if unexpected:
        shown = sorted(map(str, unexpected))[:5]
        raise ValueError(f"{name} must hold binary labels 0/1 (predicted classes, not scores); got {shown}")
    return array.astype(int)


def _group_labels(column: pd.Series) -> np.ndarray:
    labels = column.astype(object).where(column.notna(), MISSING_GROUP)
    return labels.astype(str).to_numpy()


def _num(value: Any) -> float | None:
    """A plain float, or None for NaN/inf, so the report stays valid JSON."""
    number = float(value)
    return number if math.isfinite(number) else None
