"""A probability or rate column: every non-null value lies in [0, 1]."""

from __future__ import annotations

from great_expectations.expectations import ExpectColumnValuesToBeBetween


class ExpectColumnValuesToBeProbabilities(ExpectColumnValuesToBeBetween):
    """Expect every non-null value of ``column`` to be a probability or rate in [0, 1].

    A core expectation with fixed defaults, so a suite writes
    ``{type: expect_column_values_to_be_probabilities, kwargs: {column: debt_to_income}}``
    instead of repeating the bounds (and cannot get them wrong). Nulls are not unexpected
    here; pair it with ``expect_column_values_to_not_be_null`` when they matter.
    """

    min_value: float = 0.0
    max_value: float = 1.0
    description: str | None = "Values are probabilities or rates in [0, 1]."
