"""An identifier column: every non-null value is an id-like string matching a pattern."""

from __future__ import annotations

from great_expectations.expectations import ExpectColumnValuesToMatchRegex

# Letters, digits and a few separators, starting with a letter or digit; no spaces, so ids
# survive CSV round trips and URLs. A suite narrows it with its own ``regex``.
DEFAULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class ExpectColumnValuesToBeEntityIds(ExpectColumnValuesToMatchRegex):
    """Expect every non-null value of ``column`` to be an entity id matching ``regex``.

    The default pattern accepts 1-128 characters of ``[A-Za-z0-9_.:-]`` starting with a letter
    or digit; pass ``regex`` (e.g. ``^APP-\\d{7}$``) for a dataset's own id format.
    """

    regex: str = DEFAULT_ID_PATTERN
    description: str | None = "Values are entity ids (id-like strings matching a pattern)."
