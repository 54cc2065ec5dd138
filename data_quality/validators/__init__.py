"""Custom Great Expectations (1.x) expectations for the platform's suites.

Importing this package imports great_expectations (several seconds), so only code that is
about to validate should import it; :mod:`data_quality.suite` checks expectation names
without it. One module per expectation, named after the expectation's snake_case type (the
convention GX uses for its core expectations): :func:`data_quality.suite.known_expectation_types`
relies on it, and a test pins the file names to this registry.

GX registers every non-abstract Expectation subclass in its own registry when the class is
defined; that is GX's requirement, not ours. Our code looks classes up only through
:data:`CUSTOM_EXPECTATIONS`.
"""

from __future__ import annotations

from data_quality.validators.expect_column_values_to_be_entity_ids import (
    ExpectColumnValuesToBeEntityIds,
)
from data_quality.validators.expect_column_values_to_be_money_amounts import (
    ColumnValuesMoneyAmount,
    ExpectColumnValuesToBeMoneyAmounts,
)
from data_quality.validators.expect_column_values_to_be_probabilities import (
    ExpectColumnValuesToBeProbabilities,
)

CUSTOM_EXPECTATIONS: dict[str, type] = {
    "expect_column_values_to_be_entity_ids": ExpectColumnValuesToBeEntityIds,
    "expect_column_values_to_be_money_amounts": ExpectColumnValuesToBeMoneyAmounts,
    "expect_column_values_to_be_probabilities": ExpectColumnValuesToBeProbabilities,
}

__all__ = [
    "CUSTOM_EXPECTATIONS",
    "ColumnValuesMoneyAmount",
    "ExpectColumnValuesToBeEntityIds",
    "ExpectColumnValuesToBeMoneyAmounts",
    "ExpectColumnValuesToBeProbabilities",
]
