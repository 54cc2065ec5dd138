"""The model card as data: one pydantic model, rendered to Markdown and HTML by ``render``.

The card is the record a reviewer reads before a model version is promoted: what it is, what it
was trained on, how it scored against the current champion, which gates it passed, how its
decisions split across sensitive groups and which inputs drive it. Unknown keys are errors, as
everywhere in the platform's typed data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from model_governance.fairness import FairnessReport

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

ParamValue = str | int | float | bool | None

DEFAULT_INTENDED_USE = (
    "Estimates the probability that a consumer credit applicant defaults, to support (not "
    "replace) a human credit decision: ranking applications for review and informing limits "
    "within the lender's written credit policy. Intended for applications of the same product, "
    "population and period as the training data, scored by the platform's serving stack."
)
DEFAULT_LIMITATIONS = [
    "Performance is measured on a holdout sample of the training period; it is an estimate, "
    "not a guarantee for future applicants. Economic shifts (rates, unemployment) change default "
    "behaviour: monitor drift and retrain when the triggers fire.",
    "Not validated for other credit products (mortgages, business lending), other markets or "
    "jurisdictions, or for decisions other than credit risk (e.g. pricing, marketing, employment).",
    "Scores rank risk; they are calibrated probabilities only if calibration was checked "
    "separately. The default 0.5 threshold behind the fairness figures is not a credit policy.",
    "Applicants unlike the training data (new categories, values outside the seen ranges) get "
    "scores with no evidence behind them.",
]
DEFAULT_ETHICAL_CONSIDERATIONS = [
    "Sensitive attributes (such as sex and age band) are used to assess fairness, not as model "
    "inputs; check the feature list. Other inputs (region, employment type, income) can still act "
    "as proxies for protected groups.",
    "Fairness is assessed with demographic parity and equalized odds over groups large enough to "
    "measure. Passing the gate does not establish fairness in every sense; groups below the size "
    "threshold are reported but not decided and deserve a manual look.",
    "Adverse decisions informed by this model must be explainable to the applicant and open to "
    "human review and appeal; feature attributions describe the model, not causes.",
    "Personal data is processed under the platform's consent and retention rules; PII columns are "
    "anonymised before training and lineage records the dataset snapshot each version used.",
]


class CardBase(BaseModel):
    """Frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelDetails(CardBase):
    family: str = Field(min_length=1, description="e.g. hist_gradient_boosting")
    estimator: str | None = Field(default=None, description="estimator class name")
    params: dict[str, ParamValue] = Field(default_factory=dict)


class TimeRange(CardBase):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class TrainingData(CardBase):
    dataset_name: str = Field(min_length=1)
    rows: int = Field(ge=0)
    dataset_hash: str | None = None
    features: list[str]
    target: str
    positive_rate: float | None = Field(default=None, ge=0, le=1)
    time_range: TimeRange | None = None


class ChampionComparison(CardBase):
    """The candidate against the current champion (``champion_version`` None: no champion yet)."""

    champion_version: str | None = Field(default=None, pattern=SEMVER_PATTERN)
    primary_metric: str
    champion_metrics: dict[str, float] = Field(default_factory=dict)
    max_regression: float | None = Field(default=None, ge=0)


class ModelCard(CardBase):
    model_name: str = Field(min_length=1)
    # None until the registry assigns a version.
    version: str | None = Field(default=None, pattern=SEMVER_PATTERN)
    created_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    model: ModelDetails
    training_data: TrainingData
    metrics: dict[str, float] = Field(default_factory=dict, description="holdout metrics")
    champion: ChampionComparison | None = None
    intended_use: str = DEFAULT_INTENDED_USE
    limitations: list[str] = Field(default_factory=lambda: list(DEFAULT_LIMITATIONS))
    ethical_considerations: list[str] = Field(default_factory=lambda: list(DEFAULT_ETHICAL_CONSIDERATIONS))
    fairness: dict[str, Any] | None = Field(default=None, description="FairnessReport.to_dict()")
    feature_importance: dict[str, float] = Field(default_factory=dict)
    importance_method: str | None = Field(default=None, description="how the importances were computed")
    gates: dict[str, bool] = Field(default_factory=dict)
    lineage: dict[str, str] = Field(default_factory=dict, description="run id, dataset snapshot, ...")

    @field_validator("fairness")
    @classmethod
    def _fairness_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Checked here so that a malformed report fails when the card is built, not when rendered.
        if value is not None:
            try:
                FairnessReport.from_dict(value)
            except (KeyError, TypeError) as exc:
                raise ValueError(f"the output of FairnessReport.to_dict() ({exc})") from None
        return value

    @property
    def passed(self) -> bool:
        """Every recorded gate passed (False when no gate was recorded)."""
        return bool(self.gates) and all(self.gates.values())

    def fairness_report(self) -> FairnessReport | None:
        return None if self.fairness is None else FairnessReport.from_dict(self.fairness)
