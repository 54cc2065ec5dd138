"""The data-quality room's section of the platform config: ``quality`` (the gate)."""

from __future__ import annotations

from pydantic import Field

from mlops.config import StrictModel


class QualityGate(StrictModel):
    """Data-quality gate: the share of rows passing every row-level expectation."""

    min_row_pass_rate: float = Field(default=0.95, ge=0, le=1)
    # Table-level expectations (row count, column set) must all pass regardless.
    require_table_expectations: bool = True


__all__ = ["QualityGate"]
