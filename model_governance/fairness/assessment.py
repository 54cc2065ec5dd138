"""Group-fairness assessment of binary predictions, decided against a :class:`FairnessGate`.

For every sensitive attribute (one column of ``sensitive``) a fairlearn ``MetricFrame`` gives the
by-group count, selection rate, accuracy, true-positive rate and false-positive rate, and
fairlearn's ``demographic_parity_difference`` / ``equalized_odds_difference`` (between groups,
worst case) measure the gaps.

Small groups: a group with fewer than ``gate.min_group_size`` rows stays in the by-group table
(``in_gate`` is false) but its rows are removed before the two differences that decide the gate
are computed, because the rates of a handful of rows swing on noise and would fail (or pass)
the gate by chance. The differences over *all* groups are reported alongside, for reading only.
An attribute with fewer than two groups of the minimum size cannot be compared: its status is
``not_assessed`` (neither passed nor failed), its decision differences are ``None``, and
``gate.not_assessed`` decides what that does to the gate: ``warn`` passes it with a warning
naming the attribute, ``fail`` fails it with a violation.

Inputs are matched by position (the index of a Series or DataFrame is ignored), and missing
sensitive values form their own group, labelled ``(missing)``. Groups are listed in natural
order rather than fairlearn's string order, so bins read as a scale: interval labels such as
``[25, 40)`` by their edges, numbers inside labels numerically, ``(missing)`` last; a pandas
categorical column keeps its own category order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from model_governance.config import FairnessGate

MISSING_GROUP = "(missing)"
SpreadMetric = Literal["selection_rate", "true_positive_rate", "false_positive_rate"]
AttributeStatus = Literal["passed", "failed", "not_assessed"]


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
    groups with ``in_gate`` true and decide ``status``; the ``*_all_groups`` values include the
    small groups and are informational. ``not_assessed``: fewer than two groups were large
    enough to compare, so both decision differences are ``None``.
    """

    attribute: str
    groups: list[GroupRow]
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    demographic_parity_difference_all_groups: float | None
    equalized_odds_difference_all_groups: float | None
    excluded_groups: list[str]
    status: AttributeStatus

    @property
    def passed(self) -> bool:
        """Not failed: an attribute that could not be assessed does not count as a failure here
        (whether it blocks the gate is the report's decision, by ``FairnessGate.not_assessed``)."""
        return self.status != "failed"


@dataclass(frozen=True)
class FairnessReport:
    """The fairness gate's result: a value to record and act on, never an exception.

    ``not_assessed`` names the attributes that could not be compared; with the gate's
    ``not_assessed: fail`` each of them is also a violation, with ``warn`` a warning. A report
    with no attribute at all (none declared) passes: see :meth:`without_attributes`.
    """

    passed: bool
    per_attribute: dict[str, AttributeFairness]
    violations: list[str]
    warnings: list[str] = field(default_factory=list)
    thresholds: dict[str, float | int | str] = field(default_factory=dict)
    not_assessed: list[str] = field(default_factory=list)

    @classmethod
    def without_attributes(cls, gate: FairnessGate) -> FairnessReport:
        """The report when the dataset declares no sensitive attribute: nothing to assess.

        ``gate.not_assessed`` decides as for an attribute that cannot be compared: ``fail``
        blocks the gate, ``warn`` passes it with a warning.
        """
        why = "not assessed: the dataset declares no sensitive_attributes"
        if gate.not_assessed == "fail":
            return cls(passed=False, per_attribute={}, violations=[why], thresholds=gate.model_dump())
        return cls(passed=True, per_attribute={}, violations=[], warnings=[why], thresholds=gate.model_dump())

    @property
    def status(self) -> AttributeStatus:
        """The gate's outcome; ``not_assessed`` when it passed without comparing anything."""
        if not self.passed:
            return "failed"
        assessed = [a for a in self.per_attribute.values() if a.status != "not_assessed"]
        return "passed" if assessed else "not_assessed"

    def summary(self) -> str:
        """One line for a run summary: ``pass (sex: passed, Age: not assessed)``, ``fail (...)``,
        or just ``pass`` when there is no attribute."""
        verdict = "pass" if self.passed else "fail"
        if not self.per_attribute:
            return verdict
        parts = [f"{name}: {attr.status.replace('_', ' ')}" for name, attr in self.per_attribute.items()]
        return f"{verdict} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (``json.dumps`` works on it as is).

        Each attribute also carries its ``passed`` flag, so readers of ``fairness.json`` that
        predate ``status`` keep working.
        """
        data = asdict(self)
        for name, attr in self.per_attribute.items():
            data["per_attribute"][name]["passed"] = attr.passed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessReport:
        """Rebuild a report written by :meth:`to_dict` (e.g. read back from ``fairness.json``),
        including one written before ``status`` and ``not_assessed`` existed."""
        per_attribute = {name: _attribute(attr) for name, attr in data["per_attribute"].items()}
        not_assessed = data.get("not_assessed")
        if not_assessed is None:
            not_assessed = [name for name, attr in per_attribute.items() if attr.status == "not_assessed"]
        return cls(
            passed=data["passed"],
            per_attribute=per_attribute,
            violations=list(data["violations"]),
            warnings=list(data.get("warnings", [])),
            thresholds=dict(data.get("thresholds", {})),
            not_assessed=list(not_assessed),
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
    not_assessed: list[str] = []
    for column in sensitive.columns:
        name = str(column)
        labels, order = _group_labels(sensitive[column])
        result, attr_violations, reason = _assess_attribute(name, truth, pred, labels, order, gate)
        per_attribute[name] = result
        violations.extend(attr_violations)
        if reason is not None:
            not_assessed.append(name)
            if gate.not_assessed == "fail":
                violations.append(f"{name}: not assessed: {reason}")
            else:
                warnings.append(f"{name}: not assessed: {reason}; it does not decide the gate")
    return FairnessReport(
        passed=not violations,
        per_attribute=per_attribute,
        violations=violations,
        warnings=warnings,
        thresholds=gate.model_dump(),
        not_assessed=not_assessed,
    )


def _assess_attribute(
    name: str,
    truth: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    order: list[str] | None,
    gate: FairnessGate,
) -> tuple[AttributeFairness, list[str], str | None]:
    """The attribute's result, its violations, and why it was not assessed (None if it was)."""
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rows = _group_table(truth, pred, groups, gate.min_group_size, order)
    gated = [r["group"] for r in rows if r["in_gate"]]
    excluded = [r["group"] for r in rows if not r["in_gate"]]

    dp_all = _num(demographic_parity_difference(truth, pred, sensitive_features=groups))
    eo_all = _num(equalized_odds_difference(truth, pred, sensitive_features=groups))

    if len(gated) < 2:
        reason = f"fewer than two groups with at least {gate.min_group_size} rows ({len(gated)} of {len(rows)})"
        result = AttributeFairness(name, rows, None, None, dp_all, eo_all, excluded, status="not_assessed")
        return result, [], reason

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
    status: AttributeStatus = "failed" if violations else "passed"
    result = AttributeFairness(name, rows, dp, eo, dp_all, eo_all, excluded, status=status)
    return result, violations, None


