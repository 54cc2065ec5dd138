"""Evaluating a model's retraining triggers: each gives fired or not, its figure, its threshold
and a one-line reason a person (and the run it starts) can read.

    schedule       a cron occurrence (UTC) has passed since the last trigger-started run
                   (before the first one: since the champion was registered)
    drift          share of the champion's features Evidently finds drifted in the prediction
                   log's window, against the champion's reference (observability.drift)
    performance    a scikit-learn metric of the window's labelled predictions (log joined with
                   the imported labels), below its minimum; only with enough labelled rows
    new_data       rows in the dataset file now against the rows the champion's run read
                   (its lineage: training_rows plus the rows the quality gate quarantined)
    schema_change  features missing, new or retyped in the dataset file (roles decided as a
                   training run would) against the champion's serving schema
    erasure        the champion is tagged ``erasure_pending``: it was trained on the rows of a
                   subject since erased (``mlops privacy erase``)

The data comes through :class:`TriggerInputs`, so every judgement here can be tested with
inputs made up on the spot; the CLI reads the real ones (registry, prediction log, labels,
dataset file). A trigger whose data is not there yet (no champion, too few predictions or
labels) has not fired and says why (``no_data``); one whose data cannot be read is an
``error`` and does not stop the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mlops.errors import InsufficientDataError, MlopsError, NoPredictionsError
from observability.triggers.config import (
    DriftTrigger,
    NewDataTrigger,
    PerformanceTrigger,
    SchemaChangeTrigger,
    TriggerName,
    TriggerSettings,
)

if TYPE_CHECKING:
    import pandas as pd

    from observability.drift import Reference

Outcome = Literal["fired", "quiet", "no_data", "error"]
# The score a prediction of the positive class reaches (the label metrics' cut; Evidently's too).
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True)
class ChampionVersion:
    """The version the triggers watch: the model's champion."""

    model: str
    version: str
    # When it was registered (the schedule's starting point before any trigger-started run).
    registered: datetime | None
    # Its serving schema's features: ``{column: "number" | "string"}``.
    features: Mapping[str, str]
    # The erasure that found the subject of an erasure request in its training rows, if any.
    erasure_pending: str | None = None

    @property
    def label(self) -> str:
        return f"{self.model} {self.version}"


@dataclass(frozen=True)
class DatasetSnapshot:
    """The dataset file as a training run would read it now."""

    name: str
    source: str
    rows: int
    dataset_hash: str
    # The features a run would train on, with their kinds: ``{column: "number" | "string"}``.
    features: Mapping[str, str]


