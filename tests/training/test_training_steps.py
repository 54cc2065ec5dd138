"""The training room's steps (ingest, train, evaluate) called in-process as their components do.

Fixtures from :mod:`tests.steps`; each step's record, metrics and contract are checked here.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlops.contracts import DataContract, Evaluation, TrainedModel, load_model
from mlops.hashing import frame_hash
from tests.steps import HOLDOUT, MODEL, SAMPLE_ROWS, StepRun, recorded
from training.config import EvaluationGate
from training.datasets import read_dataset
from training.steps import evaluate_step

PII = ["full_name", "email", "phone", "national_id", "note"]


def test_ingest_decides_roles_and_hashes_the_data_as_given(sample_run: StepRun, ingested: DataContract) -> None:
    roles = ingested.roles
    assert (roles.name, roles.entity, roles.timestamp, roles.target) == (
        "credit_risk",
        "applicant_id",
        "application_ts",
        "defaulted",
    )
    assert roles.sensitive == ["sex", "age_band"]
    assert sorted(roles.pii) == sorted(PII)
    assert roles.generated == []
    # PII, sensitive attributes, the key columns and the target are never features.
    assert not set(roles.features) & {*PII, *roles.sensitive, roles.entity, roles.timestamp, roles.target}
    assert {"income", "credit_score", "employment_type"} <= set(roles.features)
    assert set(roles.categorical) == {"employment_type", "home_ownership", "loan_purpose", "region"}
    # The hash is of the data as the user gave it, before anonymisation.
    assert ingested.dataset_hash == frame_hash(read_dataset(sample_run.config.dataset))
    assert ingested.rows == SAMPLE_ROWS

    written = pd.read_parquet(sample_run.artifact("ingest", "dataset"))
    assert len(written) == SAMPLE_ROWS
    assert "national_id" not in written.columns

    rec = recorded(sample_run, "ingest")
    figures = rec["figures"]
    assert figures["rows"] == SAMPLE_ROWS
    assert figures["features"] == len(roles.features)
    assert figures["dataset_hash"] == ingested.dataset_hash
    assert figures["pii"] == "full_name=hash, email=hash, phone=mask, national_id=drop, note=redact"
    # Text figures stay in the run record; KFP metrics hold numbers only.
    columns = len(pd.read_parquet(sample_run.raw).columns)
    assert sample_run.received("ingest") == {"rows": SAMPLE_ROWS, "columns": columns, "features": len(roles.features)}


def test_train_fits_on_all_but_the_latest_rows_and_describes_the_serving_schema(
    sample_run: StepRun, featured: DataContract, trained: TrainedModel
) -> None:
    roles = featured.roles
    assert trained.family == sample_run.config.platform.model.family
    assert list(trained.serving_schema.features) == roles.features
    assert set(trained.serving_schema.sensitive) == {"sex", "age_band"}
    assert sorted(trained.serving_schema.pii) == sorted(PII)
    assert trained.schema_hash == trained.serving_schema.schema_hash()
    assert trained.holdout == "latest 20% by event time (application_ts)"

    rec = recorded(sample_run, "train")
    figures = rec["figures"]
    holdout = pd.read_parquet(sample_run.artifact("train", "holdout"))
    assert figures["rows_holdout"] == len(holdout)
    assert figures["rows_train"] + figures["rows_holdout"] == featured.rows
    assert figures["rows_holdout"] == pytest.approx(0.2 * featured.rows, abs=1)
    training_set = pd.read_parquet(sample_run.artifact("build_features", "training_set"))
    # The holdout is the latest rows by event time: none of them older than a fitted row.
    fitted = training_set[~training_set[roles.entity].isin(holdout[roles.entity])]
    assert fitted[roles.timestamp].max() <= holdout[roles.timestamp].min()

    model = load_model(sample_run.artifact("train", "model"))
    scores = model.predict_proba(holdout[roles.features])[:, 1]
    assert ((scores >= 0) & (scores <= 1)).all()


def test_evaluate_passes_the_gate_without_a_champion(sample_run: StepRun, evaluated: Evaluation) -> None:
    gate = sample_run.config.platform.evaluation
    assert evaluated.passed, evaluated.reasons
    assert evaluated.reasons == []
    assert evaluated.metrics[gate.metric] >= gate.min_value
    assert {"roc_auc", "accuracy", "f1", "average_precision"} <= set(evaluated.metrics)
    assert evaluated.champion is None
    assert evaluated.champion_metrics == {}

    rec = recorded(sample_run, "evaluate")
    assert rec["figures"]["champion"] == "none"
    assert rec["figures"]["roc_auc"] == round(evaluated.metrics["roc_auc"], 4)
    assert set(sample_run.received("evaluate")) == {k for k, v in evaluated.metrics.items() if not math.isnan(v)}


def test_evaluate_blocks_a_model_below_the_gate(
    sample_run: StepRun, featured: DataContract, trained: TrainedModel, evaluated: Evaluation
) -> None:
    strict = sample_run.variant("strict-evaluation", evaluation=EvaluationGate(metric="roc_auc", min_value=0.99))
    result = strict.step(
        "evaluate",
        evaluate_step,
        strict.platform.evaluation,
        strict.registry(),
        featured,
        trained,
        inputs=(MODEL, HOLDOUT),
        source=sample_run,
    )
    assert not result.passed
    assert result.metrics == evaluated.metrics  # same model, same holdout: only the verdict differs
    assert len(result.reasons) == 1
    assert result.reasons[0].startswith("roc_auc ")
    assert "below the minimum 0.99" in result.reasons[0]
    rec = recorded(strict, "evaluate", status="blocked")
    assert rec["message"] == result.reasons[0]
