"""The drift reference of a model version, saved when the version is registered.

    <state>/references/<model>/<version>/
      sample.parquet   a seeded sample of the training rows: the feature columns, plus the
                       model's prediction and the target when given
      reference.json   per-column statistics of the whole training set (kind, value type,
                       count, null share, quantiles and a histogram for numbers, category
                       shares for categories), the training row count, when it was made and
                       the format version

Only the columns named as features (and the prediction and target, under their own names) are
written: every other column of the training frame, its index included, is left out, so a PII
column passed along by mistake never reaches the reference. Categories are stored as text
(:func:`~observability.drift._columns.as_categories`) so they compare equal to the same values
read back from a CSV later.

The sample is what Evidently compares the current data with; the statistics describe the whole
training set (the sample cannot say how many rows there were or which rare categories exist).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.errors import MonitoringError, ReferenceNotFoundError
from observability.drift._columns import ColumnKind, Label, ValueType, as_categories, label_text, value_type

FORMAT_VERSION = 1
SAMPLE_FILE = "sample.parquet"
STATS_FILE = "reference.json"
# 5000 rows: the sample size the current data is compared at (see observability.drift.detect).
DEFAULT_SAMPLE_ROWS = 5000
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
# Category shares kept per column; beyond it the rest is one "other" share (and the list is
# no longer complete, so unseen categories cannot be told apart from rare ones).
MAX_CATEGORIES = 100
# Names given to the prediction and the target when their Series have none (the serving and
# batch outputs call the model's output "score").
DEFAULT_PREDICTION_NAME = "score"
DEFAULT_TARGET_NAME = "target"


@dataclass(frozen=True)
class ColumnStats:
    """One column of the training set, described once at register time."""

    name: str
    kind: ColumnKind
    value_type: ValueType
    count: int  # non-null values
    null_share: float
    # numeric columns
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None
    histogram: dict[str, list[float]] | None = None
    # categorical columns: share of each category among non-null values (most frequent first)
    categories: dict[str, float] | None = None
    other_share: float = 0.0
    n_categories: int = 0

    @property
    def categories_complete(self) -> bool:
        """Whether every category of the training set is listed (so an unlisted one is new)."""
        return self.kind == "categorical" and self.n_categories <= MAX_CATEGORIES

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnStats:
        return cls(**data)


@dataclass(frozen=True)
class Reference:
    """What the current data of a model version is compared with."""

    sample: pd.DataFrame
    features: dict[str, ColumnStats]
    training_rows: int
    created: str
    seed: int
    prediction: ColumnStats | None = None
    target: ColumnStats | None = None
    # The target value of the positive class, as category text ("1", "True", "yes").
    positive_label: str = "1"
    format_version: int = FORMAT_VERSION
    # Filled when the reference is loaded from <state>/references/<model>/<version>.
    model: str = ""
    version: str = ""
    folder: Path | None = field(default=None, compare=False)

    @property
    def numeric(self) -> list[str]:
        return [c for c, s in self.features.items() if s.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, s in self.features.items() if s.kind == "categorical"]

    def metadata(self) -> dict[str, Any]:
        """The JSON part (everything but the sample rows)."""
        return {
            "format_version": self.format_version,
            "created": self.created,
            "training_rows": self.training_rows,
            "sample_rows": len(self.sample),
            "seed": self.seed,
            "features": [s.to_dict() for s in self.features.values()],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "target": self.target.to_dict() if self.target else None,
            "positive_label": self.positive_label,
        }


def reference_dir(state_dir: Path, model: str, version: str) -> Path:
    """``<state>/references/<model>/<version>``; names that could leave that folder are refused."""
    for what, value in (("model", model), ("version", version)):
        if not value or value in (".", "..") or any(ch in value for ch in "/\\\x00"):
            raise MonitoringError(f"{what} name {value!r} cannot name a reference folder")
    return Path(state_dir) / "references" / model / version


def _numeric_stats(name: str, series: pd.Series, vtype: ValueType) -> ColumnStats:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    count = int(series.notna().sum())
    null_share = float(1 - count / len(series)) if len(series) else 0.0
    if finite.size == 0:
        return ColumnStats(name, "numeric", vtype, count, null_share)
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    return ColumnStats(
        name,
        "numeric",
        vtype,
        count,
        null_share,
        mean=float(finite.mean()),
        std=float(finite.std()),
        quantiles={
            f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True)
        },
        histogram={"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    )


def _categorical_stats(name: str, series: pd.Series, vtype: ValueType) -> ColumnStats:
    cats = as_categories(series)
    shares = cats.value_counts(normalize=True, dropna=True)
    kept = shares.iloc[:MAX_CATEGORIES]
    count = int(cats.notna().sum())
    return ColumnStats(
        name,
        "categorical",
        vtype,
        count,
        float(1 - count / len(series)) if len(series) else 0.0,
        categories={str(k): float(v) for k, v in kept.items()},
        other_share=float(shares.iloc[MAX_CATEGORIES:].sum()),
        n_categories=len(shares),
    )


def _column_stats(name: str, series: pd.Series, kind: ColumnKind) -> ColumnStats:
    vtype = value_type(series)
    if kind == "numeric":
        if vtype not in ("number", "bool", "empty"):
            raise MonitoringError(f"numeric feature {name!r} holds {vtype} values; list it as categorical")
        return _numeric_stats(name, series, vtype)
    return _categorical_stats(name, series, vtype)


def _sample_column(series: pd.Series, kind: ColumnKind) -> pd.Series:
    if kind == "numeric":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return as_categories(series)


def _check_columns(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> None:
    listed = [*numeric, *categorical]
    if not listed:
        raise MonitoringError("a drift reference needs at least one feature column (numeric or categorical)")
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise MonitoringError(f"the training frame has duplicated column names: {', '.join(dup)}")
    twice = sorted({c for c in listed if listed.count(c) > 1})
    if twice:
        raise MonitoringError(f"columns listed twice (numeric and categorical, or repeated): {', '.join(twice)}")
    absent = [c for c in listed if c not in frame.columns]
    if absent:
        raise MonitoringError(f"feature columns not in the training frame: {', '.join(absent)}")


def _extra_column(
    series: pd.Series | None, default_name: str, frame: pd.DataFrame, taken: Sequence[str], what: str
) -> tuple[str, pd.Series] | None:
    if series is None:
        return None
    if not isinstance(series, pd.Series):
        raise MonitoringError(f"{what} must be a pandas Series, not {type(series).__name__}")
    if len(series) != len(frame):
        raise MonitoringError(f"{what} has {len(series)} values but the training frame has {len(frame)} rows")
    name = series.name if isinstance(series.name, str) and series.name else default_name
    if name in taken:
        raise MonitoringError(f"{what} is named {name!r}, like a feature column or the other extra column: rename it")
    # In the frame's row order: predictions often come back as a bare array with a fresh index.
    return name, pd.Series(series.to_numpy(), index=frame.index, name=name)


def build_reference(
    frame: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    prediction: pd.Series | None = None,
    target: pd.Series | None = None,
    positive_label: Label = 1,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
) -> Reference:
    """A reference from the training frame: a seeded sample of ``sample_rows`` rows plus statistics
    of every row, for the listed feature columns only.

    ``prediction`` (the model's output on these rows) and ``target`` are taken in the frame's
    row order; they are stored under their Series names (default ``score`` and ``target``).
    ``positive_label`` is the target value of the positive class (for performance figures).
    """
    if not isinstance(frame, pd.DataFrame):
        raise MonitoringError(f"the training data must be a pandas DataFrame, not {type(frame).__name__}")
    if len(frame) == 0:
        raise MonitoringError("the training frame has no rows: nothing to build a drift reference from")
    if sample_rows < 1:
        raise MonitoringError(f"sample_rows must be at least 1 (got {sample_rows})")
    _check_columns(frame, numeric, categorical)
    kinds: dict[str, ColumnKind] = {**dict.fromkeys(numeric, "numeric"), **dict.fromkeys(categorical, "categorical")}
    features = {c: _column_stats(c, frame[c], kinds[c]) for c in kinds}

    pred = _extra_column(prediction, DEFAULT_PREDICTION_NAME, frame, list(kinds), "prediction")
    targ = _extra_column(target, DEFAULT_TARGET_NAME, frame, [*kinds, *([pred[0]] if pred else [])], "target")
    n = min(sample_rows, len(frame))
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    # Positions, not labels: the index is never stored (it may hold identifiers).
    sample = {c: _sample_column(frame[c].iloc[rows], kind).to_numpy() for c, kind in kinds.items()}

    pred_stats = targ_stats = None
    if pred is not None:
        name, series = pred
        pred_kind: ColumnKind = "numeric" if value_type(series) == "number" else "categorical"
        pred_stats = _column_stats(name, series, pred_kind)
        sample[name] = _sample_column(series.iloc[rows], pred_kind).to_numpy()
    positive = label_text(positive_label)
    if targ is not None:
        name, series = targ
        targ_stats = _column_stats(name, series, "categorical")
        if targ_stats.categories_complete and targ_stats.categories and positive not in targ_stats.categories:
            values = ", ".join(repr(v) for v in list(targ_stats.categories)[:10])
            raise MonitoringError(
                f"positive_label {positive!r} is not a value of the target {name!r} (values: {values})"
            )
        sample[name] = as_categories(series.iloc[rows]).to_numpy()
    return Reference(
        sample=pd.DataFrame(sample),
        features=features,
        training_rows=len(frame),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=seed,
        prediction=pred_stats,
        target=targ_stats,
        positive_label=positive,
    )


def _write_atomically(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_reference(ref: Reference, folder: Path) -> Path:
    """Write ``sample.parquet`` and ``reference.json`` into ``folder`` (created); return the folder.

    The JSON is written last: a folder with it holds a complete reference.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / SAMPLE_FILE, lambda p: ref.sample.to_parquet(p, index=False))
    text = json.dumps(ref.metadata(), indent=2, allow_nan=False)
    _write_atomically(folder / STATS_FILE, lambda p: p.write_text(text + "\n"))
    return folder