class TriggerInputs(Protocol):
    """Where the evaluation reads its data (the CLI's reads the registry, the log and the file)."""

    def champion(self) -> ChampionVersion | None:
        """The model's champion, or None when it has none."""
        ...

    def lineage(self, version: str) -> Mapping[str, Any]:
        """The version's lineage as the register step recorded it."""
        ...

    def reference(self, version: str) -> Reference:
        """The version's drift reference."""
        ...

    def predictions(self, version: str, window: timedelta, *, labels: bool) -> pd.DataFrame:
        """The logged predictions of ``version`` in the last ``window`` (features and ``score``);
        with ``labels``, a ``label`` column too (missing where no label is known yet)."""
        ...

    def dataset(self) -> DatasetSnapshot:
        """The dataset file the model's runs train on."""
        ...


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict."""

    trigger: TriggerName
    outcome: Outcome
    reason: str
    figure: float | None = None
    threshold: float | None = None
    # How figure and threshold read: "0.42", "≥ 0.30", "12000 rows".
    figure_text: str = ""
    threshold_text: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fired(self) -> bool:
        return self.outcome == "fired"

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "outcome": self.outcome,
            "fired": self.fired,
            "figure": self.figure,
            "threshold": self.threshold,
            "reason": self.reason,
            "details": self.details,
        }


def _days(window: int) -> str:
    return "the last day" if window == 1 else f"the last {window} days"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# --------------------------------------------------------------------------- schedule
def schedule_trigger(cron: str, *, since: datetime, since_what: str, now: datetime) -> TriggerResult:
    """Fired when an occurrence of ``cron`` (UTC) lies in ``(since, now]``.

    ``since_what`` names the starting point in the reason ("the last trigger-started run").
    The figure is the hours elapsed since then, the threshold the hours to the first occurrence.
    """
    from croniter import croniter

    since, now = since.astimezone(UTC), now.astimezone(UTC)
    due: datetime = croniter(cron, since).get_next(datetime)
    elapsed_h = (now - since).total_seconds() / 3600
    due_h = (due - since).total_seconds() / 3600
    fired = due <= now
    if fired:
        reason = f"schedule {cron!r} came due at {_when(due)}, after {since_what} ({_when(since)})"
    else:
        reason = f"schedule {cron!r}: next at {_when(due)} ({since_what}: {_when(since)})"
    return TriggerResult(
        "schedule",
        "fired" if fired else "quiet",
        reason,
        figure=round(elapsed_h, 2),
        threshold=round(due_h, 2),
        figure_text=f"{elapsed_h:.1f} h",
        threshold_text=f"≥ {due_h:.1f} h ({cron})",
        details={"cron": cron, "since": since.isoformat(), "due": due.isoformat()},
    )


# --------------------------------------------------------------------------- drift
def drift_trigger(
    config: DriftTrigger, reference: Reference, current: pd.DataFrame, *, champion: ChampionVersion
) -> TriggerResult:
    """Fired when Evidently finds at least ``share_of_drifted_columns`` of the features drifted.

    Only the reference's features are compared: the log's other columns (score, labels) are
    left aside, so the share is the one ``mlops monitor drift`` reports as "drift share".
    """
    from observability.drift import detect_drift
    from observability.prediction_log import with_feature_names

    window = _days(config.window_days)
    threshold = config.share_of_drifted_columns
    # Features only: a feature named like the log's scores ("score") is compared, not the scores.
    current = with_feature_names(current, scores=None)
    try:
        result = detect_drift(
            reference,
            current,
            drift_share=threshold,
            ignore_columns=[c for c in current.columns if c not in reference.features],
        )
    except InsufficientDataError:
        return TriggerResult(
            "drift",
            "no_data",
            f"{len(current)} predictions of {champion.label} logged over {window}: too few to judge drift",
            figure_text="-",
            threshold_text=f"≥ {threshold:.2f}",
            threshold=threshold,
            details={"rows": len(current)},
        )
    share = float(result.drift_share)
    fired = share >= threshold
    reason = f"drift share {share:.2f} {'≥' if fired else '<'} {threshold:.2f} over {window} ({champion.label})"
    if fired and result.drifted_features:
        reason += f": {', '.join(result.drifted_features[:5])}" + (" …" if len(result.drifted_features) > 5 else "")
    return TriggerResult(
        "drift",
        "fired" if fired else "quiet",
        reason,
        figure=share,
        threshold=threshold,
        figure_text=f"{share:.2f} ({result.drifted_count}/{result.tested_count})",
        threshold_text=f"≥ {threshold:.2f}",
        details={
            "rows": result.rows_current,
            "drifted_features": result.drifted_features,
            "tested_features": result.tested_count,
            "timings_s": dict(result.timings),
        },
    )


# --------------------------------------------------------------------------- performance
def _metric(name: str) -> Callable[[Any, Any], float]:
    """The scikit-learn function computing ``name`` from (labels, scores)."""
    from sklearn import metrics

    def on_labels(fn: Callable[..., float], **kw: Any) -> Callable[[Any, Any], float]:
        return lambda y, s: float(fn(y, (s >= DECISION_THRESHOLD).astype(int), **kw))

    table: dict[str, Callable[[Any, Any], float]] = {
        "roc_auc": lambda y, s: float(metrics.roc_auc_score(y, s)),
        "average_precision": lambda y, s: float(metrics.average_precision_score(y, s)),
        "accuracy": on_labels(metrics.accuracy_score),
        "f1": on_labels(metrics.f1_score, zero_division=0),
        "precision": on_labels(metrics.precision_score, zero_division=0),
        "recall": on_labels(metrics.recall_score, zero_division=0),
    }
    return table[name]


def performance_trigger(
    config: PerformanceTrigger, predictions: pd.DataFrame, *, champion: ChampionVersion
) -> TriggerResult:
    """Fired when ``metric`` over the labelled predictions is below ``min_value``.

    ``predictions``: the log's rows with ``score`` and ``label`` (missing where unlabelled).
    """
    from observability.labels import LABEL_COLUMN
    from observability.prediction_log import SCORE_COLUMN

    window = _days(config.window_days)
    metric, floor = config.metric, config.min_value

    def result(outcome: Outcome, reason: str, value: float | None, rows: int) -> TriggerResult:
        return TriggerResult(
            "performance",
            outcome,
            reason,
            figure=value,
            threshold=floor,
            figure_text="-" if value is None else f"{value:.3f} ({rows} labelled)",
            threshold_text=f"< {floor:.2f} ({metric})",
            details={"labelled_rows": rows, "metric": metric},
        )

    if LABEL_COLUMN in predictions.columns and SCORE_COLUMN in predictions.columns:
        labelled = predictions[predictions[LABEL_COLUMN].notna() & predictions[SCORE_COLUMN].notna()]
    else:
        labelled = predictions.iloc[0:0]
    rows = len(labelled)
    if rows < config.min_labelled_rows:
        reason = (
            f"{rows} labelled predictions of {champion.label} over {window}; "
            f"{metric} needs at least {config.min_labelled_rows}"
        )
        return result("no_data", reason, None, rows)
    labels = labelled[LABEL_COLUMN].astype(int).to_numpy()
    scores = labelled[SCORE_COLUMN].astype(float).to_numpy()
    if metric in ("roc_auc", "average_precision") and len(set(labels.tolist())) < 2:
        reason = (
            f"the {rows} labelled predictions of {champion.label} over {window} hold one class only; "
            f"{metric} needs both"
        )
        return result("no_data", reason, None, rows)
    value = _metric(metric)(labels, scores)
    fired = value < floor
    reason = (
        f"{metric} {value:.3f} {'<' if fired else '≥'} {floor:.2f} on {rows} labelled predictions "
        f"over {window} ({champion.label})"
    )
    return result("fired" if fired else "quiet", reason, value, rows)


# --------------------------------------------------------------------------- new data
def new_data_trigger(
    config: NewDataTrigger, dataset: DatasetSnapshot, lineage: Mapping[str, Any], *, champion: ChampionVersion
) -> TriggerResult:
    """Fired when the dataset file holds ``min_new_rows`` (or ``min_new_fraction``) more rows than
    the champion's run read. The same file (same content hash) has no new rows."""
    trained = lineage.get("training_rows")
    if not isinstance(trained, int | float) or trained <= 0:
        return TriggerResult(
            "new_data",
            "no_data",
            f"the lineage of {champion.label} records no training_rows to compare with",
            figure_text="-",
        )
    quality = lineage.get("data_quality")
    quarantined = quality.get("quarantined_rows", 0) if isinstance(quality, Mapping) else 0
    # The run read every row of the file; the quality gate set some aside before training.
    then = int(trained) + int(quarantined or 0)
    same_file = bool(dataset.dataset_hash) and dataset.dataset_hash == lineage.get("dataset_hash")
    new = 0 if same_file else max(dataset.rows - then, 0)
    bounds = []
    if config.min_new_rows is not None:
        bounds.append(config.min_new_rows)
    if config.min_new_fraction is not None:
        bounds.append(math.ceil(config.min_new_fraction * then))
    needed = max(min(bounds), 1)
    fired = new >= needed
    share = new / then
    reason = (
        f"{new} new rows in {dataset.name} since {champion.label} was trained "
        f"({dataset.rows} now, {then} then; {share:+.0%}) {'≥' if fired else '<'} {needed}"
    )
    if same_file:
        reason = f"{dataset.name} is the file {champion.label} was trained on (same content hash): no new rows"
    return TriggerResult(
        "new_data",
        "fired" if fired else "quiet",
        reason,
        figure=float(new),
        threshold=float(needed),
        figure_text=f"{new} rows ({share:+.0%})",
        threshold_text=f"≥ {needed} rows",
        details={"rows_now": dataset.rows, "rows_then": then, "same_file": same_file},
    )


