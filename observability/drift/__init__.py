"""Drift monitoring with Evidently: a reference saved per model version at register time, the
comparison of current data with it, and its outputs (HTML, ``drift.json``, Prometheus gauges).

    ref = build_reference(training_frame, numeric=[...], categorical=[...], prediction=scores, target=y)
    save_reference(ref, reference_dir(state_dir, "credit_risk", "1.2.0"))
    ...
    ref = load_model_reference(state_dir, "credit_risk", "1.2.0")
    result = detect_drift(ref, current, prediction_column="score", target_column=None)
    write_drift_outputs(result, out_dir, state_dir=state_dir, pushgateway=None)

Evidently (~9 s to import) is imported inside :func:`detect_drift` only.
"""

from observability.drift.detect import (
    DEFAULT_CURRENT_SAMPLE_ROWS,
    DEFAULT_DRIFT_SHARE,
    MIN_CURRENT_ROWS,
    ColumnDrift,
    DriftResult,
    Performance,
    SchemaDrift,
    detect_drift,
)
from observability.drift.outputs import DriftOutputs, drift_gauges, write_drift_outputs
from observability.drift.reference import (
    DEFAULT_SAMPLE_ROWS,
    ColumnStats,
    Reference,
    build_reference,
    load_model_reference,
    load_reference,
    reference_dir,
    save_reference,
)
from observability.drift.training import save_training_reference

__all__ = [
    "DEFAULT_CURRENT_SAMPLE_ROWS",
    "DEFAULT_DRIFT_SHARE",
    "DEFAULT_SAMPLE_ROWS",
    "MIN_CURRENT_ROWS",
    "ColumnDrift",
    "ColumnStats",
    "DriftOutputs",
    "DriftResult",
    "Performance",
    "Reference",
    "SchemaDrift",
    "build_reference",
    "detect_drift",
    "drift_gauges",
    "load_model_reference",
    "load_reference",
    "reference_dir",
    "save_reference",
    "save_training_reference",
    "write_drift_outputs",
]
