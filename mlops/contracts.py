"""Typed step contracts: what travels between the steps of a pipeline.

A run's configuration travels as one serialised ``platform_config.RunConfig``, validated once
at each step's entry; the steps receive only their rooms' sections of it. What a step hands
on rides on its output artifact as metadata (``contract``: the model's JSON, exact where KFP's
protobuf would turn integers into floats), read back by the next step with
:func:`read_contract`:

    dataset / clean / training_set / holdout  DataContract   roles, dataset hash, feature refs
    report (quality)                          QualityResult  the data-quality gate and its suite
    model                                     TrainedModel   serving schema, its hash, fingerprint
    evaluation                                Evaluation     metrics, champion comparison, gate
    governance                                GateResult     the fairness gate (the assessment is the file)
    registration                              Registration   name, semantic version, every gate

Nothing here imports KFP: a component passes its artifact's ``metadata`` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ConfigDict, Field, ValidationError

from mlops.config import StrictModel
from mlops.errors import PipelineError
from mlops.roles import Roles
from mlops.schema import ServingSchema

CONTRACT_KEY = "contract"
C = TypeVar("C", bound=StrictModel)


class ConsentCheck(StrictModel):
    """How the data's subjects were checked against the consent store before anything was kept."""

    purpose: str
    # The privacy.consent.training mode: off, opt_out or opt_in.
    mode: str
    # The column that names the data subject; None: the data has none (nothing could be checked).
    subject_column: str | None
    rows_read: int
    # Rows dropped: their subject withdrew (opt_out), or has no granted record (opt_in).
    excluded_rows: int
    excluded_subjects: int
    # Rows whose subject has no record for the purpose (kept under opt_out, dropped under opt_in).
    rows_without_record: int
    checked_at: str
    # Where the records were read: a URL without credentials.
    store: str


class DataContract(StrictModel):
    """The data a step hands on: its column roles, content hash and size."""

    roles: Roles
    dataset_hash: str
    rows: int
    # `view:feature` references, once the feature store built the training set.
    feature_refs: list[str] = Field(default_factory=list)
    # The consent check at ingest; None when none was asked for (a step run outside the pipeline).
    consent: ConsentCheck | None = None

    @property
    def feature_view(self) -> str:
        return self.feature_refs[0].partition(":")[0] if self.feature_refs else ""


class QualityResult(StrictModel):
    """The data-quality gate: its verdict, the suite it used, what was quarantined."""

    passed: bool
    suite: str
    suite_origin: str
    suite_path: str
    row_pass_rate: float
    expectation_pass_rate: float
    failed_expectations: list[str]
    quarantined_rows: int
    # Set when the run profiled a baseline suite: it is accepted when a version registers.
    baseline_pending: str | None = None
    baseline: str | None = None


class TrainedModel(StrictModel):
    """A fitted model: what it expects (serving schema and hash) and what it was fitted on."""

    family: str
    # The family's hyper-parameters as configured (lineage, the card's training section).
    params: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    serving_schema: ServingSchema
    schema_hash: str
    training_fingerprint: str
    # How the holdout was chosen, in words (lineage, model card).
    holdout: str


class GateResult(StrictModel):
    """One gate's verdict and, when it did not pass, why."""

    passed: bool
    reasons: list[str] = Field(default_factory=list)


class Evaluation(GateResult):
    """Holdout metrics and the comparison with the current champion (the evaluation gate)."""

    # NaN metrics (e.g. AUC on a one-class holdout) stay NaN through JSON.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    metrics: dict[str, float]
    champion: str | None = None
    champion_metrics: dict[str, float] = Field(default_factory=dict)


class Registration(StrictModel):
    """The registered version and the verdict of every gate."""

    model: str
    version: str
    gates: dict[str, bool]

    @property
    def passed(self) -> bool:
        return all(self.gates.values())


def publish(metadata: MutableMapping[str, Any], contract: StrictModel) -> None:
    """Put a contract on an output artifact's metadata."""
    metadata[CONTRACT_KEY] = contract.model_dump_json()


def read_contract(metadata: Mapping[str, Any], kind: type[C], *, artifact: str) -> C:
    """The contract an upstream step put on ``artifact``; a clear error when it is missing."""
    text = metadata.get(CONTRACT_KEY)
    if not isinstance(text, str):
        raise PipelineError(f"input artifact {artifact!r} carries no {kind.__name__} (its producer is not a step)")
    try:
        return kind.model_validate_json(text)
    except ValidationError as exc:
        raise PipelineError(f"input artifact {artifact!r}: not a valid {kind.__name__}: {exc}") from exc


def save_model(model: Any, path: Path) -> None:
    """Write a fitted model between steps (the registry stores it with skops)."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)


def load_model(path: Path) -> Any:
    """A model written by :func:`save_model` in an upstream step of the same run."""
    import joblib

    return joblib.load(path)


__all__ = [
    "CONTRACT_KEY",
    "ConsentCheck",
    "DataContract",
    "Evaluation",
    "GateResult",
    "QualityResult",
    "Registration",
    "TrainedModel",
    "load_model",
    "publish",
    "read_contract",
    "save_model",
]