# --------------------------------------------------------------------------- schema change
@dataclass(frozen=True)
class SchemaDiff:
    missing: list[str]
    new: list[str]
    retyped: dict[str, tuple[str, str]]

    def count(self, kinds: list[str]) -> int:
        return sum(len(getattr(self, k)) for k in kinds)

    def describe(self, kinds: list[str], shown: int = 5) -> str:
        def names(cols: list[str]) -> str:
            return ", ".join(cols[:shown]) + (f" (+{len(cols) - shown})" if len(cols) > shown else "")

        parts = []
        if "missing" in kinds and self.missing:
            parts.append(f"missing {names(self.missing)}")
        if "new" in kinds and self.new:
            parts.append(f"new {names(self.new)}")
        if "retyped" in kinds and self.retyped:
            parts.append("retyped " + names([f"{c} ({a} → {b})" for c, (a, b) in self.retyped.items()]))
        return "; ".join(parts)


def schema_diff(expected: Mapping[str, str], current: Mapping[str, str]) -> SchemaDiff:
    """Features of ``expected`` gone from ``current``, those ``current`` adds, and those whose kind changed."""
    return SchemaDiff(
        missing=[c for c in expected if c not in current],
        new=[c for c in current if c not in expected],
        retyped={c: (expected[c], current[c]) for c in expected if c in current and current[c] != expected[c]},
    )