def _group_table(
    truth: np.ndarray, pred: np.ndarray, groups: np.ndarray, min_size: int, order: list[str] | None
) -> list[GroupRow]:
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
    if order is not None:
        rank = {label: i for i, label in enumerate([*order, MISSING_GROUP])}
        return sorted(rows, key=lambda r: rank.get(r["group"], len(rank)))
    return sorted(rows, key=lambda r: _natural_key(r["group"]))


# "[25, 40)", "(-inf, 25]", "(40.0, 60.0]": the two edges of a binned numeric attribute.
_INTERVAL = re.compile(r"^[\[(]\s*(-?inf|-?\d+(?:\.\d+)?)\s*,\s*(-?inf|-?\d+(?:\.\d+)?)\s*[\])]$")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def _natural_key(label: str) -> tuple[int, tuple[tuple[int, float, str], ...]]:
    """Intervals by their edges, then other labels with embedded numbers compared as numbers,
    then the missing group."""
    if label == MISSING_GROUP:
        return 2, ()
    interval = _INTERVAL.match(label)
    if interval:
        return 0, tuple((0, float(edge), "") for edge in interval.groups())
    parts = (
        (0, float(part), "") if _NUMBER.fullmatch(part) else (1, 0.0, part.casefold())
        for part in _NUMBER.split(label)
        if part
    )
    return 1, (*parts, (2, 0.0, label))


def _attribute(data: dict[str, Any]) -> AttributeFairness:
    groups = [_group_row(row) for row in data["groups"]]
    status: AttributeStatus
    if "status" in data:
        status = data["status"]
    elif not data["passed"]:
        status = "failed"
    else:  # written before status existed, when an attribute that could not be compared "passed"
        status = "not_assessed" if sum(row["in_gate"] for row in groups) < 2 else "passed"
    fields = {k: v for k, v in data.items() if k not in ("groups", "passed", "status")}
    return AttributeFairness(**fields, groups=groups, status=status)


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


def _group_labels(column: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """The group label of every row, and the category order when the column is categorical."""
    order = None
    if isinstance(column.dtype, pd.CategoricalDtype):
        order = [str(category) for category in column.cat.categories]
    labels = column.astype(object).where(column.notna(), MISSING_GROUP)
    return labels.astype(str).to_numpy(), order


def _num(value: Any) -> float | None:
    """A plain float, or None for NaN/inf, so the report stays valid JSON."""
    number = float(value)
    return number if math.isfinite(number) else None
