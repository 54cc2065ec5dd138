"""The training room's pipeline steps: ingest, train, evaluate.

Each takes only its own sections of the run's config (the component parses the run config
once and hands them over), the contracts its inputs carry and its artifact paths, records
itself (run folder from the runner's environment; figures also to KFP metrics) and returns
the contract of its output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlops.config import DatasetConfig
from mlops.contracts import ConsentCheck, DataContract, Evaluation, TrainedModel, load_model, save_model
from mlops.errors import DatasetError
from mlops.object_store import ObjectStore
from mlops.state import MetricsSink, StepRecord, record_step
from training.config import EvaluationGate, ModelConfig
from training.datasets import (
    decide_roles,
    ingest,
    numeric_placeholders,
    prepare_features,
    target_labels,
    written_with_decimal_comma,
)

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry

# Applies the dataset's PII policy to a frame: (frame, dataset config) -> (anonymised frame,
# {column: action}). Given by the component (privacy room, its key settings already bound).
Anonymiser = Callable[[pd.DataFrame, DatasetConfig], tuple[pd.DataFrame, dict[str, str]]]
# Drops the rows whose data subject lacks consent for training: (frame, subject column or None)
# -> (kept rows, counts). Given by the component (privacy room, its store already chosen).
ConsentFilter = Callable[[pd.DataFrame, str | None], tuple[pd.DataFrame, ConsentCheck]]


def ingest_step(
    cfg: DatasetConfig,
    out_dataset: Path,
    *,
    anonymise: Anonymiser,
    metrics: MetricsSink | None = None,
    store: ObjectStore | None = None,
    consent: ConsentFilter | None = None,
) -> DataContract:
    """Read the dataset, drop rows without consent, add ids/timestamps if absent, decide column
    roles, anonymise PII.

    PII is anonymised here, before the first write: raw personal data never reaches an
    artifact, the quarantine, a report or the feature store.
    """
    with record_step("ingest", metrics=metrics) as rec:
        got = ingest(cfg, store=store)
        checked = None
        if consent is not None:
            # Before anything else sees the rows; a generated entity id names no subject.
            subject = cfg.subject_id or (got.entity if got.entity not in got.generated else None)
            kept, checked = consent(got.frame, subject)
            got = replace(got, frame=kept)
            if kept.empty and checked.rows_read:
                raise DatasetError(
                    f"dataset {cfg.name!r}: no row left after the consent check ({checked.mode}: "
                    f"{checked.excluded_rows} of {checked.rows_read} rows have no consent for {checked.purpose})"
                )
        labels = target_labels(got.frame[cfg.target], cfg)
        roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated, labels=labels)
        frame, actions = anonymise(got.frame, cfg)
        frame = prepare_features(frame, roles)
        out_dataset.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out_dataset, index=False)
        rec.figures.update(
            rows=len(frame),
            columns=got.frame.shape[1] - len(got.generated),
            features=len(roles.features),
            dataset_hash=got.dataset_hash,
        )
        if checked is not None:
            _record_consent(rec, checked)
        if actions:
            rec.figures["pii"] = ", ".join(f"{c}={a}" for c, a in actions.items())
        if roles.left_out:
            rec.figures["left_out"] = len(roles.left_out)
            rec.notes += [f"not a feature: {c} — {why}" for c, why in roles.left_out.items()]
        # Text columns read as text only because of a placeholder ("?"): say how to read them as numbers.
        declared = {*(cfg.categorical or []), *cfg.exclude}
        for column in (c for c in (*roles.categorical, *roles.left_out) if c not in declared):
            if cfg.decimal == "." and written_with_decimal_comma(got.frame[column]):
                rec.notes.append(
                    f"{column} is numbers written with a decimal comma (1,5), so it was read as text "
                    f'({"left out" if column in roles.left_out else "categories"}): set `decimal: ","` '
                    "in the dataset config to read it as a numeric column"
                )
                continue
            tokens = numeric_placeholders(got.frame[column])
            if tokens:
                rec.notes.append(
                    f"{column} is numbers except for {', '.join(map(repr, tokens))}, so it was read as text "
                    f"({'left out' if column in roles.left_out else 'categories'}): add "
                    f"{'them' if len(tokens) > 1 else 'it'} to `na_values:` in the dataset config to read "
                    "it as a numeric column with missing values"
                )
        if roles.generated:
            rec.notes.append(f"generated (not in the file): {', '.join(roles.generated)}")
        if (roles.positive_label, roles.negative_label) not in ((1, 0), (True, False)):
            rec.notes.append(f"target {roles.target}: {roles.positive_label!r} is the positive label (1)")
    return DataContract(roles=roles, dataset_hash=got.dataset_hash, rows=len(frame), consent=checked)


def _record_consent(rec: StepRecord, checked: ConsentCheck) -> None:
    if checked.mode == "off":
        return
    rec.figures["consent_excluded_rows"] = checked.excluded_rows
    rec.figures["consent_rows_without_record"] = checked.rows_without_record
    if checked.subject_column is None:
        rec.notes.append("consent not checked: the dataset names no subject column (subject_id or entity_id)")
    else:
        rec.notes.append(
            f"consent ({checked.mode}, {checked.purpose}): {checked.excluded_rows} of {checked.rows_read} rows "
            f"excluded ({checked.excluded_subjects} subjects); {checked.rows_without_record} rows without a record"
        )


def train_step(
    model_config: ModelConfig,
    data: DataContract,
    training_set: Path,
    out_model: Path,
    out_holdout: Path,
    *,
    metrics: MetricsSink | None = None,
) -> TrainedModel:
    """Fit the configured model on all but the holdout; returns what the model expects."""
    from training.fit import train

    with record_step("train", metrics=metrics) as rec:
        model, holdout, result = train(pd.read_parquet(training_set), data.roles, model_config)
        save_model(model, out_model)
        holdout.to_parquet(out_holdout, index=False)
        rec.figures.update(
            family=model_config.family,
            rows_train=result.rows_train,
            rows_holdout=result.rows_holdout,
            holdout=result.holdout_method,
            fit_seconds=round(result.train_metrics["fit_seconds"], 2),
        )
        if result.schema.nullable:
            rec.figures["nullable_features"] = len(result.schema.nullable)
        rec.notes.append(f"holdout: {result.holdout}")
    return TrainedModel(
        family=model_config.family,
        params=dict(model_config.params),
        serving_schema=result.schema,
        schema_hash=result.schema_hash,
        training_fingerprint=result.training_fingerprint,
        holdout=result.holdout,
    )


def evaluate_step(
    gate: EvaluationGate,
    registry: ModelRegistry,
    data: DataContract,
    trained: TrainedModel,
    model: Path,
    holdout: Path,
    *,
    metrics: MetricsSink | None = None,
) -> Evaluation:
    """Holdout metrics and the champion comparison (the evaluation gate)."""
    from training.fit import evaluate

    with record_step("evaluate", metrics=metrics) as rec:
        result = evaluate(
            load_model(model),
            pd.read_parquet(holdout),
            data.roles,
            gate,
            registry=registry,
            schema_hash=trained.schema_hash,
        )
        rec.figures.update({k: round(v, 4) for k, v in result.metrics.items()})
        rec.figures["champion"] = result.champion or "none"
        if not result.passed:
            rec.block("; ".join(result.reasons))
    return result


__all__ = ["Anonymiser", "evaluate_step", "ingest_step", "train_step"]