def schema_change_trigger(
    config: SchemaChangeTrigger, dataset: DatasetSnapshot, *, champion: ChampionVersion
) -> TriggerResult:
    """Fired when the dataset's features differ from the champion's serving schema in a counted way."""
    diff = schema_diff(champion.features, dataset.features)
    kinds: list[str] = list(config.changes)
    changes = diff.count(kinds)
    fired = changes > 0
    if fired:
        reason = f"feature schema of {dataset.name} changed against {champion.label}: {diff.describe(kinds)}"
    else:
        reason = f"{dataset.name} has the {len(champion.features)} features of {champion.label}, same types"
        ignored = diff.describe([k for k in ("missing", "new", "retyped") if k not in kinds])
        if ignored:
            reason += f" (not counted: {ignored})"
    return TriggerResult(
        "schema_change",
        "fired" if fired else "quiet",
        reason,
        figure=float(changes),
        threshold=1.0,
        figure_text=f"{changes} changed",
        threshold_text="≥ 1 (" + ", ".join(kinds) + ")",
        details={"missing": diff.missing, "new": diff.new, "retyped": {c: list(t) for c, t in diff.retyped.items()}},
    )


def erasure_trigger(champion: ChampionVersion) -> TriggerResult:
    """Fired while the champion carries an ``erasure_pending`` tag (its weights hold what it
    learned from an erased subject's rows)."""
    pending = champion.erasure_pending
    reason = (
        f"{champion.label} was trained on rows of a subject erased since ({pending}): retrain without them"
        if pending
        else f"{champion.label} holds no erased subject's rows"
    )
    return TriggerResult(
        "erasure",
        "fired" if pending else "quiet",
        reason,
        figure_text="erasure_pending" if pending else "-",
        threshold_text="tagged erasure_pending",
    )


# --------------------------------------------------------------------------- all of a model's triggers
@dataclass(frozen=True)
class Evaluation:
    """A model's triggers, evaluated at ``at``."""

    model: str
    at: datetime
    results: list[TriggerResult]
    champion: str | None = None
    # Seconds per trigger, and for looking the champion up ("champion"): what the evaluation cost.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fired(self) -> list[TriggerResult]:
        return [r for r in self.results if r.fired]

    @property
    def errors(self) -> list[TriggerResult]:
        return [r for r in self.results if r.outcome == "error"]


def threshold_of(settings: TriggerSettings, trigger: TriggerName) -> tuple[float | None, str]:
    """A trigger's threshold as configured (for the rows of triggers that had nothing to judge)."""
    if trigger == "schedule" and settings.schedule is not None:
        return None, settings.schedule
    if trigger == "drift" and settings.drift is not None:
        return settings.drift.share_of_drifted_columns, f"≥ {settings.drift.share_of_drifted_columns:.2f}"
    if trigger == "performance" and settings.performance is not None:
        perf = settings.performance
        return perf.min_value, f"< {perf.min_value:.2f} ({perf.metric})"
    if trigger == "new_data" and settings.new_data is not None:
        bounds = []
        if settings.new_data.min_new_rows is not None:
            bounds.append(f"{settings.new_data.min_new_rows} rows")
        if settings.new_data.min_new_fraction is not None:
            bounds.append(f"{settings.new_data.min_new_fraction:.0%}")
        return None, "≥ " + " or ".join(bounds)
    if trigger == "schema_change" and settings.schema_change is not None:
        return 1.0, "≥ 1 (" + ", ".join(settings.schema_change.changes) + ")"
    if trigger == "erasure" and settings.erasure is not None:
        return None, "tagged erasure_pending"
    return None, ""


def _unjudged(settings: TriggerSettings, trigger: TriggerName, outcome: Outcome, reason: str) -> TriggerResult:
    threshold, text = threshold_of(settings, trigger)
    return TriggerResult(trigger, outcome, reason, threshold=threshold, figure_text="-", threshold_text=text)


def _error(settings: TriggerSettings, trigger: TriggerName, exc: BaseException) -> TriggerResult:
    text = str(exc) if isinstance(exc, MlopsError) else f"{type(exc).__name__}: {exc}"
    return _unjudged(settings, trigger, "error", f"cannot evaluate: {text}"[:300])


