"""Column roles: what each column of a dataset is for, decided once at ingest and read by every
later step (and by serving, for sensitive-attribute groups)."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# A target label as a dataset writes it.
Label = str | int | float | bool


@dataclass(frozen=True)
class Roles:
    """What each column is for, decided once at ingest and passed to every later step."""

    name: str
    entity: str
    timestamp: str
    target: str
    features: list[str]
    categorical: list[str]
    sensitive: list[str]
    # The target label encoded as 1, and the other one.
    positive_label: Label = 1
    negative_label: Label = 0
    # Columns the platform generated (not in the user's file): never data, never hashed.
    generated: list[str] = field(default_factory=list)
    # Declared PII (names only): anonymised at ingest, never features, never served back.
    pii: list[str] = field(default_factory=list)
    # Sensitive attribute -> inner bin edges for numeric attributes (None: grouped by value).
    sensitive_bins: dict[str, list[float] | None] = field(default_factory=dict)
    # Columns that are not features and why (config `exclude`, or left out automatically).
    left_out: dict[str, str] = field(default_factory=dict)
    # How the dataset's CSV writes values (config `na_values`, `encoding`, `decimal`): batch
    # files for its models are read alike (mlops.delimited.CsvFormat.of_roles).
    na_values: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    decimal: str = "."

    @property
    def has_event_time(self) -> bool:
        """False when the timestamp was generated at ingest (it then says nothing about order)."""
        return self.timestamp not in self.generated

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Roles:
        return cls(**json.loads(text))


def group_labels_of(edges: list[float]) -> list[str]:
    """The group names bins with these inner edges give (half-open intervals)."""
    labels = [f"< {edges[0]:g}"]
    labels += [f"{lo:g} to < {hi:g}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f">= {edges[-1]:g}")
    return labels


def group_of(value: float, edges: list[float], labels: list[str]) -> str:
    """One number's group (``labels`` from :func:`group_labels_of`): the scalar form of
    :func:`group_labels`, for a request on the serving path."""
    import bisect

    return labels[bisect.bisect_right(edges, value)]


def group_labels(values: pd.Series, edges: list[float] | None) -> pd.Series:
    """Group labels of a sensitive attribute: the value as text, or its bin for numeric ones.

    Bins are half-open: with edges [25, 40] the groups are ``< 25``, ``25 to < 40``, ``>= 40``.
    Missing values stay missing (the fairness table shows them as their own group).
    """
    import numpy as np
    import pandas as pd

    if edges is None:
        return values.astype(object).where(values.notna(), None)
    numbers = pd.to_numeric(values, errors="coerce")
    labels = group_labels_of(edges)
    index = np.searchsorted(np.asarray(edges, dtype=float), numbers.to_numpy(dtype=float), side="right")
    out = pd.Series([labels[i] for i in index], index=values.index, dtype=object)
    return out.where(numbers.notna(), None)


__all__ = ["Label", "Roles", "group_labels", "group_labels_of", "group_of"]
