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

# The gate the governance step adds to the card (its row links to the Fairness section).
FAIRNESS_GATE = "fairness"

# Defaults say plainly that the dataset's owner has not written these texts: the card must not
# pass off generic prose as a statement about this model. The renderer mutes them.
DEFAULT_INTENDED_USE = (
    "Not stated. Set intended_use: in the dataset config to say what models trained on this data "
    "are for, who acts on their scores, and where they must not be used."
)
LIMITATIONS_NOT_STATED = (
    "Not stated. Set limitations: in the dataset config (a list of strings) to record where models "
    "trained on this data are known to fall short; only the platform's general limitations follow."
)
PLATFORM_LIMITATIONS = [
    "The holdout metrics are an estimate from one split of the data (see Training data for how it "
    "was chosen), not a guarantee for future data; monitor drift and retrain when triggers fire.",
    "Rows unlike the training data (categories never seen in training, values outside the seen "
    "ranges) get scores with no evidence behind them.",
]
DEFAULT_LIMITATIONS = [LIMITATIONS_NOT_STATED, *PLATFORM_LIMITATIONS]
DEFAULT_ETHICAL_CONSIDERATIONS = [
    "Sensitive attributes declared in the dataset config are used to assess fairness, never as "
    "model inputs; check the feature list.",
    "Inputs that are not sensitive attributes can still act as proxies for them; a passing "
    "fairness gate does not rule that out, and it does not establish fairness in every sense.",
    "Groups smaller than the gate's minimum size are shown but do not decide the gate, and an "
    "attribute without two groups of that size is marked not assessed: both deserve a manual look.",
    "Columns declared as PII are anonymised before training; lineage records the dataset "
    "snapshot each version was trained on.",
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
    description: str = Field(default="", description="the dataset's description from its config")
    positive_label: str | None = Field(default=None, description="the target label encoded as 1")
    holdout: str | None = Field(default=None, description="how the holdout rows were chosen")
    left_out: dict[str, str] = Field(
        default_factory=dict, description="columns left out of the features automatically: column -> reason"
    )
    nullable_features: list[str] = Field(
        default_factory=list, description="features that may be missing at serving time"
    )


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
