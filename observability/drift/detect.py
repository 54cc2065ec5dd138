"""Drift of a model version's current data against its reference, computed by Evidently 0.7.

What is compared, and by whom:

- **features** — the metrics ``DataDriftPreset`` is made of, over the feature columns both sides
  can compare: one ``ValueDrift`` per column with Evidently's default test for its type and size
  (``K-S`` / ``chi-square`` / ``Z-test`` when the reference has at most 1000 values,
  ``Wasserstein distance (normed)`` / ``Jensen-Shannon distance`` above that) and
  ``DriftedColumnsCount`` for the share of drifted columns. The method, threshold, score and
  verdict Evidently used are recorded per column. The preset itself is not used: its summary
  table recomputes every column's test and draws every plot a second time (4.6 s against 2.4 s
  of CPU for 5000 rows x 50 columns) for figures the per-column widgets already show.
- **prediction** — ``ValueDrift`` of the model's output.
- **target and performance** — when the current data has labels: ``ValueDrift`` of the target and
  ``ClassificationQuality`` (accuracy, precision, recall, F1, ROC AUC and log loss for
  probabilities; threshold 0.5), on the labelled rows, for the current and the reference.
- **schema** — missing, new and retyped columns and columns with only nulls are found here, from
  the reference statistics, and reported; they are left out of the Evidently comparison rather
  than crash it.

Sample size and power. Evidently's cost grows with the rows it is given, and its per-column
widgets cost the same at any size, so the current data is compared as a seeded random sample of
:data:`DEFAULT_CURRENT_SAMPLE_ROWS` = 5000 rows against the reference's 5000-row sample (null
shares and the schema are measured on every current row: that is cheap). At that size
Evidently picks the distance tests (threshold 0.1) and their sampling noise is well below the
threshold (measured with Evidently's own tests, 100 draws each, standard normal reference):

- Wasserstein (normed), no drift: mean 0.026, 99th percentile 0.050 → no false alarm in 100;
  a 0.15 SD mean shift: detected 100/100; a 0.10 SD shift (exactly at the threshold): 53/100.
- Jensen-Shannon, no drift: 99th percentile 0.021; a new category taking 5 % of the rows:
  score ~0.13, detected 100/100. At 2 % it scores ~0.08 and is not called drift: such a
  category still shows in the column's ``unseen_share`` / ``unseen``.
- Doubling the current sample (10 000) moves the no-drift 99th percentile only from 0.051 to
  0.044: the fixed 5000-row reference sample's own noise dominates, so more rows buy little.

For references of at most 1000 rows (small training sets) Evidently uses K-S / chi-square
instead: with 1000 reference and 5000 current rows the two-sample K-S critical distance at
alpha 0.05 is 1.36 * sqrt(1/1000 + 1/5000) = 0.047, and a 0.2 SD mean shift moves the CDFs
0.08 apart: measured, 200/200 detected (0.1 SD: 70 %; no shift: 5.5 % false alarms, as alpha
says). ``performance.benchmarks.drift`` re-measures the distance-test figures at the sizes in use.

No worker processes: after sampling, most of the remaining cost is Evidently building its
plotly widgets in Python (under the GIL, so threads do not help), a forked worker could not add
its widgets to the one report, and forking a process that runs threads (the CLI's spinner) is
unsafe; the second core stays free for the rest of the machine.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops.errors import InsufficientDataError, MonitoringError
from observability.drift._columns import ColumnKind, as_categories, value_type
from observability.drift.reference import ColumnStats, Reference

DEFAULT_CURRENT_SAMPLE_ROWS = 5000
# Below this many current rows a comparison says more about chance than about drift.
MIN_CURRENT_ROWS = 100
# Evidently's default: the dataset drifts when at least this share of its columns drift.
DEFAULT_DRIFT_SHARE = 0.5
# Evidently's classification metrics and the keys they get in the result (the retraining
# triggers' performance metric names).
PERFORMANCE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
UNSEEN_LISTED = 10
# How Evidently 0.7 names the metrics whose results are read back from its report.
VALUE_DRIFT_METRIC = "evidently:metric_v2:ValueDrift"
COUNT_METRIC = "evidently:metric_v2:DriftedColumnsCount"

ColumnStatus = Literal["tested", "missing", "all_null", "type_changed", "no_reference_values"]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class ColumnDrift:
    """One column's comparison: Evidently's verdict when ``status == "tested"``, else why not."""

    column: str
    kind: ColumnKind
    status: ColumnStatus
    method: str | None = None
    threshold: float | None = None
    score: float | None = None
    drifted: bool | None = None
    reference_null_share: float | None = None
    current_null_share: float | None = None
    # Categorical: share of the current sample's values that the training set never had, and the
    # most frequent of them (None when the reference lists too many categories to tell).
    unseen_share: float | None = None
    unseen: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("threshold", "score", "reference_null_share", "current_null_share", "unseen_share"):
            out[key] = _finite(out[key])
        return out


@dataclass(frozen=True)
class SchemaDrift:
    """Columns that differ in presence or type between the reference and the current data."""

    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    type_changed: dict[str, dict[str, str]] = field(default_factory=dict)
    all_null: list[str] = field(default_factory=list)

    @property
    def detected(self) -> bool:
        return bool(self.missing or self.new or self.type_changed or self.all_null)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "missing": self.missing,
            "new": self.new,
            "type_changed": self.type_changed,
            "all_null": self.all_null,
        }


@dataclass(frozen=True)
class Performance:
    """Classification figures on the labelled rows, current and reference (Evidently's)."""

    labelled_rows: int
    compared_rows: int
    current: dict[str, float]
    reference: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled_rows": self.labelled_rows,
            "compared_rows": self.compared_rows,
            "current": {k: _finite(v) for k, v in self.current.items()},
            "reference": {k: _finite(v) for k, v in self.reference.items()},
        }