def load_reference(folder: Path) -> Reference:
    """The reference saved in ``folder``; model and version come from the folder when it follows
    ``<state>/references/<model>/<version>``."""
    folder = Path(folder)
    stats_path, sample_path = folder / STATS_FILE, folder / SAMPLE_FILE
    if not stats_path.is_file() or not sample_path.is_file():
        raise ReferenceNotFoundError(f"no drift reference in {folder} (expected {STATS_FILE} and {SAMPLE_FILE})")
    try:
        meta = json.loads(stats_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MonitoringError(f"{stats_path}: not a readable drift reference ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        got = meta.get("format_version") if isinstance(meta, dict) else None
        raise MonitoringError(f"{stats_path}: reference format version {got!r}, this code reads {FORMAT_VERSION}")
    try:
        features = {d["name"]: ColumnStats.from_dict(d) for d in meta["features"]}
        pred = ColumnStats.from_dict(meta["prediction"]) if meta.get("prediction") else None
        targ = ColumnStats.from_dict(meta["target"]) if meta.get("target") else None
        sample = pd.read_parquet(sample_path)
        in_layout = folder.parent.parent.name == "references"
        return Reference(
            sample=sample,
            features=features,
            training_rows=int(meta["training_rows"]),
            created=str(meta["created"]),
            seed=int(meta["seed"]),
            prediction=pred,
            target=targ,
            positive_label=str(meta["positive_label"]),
            model=folder.parent.name if in_layout else "",
            version=folder.name if in_layout else "",
            folder=folder,
        )
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise MonitoringError(f"{folder}: not a readable drift reference ({type(exc).__name__}: {exc})") from None


def load_model_reference(state_dir: Path, model: str, version: str) -> Reference:
    """The reference of ``model`` ``version``; a missing one is an error that says what to do."""
    folder = reference_dir(state_dir, model, version)
    try:
        ref = load_reference(folder)
    except ReferenceNotFoundError:
        raise ReferenceNotFoundError(
            f"no drift reference for model {model!r} version {version} (looked in {folder}); references are "
            "saved when a version is registered, so register the version again (a new training run), or save "
            "one from its training set with observability.drift.build_reference + save_reference"
        ) from None
    return replace(ref, model=model, version=version)


__all__ = [
    "DEFAULT_SAMPLE_ROWS",
    "FORMAT_VERSION",
    "ColumnStats",
    "Reference",
    "build_reference",
    "load_model_reference",
    "load_reference",
    "reference_dir",
    "save_reference",
]