def evaluate_triggers(
    settings: TriggerSettings,
    inputs: TriggerInputs,
    *,
    last_launch: datetime | None,
    first_evaluated: datetime,
    now: datetime | None = None,
) -> Evaluation:
    """Every enabled trigger of ``settings.model``, each on its own: one that cannot be evaluated
    is an ``error`` result and the others still count.

    The schedule counts from ``last_launch`` (the last trigger-started run), else from the
    champion's registration, else from ``first_evaluated`` (the first time the triggers looked
    at this model): a model with neither a launch nor a champion does not start on first sight.
    """
    now = now or datetime.now(UTC)
    results: list[TriggerResult] = []
    timings: dict[str, float] = {}
    champion: ChampionVersion | None = None
    champion_error: BaseException | None = None
    started = time.perf_counter()
    try:
        champion = inputs.champion()
    except Exception as exc:  # registry unreachable: every champion-based trigger says so
        champion_error = exc
    timings["champion"] = round(time.perf_counter() - started, 3)
    snapshot: list[DatasetSnapshot] = []

    def dataset() -> DatasetSnapshot:
        if not snapshot:  # read once for new_data and schema_change
            snapshot.append(inputs.dataset())
        return snapshot[0]

    def one(name: TriggerName) -> TriggerResult:
        if name == "schedule":
            assert settings.schedule is not None
            if last_launch is not None:
                return schedule_trigger(
                    settings.schedule, since=last_launch, since_what="the last trigger-started run", now=now
                )
            if champion is not None and champion.registered is not None:
                return schedule_trigger(
                    settings.schedule,
                    since=champion.registered,
                    since_what=f"{champion.label} was registered",
                    now=now,
                )
            return schedule_trigger(
                settings.schedule, since=first_evaluated, since_what="the triggers first looked", now=now
            )
        if champion_error is not None:
            raise champion_error
        if champion is None:
            return _unjudged(settings, name, "no_data", f"{settings.model} has no champion version to compare with")
        if name == "drift":
            assert settings.drift is not None
            window = timedelta(days=settings.drift.window_days)
            try:
                current = inputs.predictions(champion.version, window, labels=False)
            except NoPredictionsError:
                why = f"no predictions of {champion.label} logged over {_days(settings.drift.window_days)}"
                return _unjudged(settings, "drift", "no_data", why)
            return drift_trigger(settings.drift, inputs.reference(champion.version), current, champion=champion)
        if name == "performance":
            assert settings.performance is not None
            window = timedelta(days=settings.performance.window_days)
            try:
                frame = inputs.predictions(champion.version, window, labels=True)
            except NoPredictionsError:
                import pandas as pd

                frame = pd.DataFrame()
            return performance_trigger(settings.performance, frame, champion=champion)
        if name == "new_data":
            assert settings.new_data is not None
            return new_data_trigger(settings.new_data, dataset(), inputs.lineage(champion.version), champion=champion)
        if name == "erasure":
            return erasure_trigger(champion)
        assert settings.schema_change is not None
        return schema_change_trigger(settings.schema_change, dataset(), champion=champion)

    for name in settings.enabled:
        started = time.perf_counter()
        try:
            results.append(one(name))
        except Exception as exc:  # one trigger's unreadable data never hides the others' verdicts
            results.append(_error(settings, name, exc))
        timings[name] = round(time.perf_counter() - started, 3)
    return Evaluation(
        model=settings.model,
        at=now,
        results=results,
        champion=champion.version if champion is not None else None,
        timings=timings,
    )


def launch_reason(evaluation: Evaluation, limit: int = 500) -> str:
    """Why the run starts, for the run meta and the version's lineage: every fired trigger's reason.

    Cut to ``limit`` characters (the run config's bound), ending with "…" when cut.
    """
    fired = evaluation.fired
    if not fired:
        raise ValueError("no trigger fired")
    names = ", ".join(r.trigger for r in fired)
    text = f"retraining trigger{'s' if len(fired) > 1 else ''} {names}: " + "; ".join(r.reason for r in fired)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "DECISION_THRESHOLD",
    "ChampionVersion",
    "DatasetSnapshot",
    "Evaluation",
    "Outcome",
    "SchemaDiff",
    "TriggerInputs",
    "TriggerResult",
    "drift_trigger",
    "erasure_trigger",
    "evaluate_triggers",
    "launch_reason",
    "new_data_trigger",
    "performance_trigger",
    "schedule_trigger",
    "schema_change_trigger",
    "schema_diff",
    "threshold_of",
]