@dataclass
class DriftResult:
    """A drift comparison. Drift found is a result: nothing here is an error."""

    model: str
    version: str
    drift_share: float
    drifted_count: int
    tested_count: int
    dataset_drift: bool
    drift_share_threshold: float
    features: dict[str, ColumnDrift]
    schema: SchemaDrift
    rows_current: int
    rows_training: int
    sample_rows_current: int
    sample_rows_reference: int
    reference_created: str = ""
    prediction: ColumnDrift | None = None
    target: ColumnDrift | None = None
    performance: Performance | None = None
    notes: list[str] = field(default_factory=list)
    computed_at: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    # Evidently snapshots (for the HTML reports); not part of the summary.
    snapshot: Any = field(default=None, repr=False)
    performance_snapshot: Any = field(default=None, repr=False)

    @property
    def drifted_features(self) -> list[str]:
        return [c for c, d in self.features.items() if d.drifted]

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (``drift.json``)."""
        return {
            "model": self.model,
            "version": self.version,
            "computed_at": self.computed_at,
            "reference": {
                "model": self.model,
                "version": self.version,
                "created": self.reference_created,
                "training_rows": self.rows_training,
                "sample_rows": self.sample_rows_reference,
            },
            "drift_share": _finite(self.drift_share),
            "drift_share_threshold": self.drift_share_threshold,
            "dataset_drift": self.dataset_drift,
            "drifted_features": self.drifted_features,
            "tested_features": self.tested_count,
            "rows": {
                "current": self.rows_current,
                "training": self.rows_training,
                "current_sample": self.sample_rows_current,
                "reference_sample": self.sample_rows_reference,
            },
            "features": {c: d.to_dict() for c, d in self.features.items()},
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "target": self.target.to_dict() if self.target else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "schema": self.schema.to_dict(),
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


# --------------------------------------------------------------------------- preparation
def _positions(candidates: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """A seeded, sorted random choice of ``rows`` of the ``candidates`` (all when fewer)."""
    if len(candidates) <= rows:
        return candidates
    return np.sort(np.random.default_rng(seed).choice(candidates, size=rows, replace=False))


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.iloc[_positions(np.arange(len(frame)), rows, seed)].reset_index(drop=True)


def _for_evidently(series: pd.Series, kind: ColumnKind) -> pd.Series:
    if kind == "numeric":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return as_categories(series)


def _type_compatible(stats: ColumnStats, current: pd.Series) -> tuple[bool, str]:
    """Whether the current column can be compared as the reference column was; its value type."""
    got = value_type(current)
    if stats.kind == "numeric":
        return got == "number" or got == stats.value_type, got
    # Categories are compared as text, so a categorical column compares whatever it holds; a
    # change of value type is still reported.
    return True, got


def _unseen(stats: ColumnStats, sample: pd.Series) -> tuple[float | None, list[str]]:
    if not stats.categories_complete or stats.categories is None:
        return None, []
    present = sample.dropna()
    if present.empty:
        return None, []
    new = present[~present.isin(list(stats.categories))]
    listed = [str(v) for v in new.value_counts().index[:UNSEEN_LISTED]]
    return float(len(new) / len(present)), listed


@dataclass
class _Plan:
    """What goes to Evidently, and what was settled before it."""

    features: dict[str, ColumnDrift] = field(default_factory=dict)
    tested: dict[str, ColumnKind] = field(default_factory=dict)
    unseen: dict[str, tuple[float | None, list[str]]] = field(default_factory=dict)
    schema: SchemaDrift = field(default_factory=SchemaDrift)


def _plan(reference: Reference, current: pd.DataFrame, sample: pd.DataFrame, known: Collection[str]) -> _Plan:
    plan = _Plan()
    # Column by column: selecting them all at once would copy the whole (large) frame first.
    null_shares = {c: float(current[c].isna().mean()) for c in reference.features if c in current.columns}
    for col, stats in reference.features.items():
        ref_null = stats.null_share
        if col not in current.columns:
            plan.schema.missing.append(col)
            plan.features[col] = ColumnDrift(col, stats.kind, "missing", reference_null_share=ref_null)
            continue
        cur_null = null_shares[col]
        common: dict[str, Any] = {"reference_null_share": ref_null, "current_null_share": cur_null}
        if cur_null >= 1.0:
            plan.schema.all_null.append(col)
            plan.features[col] = ColumnDrift(col, stats.kind, "all_null", **common)
            continue
        ok, got = _type_compatible(stats, current[col])
        if got != stats.value_type and stats.value_type != "empty":
            plan.schema.type_changed[col] = {"reference": stats.value_type, "current": got}
        if not ok:
            plan.features[col] = ColumnDrift(col, stats.kind, "type_changed", **common)
            continue
        if reference.sample[col].notna().sum() == 0:
            plan.features[col] = ColumnDrift(col, stats.kind, "no_reference_values", **common)
            continue
        plan.tested[col] = stats.kind
        plan.features[col] = ColumnDrift(col, stats.kind, "tested", **common)
        if stats.kind == "categorical":
            plan.unseen[col] = _unseen(stats, as_categories(sample[col]))
    plan.schema.new.extend(str(c) for c in current.columns if c not in reference.features and c not in known)
    return plan


# --------------------------------------------------------------------------- Evidently
def _import_evidently() -> float:
    started = time.perf_counter()
    import evidently  # noqa: F401  (timed apart: paid once per process)

    return time.perf_counter() - started


def _read_snapshot(snapshot: Any) -> tuple[dict[str, dict[str, Any]], tuple[int, float, bool | None] | None]:
    """Evidently's verdicts: per column its method, threshold, score and whether it drifted (from
    its drift tests); the drifted-columns count and share, and its dataset-drift test when run."""
    as_dict = snapshot.dict()
    values = {m.get("id"): m.get("value") for m in as_dict["metrics"]}
    counted = [m for m in as_dict["metrics"] if m.get("config", {}).get("type") == COUNT_METRIC]
    columns: dict[str, dict[str, Any]] = {}
    dataset_drift = None
    for test in as_dict["tests"]:
        config = test.get("metric_config") or {}
        params = config.get("params") or {}
        if params.get("type") == VALUE_DRIFT_METRIC:
            columns[params["column"]] = {
                "method": params.get("method"),
                "threshold": _finite(params.get("threshold")),
                "score": _finite(values.get(config.get("metric_id"))),
                "drifted": test.get("status") == "FAIL",
            }
        elif params.get("type") == COUNT_METRIC:
            # Its test is "share < drift_share": failing it is dataset drift.
            dataset_drift = test.get("status") == "FAIL"
    if not counted:
        return columns, None
    value = counted[0]["value"]
    return columns, (int(value["count"]), float(value["share"]), dataset_drift)


def _run_report(metrics: list[Any], definition: Any, *, current: pd.DataFrame, reference: pd.DataFrame) -> Any:
    """Evidently's report with its tests (they carry each column's drift verdict)."""
    from evidently import Dataset, Report

    with warnings.catch_warnings():
        # A category the reference never had is an expected count of zero in chi-square: scipy
        # warns about the division, and the result (p = 0, drifted) is the right one.
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )


def _with_drift(base: ColumnDrift, found: dict[str, Any] | None, **extra: Any) -> ColumnDrift:
    if found is None:
        return base
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__} | found | extra
    return ColumnDrift(**fields)


def _prediction_drift(
    name: str, stats: ColumnStats | None, current: pd.DataFrame, sample: pd.DataFrame, notes: list[str]
) -> tuple[ColumnDrift | None, pd.Series | None]:
    """The prediction column: its comparison stub and its sampled values for Evidently."""
    if name not in current.columns:
        raise MonitoringError(f"prediction column {name!r} is not in the current data ({_columns_of(current)})")
    if stats is None:
        notes.append("the reference has no prediction: prediction drift not computed")
        return None, None
    null_share = float(current[name].isna().mean())
    base = ColumnDrift(
        stats.name, stats.kind, "tested", reference_null_share=stats.null_share, current_null_share=null_share
    )
    if null_share >= 1.0:
        return ColumnDrift(stats.name, stats.kind, "all_null", current_null_share=1.0), None
    if stats.kind == "numeric" and value_type(current[name]) != "number":
        return ColumnDrift(stats.name, stats.kind, "type_changed", current_null_share=null_share), None
    return base, _for_evidently(sample[name], stats.kind).rename(stats.name)


def _columns_of(frame: pd.DataFrame, shown: int = 20) -> str:
    more = f", … (+{len(frame.columns) - shown})" if len(frame.columns) > shown else ""
    return "columns: " + ", ".join(map(str, frame.columns[:shown])) + more


def detect_drift(
    reference: Reference,
    current: pd.DataFrame,
    *,
    prediction_column: str | None = None,
    target_column: str | None = None,
    sample_rows: int = DEFAULT_CURRENT_SAMPLE_ROWS,
    min_rows: int = MIN_CURRENT_ROWS,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    ignore_columns: Collection[str] = (),
    seed: int = 0,
) -> DriftResult:
    """Compare ``current`` with ``reference`` (see the module docstring for what and how).

    ``prediction_column`` / ``target_column``: the current data's columns holding the model's
    output and the true label (None: not compared). ``ignore_columns``: bookkeeping columns
    (ids, timestamps) not to report as new. Fewer than ``min_rows`` current rows is an
    :class:`~mlops.errors.InsufficientDataError`.
    """
    started = time.perf_counter()
    if not isinstance(current, pd.DataFrame):
        raise MonitoringError(f"the current data must be a pandas DataFrame, not {type(current).__name__}")
    if min_rows < 1 or sample_rows < min_rows:
        raise MonitoringError(f"need 1 <= min_rows <= sample_rows (got min_rows={min_rows}, sample_rows={sample_rows})")
    if not 0 < drift_share <= 1:
        raise MonitoringError(f"drift_share must be in (0, 1] (got {drift_share})")
    who = f"model {reference.model!r} version {reference.version}" if reference.model else "the reference"
    if len(current) < min_rows:
        raise InsufficientDataError(
            f"the current data has {len(current)} rows; drift against {who} needs at least {min_rows} "
            "(read a longer window or a larger file)"
        )
    if current.columns.duplicated().any():
        dup = sorted({str(c) for c in current.columns[current.columns.duplicated()]})
        raise MonitoringError(f"the current data has duplicated column names: {', '.join(dup)}")

    notes: list[str] = []
    known = {*ignore_columns, *(c for c in (prediction_column, target_column) if c)}
    sample = _sample(current, sample_rows, seed)
    plan = _plan(reference, current, sample, known)
    if not plan.tested:
        problems = plan.schema.to_dict()
        raise MonitoringError(
            f"no feature of {who} can be compared: missing {problems['missing']}, all null {problems['all_null']}, "
            f"type changed {sorted(problems['type_changed'])}"
        )

    pred_drift = pred_values = None
    if prediction_column is not None:
        pred_drift, pred_values = _prediction_drift(prediction_column, reference.prediction, current, sample, notes)
        if pred_drift is not None and pred_drift.status != "tested":
            notes.append(f"prediction column {prediction_column!r}: {pred_drift.status}")
            if pred_drift.status == "type_changed":
                plan.schema.type_changed[prediction_column] = {
                    "reference": reference.prediction.value_type if reference.prediction else "",
                    "current": value_type(current[prediction_column]),
                }
    prepare_s = time.perf_counter() - started

    import_s = _import_evidently()
    from evidently import DataDefinition
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    started = time.perf_counter()
    ref_frame = pd.DataFrame({c: reference.sample[c] for c in plan.tested})
    cur_frame = pd.DataFrame({c: _for_evidently(sample[c], k) for c, k in plan.tested.items()})
    numeric = [c for c, k in plan.tested.items() if k == "numeric"]
    categorical = [c for c, k in plan.tested.items() if k == "categorical"]
    tested = list(plan.tested)
    metrics: list[Any] = [DriftedColumnsCount(columns=tested, drift_share=drift_share)]
    metrics += [ValueDrift(column=c) for c in tested]
    if pred_values is not None and reference.prediction is not None:
        name = reference.prediction.name
        ref_frame[name] = reference.sample[name]
        cur_frame[name] = pred_values.to_numpy()
        (numeric if reference.prediction.kind == "numeric" else categorical).append(name)
        metrics.append(ValueDrift(column=name))
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = _run_report(metrics, definition, current=cur_frame, reference=ref_frame)
    found, counted = _read_snapshot(snapshot)
    if counted is None:
        raise MonitoringError("Evidently's report has no drifted-columns count (DriftedColumnsCount)")
    drifted_count, share, dataset_drift = counted
    features: dict[str, ColumnDrift] = {}
    for col, base in plan.features.items():
        unseen_share, unseen = plan.unseen.get(col, (None, []))
        extra = {"unseen_share": unseen_share, "unseen": unseen} if col in plan.unseen else {}
        features[col] = _with_drift(base, found.get(col) if col in plan.tested else None, **extra)
    if pred_drift is not None and pred_values is not None:
        pred_drift = _with_drift(pred_drift, found.get(pred_drift.column))

    target_drift = performance = perf_snapshot = None
    if target_column is not None:
        target_drift, performance, perf_snapshot = _target_and_performance(
            reference, current, target_column, prediction_column, min_rows, sample_rows, seed, notes
        )
    evidently_s = time.perf_counter() - started

    return DriftResult(
        model=reference.model,
        version=reference.version,
        drift_share=share,
        drifted_count=drifted_count,
        tested_count=len(plan.tested),
        dataset_drift=share >= drift_share if dataset_drift is None else dataset_drift,
        drift_share_threshold=drift_share,
        features=features,
        schema=plan.schema,
        rows_current=len(current),
        rows_training=reference.training_rows,
        sample_rows_current=len(sample),
        sample_rows_reference=len(reference.sample),
        reference_created=reference.created,
        prediction=pred_drift,
        target=target_drift,
        performance=performance,
        notes=notes,
        computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        timings={
            "evidently_import_s": import_s,
            "prepare_s": prepare_s,
            "evidently_s": evidently_s,
            "compute_s": prepare_s + evidently_s,
        },
        snapshot=snapshot,
        performance_snapshot=perf_snapshot,
    )


def _target_and_performance(
    reference: Reference,
    current: pd.DataFrame,
    target_column: str,
    prediction_column: str | None,
    min_rows: int,
    sample_rows: int,
    seed: int,
    notes: list[str],
) -> tuple[ColumnDrift | None, Performance | None, Any]:
    """Target drift and classification figures on the current rows that have a label."""
    if target_column not in current.columns:
        raise MonitoringError(f"target column {target_column!r} is not in the current data ({_columns_of(current)})")
    stats = reference.target
    if stats is None:
        notes.append("the reference has no target: target drift and performance not computed")
        return None, None, None
    labelled = np.flatnonzero(current[target_column].notna().to_numpy())
    if len(labelled) < min_rows:
        notes.append(
            f"{len(labelled)} labelled rows (fewer than {min_rows}): target drift and performance not computed"
        )
        return None, None, None
    # Positions, so only the sampled rows of the two columns are copied out of a large frame.
    picked = _positions(labelled, sample_rows, seed)
    wanted = [c for c in (target_column, prediction_column) if c is not None and c in current.columns]
    sample = current.iloc[picked][wanted].reset_index(drop=True)
    name = stats.name
    ref_frame = pd.DataFrame({name: reference.sample[name]})
    cur_frame = pd.DataFrame({name: as_categories(sample[target_column]).to_numpy()})
    numeric: list[str] = []
    categorical = [name]

    from evidently import BinaryClassification, DataDefinition
    from evidently.metrics import Accuracy, F1Score, LogLoss, Precision, Recall, RocAuc, ValueDrift
    from evidently.presets import ClassificationQuality

    metrics: list[Any] = [ValueDrift(column=name)]
    classification: list[Any] = []
    pred = reference.prediction
    labels = set(reference.sample[name].dropna()) | set(cur_frame[name].dropna())
    can_score = pred is not None and prediction_column is not None and prediction_column in current.columns
    if can_score and pred is not None and prediction_column is not None:
        pred_values = _for_evidently(sample[prediction_column], pred.kind)
        if len(labels) > 2:
            notes.append(f"the target has {len(labels)} classes: performance is reported for binary targets only")
        elif pred.kind == "numeric" and not pred_values.dropna().between(0, 1).all():
            notes.append("the prediction is a number outside [0, 1]: not a probability, performance not computed")
        else:
            # Rows without a prediction cannot be scored.
            scored_ref = ref_frame.assign(**{pred.name: reference.sample[pred.name]}).dropna()
            scored_cur = cur_frame.assign(**{pred.name: pred_values.to_numpy()}).dropna()
            if len(scored_cur) < min_rows or scored_ref.empty:
                notes.append(
                    f"{len(scored_cur)} labelled rows with a prediction (fewer than {min_rows}): "
                    "performance not computed"
                )
            else:
                ref_frame, cur_frame = scored_ref, scored_cur
                # A numeric output is the positive class's probability; anything else is a label.
                probas = pred.kind == "numeric"
                (numeric if probas else categorical).append(pred.name)
                classification = [
                    BinaryClassification(
                        target=name,
                        prediction_probas=pred.name if probas else None,
                        prediction_labels=None if probas else pred.name,
                        pos_label=reference.positive_label,
                    )
                ]
                metrics.append(ClassificationQuality())
    elif prediction_column is None:
        notes.append("no prediction column: performance not computed")

    definition = DataDefinition(
        numerical_columns=numeric, categorical_columns=categorical, classification=classification or None
    )
    snapshot = _run_report(
        metrics, definition, current=cur_frame.reset_index(drop=True), reference=ref_frame.reset_index(drop=True)
    )
    found = _read_snapshot(snapshot)[0].get(name)
    base = ColumnDrift(
        name,
        "categorical",
        "tested",
        reference_null_share=stats.null_share,
        current_null_share=float(current[target_column].isna().mean()),
    )
    target_drift = _with_drift(base, found)
    performance = None
    if classification:
        by_key = {
            "accuracy": Accuracy(),
            "precision": Precision(),
            "recall": Recall(),
            "f1": F1Score(),
            "roc_auc": RocAuc(),
            "log_loss": LogLoss(),
        }
        if pred is not None and pred.kind != "numeric":
            by_key = {k: m for k, m in by_key.items() if k not in ("roc_auc", "log_loss")}
        context = snapshot.context
        performance = Performance(
            labelled_rows=len(labelled),
            compared_rows=len(cur_frame),
            current={k: float(context.get_metric_result(m).value) for k, m in by_key.items()},
            reference={k: float(context.get_reference_metric_result(m.metric_id).value) for k, m in by_key.items()},
        )
    return target_drift, performance, snapshot


__all__ = [
    "DEFAULT_CURRENT_SAMPLE_ROWS",
    "DEFAULT_DRIFT_SHARE",
    "MIN_CURRENT_ROWS",
    "ColumnDrift",
    "DriftResult",
    "Performance",
    "SchemaDrift",
    "detect_drift",
]
