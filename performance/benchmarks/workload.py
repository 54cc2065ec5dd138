"""What the benchmarks score and send: models fitted on the bundled sample and its rows as requests.

The features are the sample's own (:func:`training.sample_data.sample_feature_schema`); models
are fitted on one seed of the sample and requests come from another (rows the model has not seen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from training.config import ModelConfig
from training.modeling import build_pipeline
from training.sample_data import TARGET_COLUMN, generate_credit_risk, sample_feature_rows, sample_feature_schema

if TYPE_CHECKING:
    from serving.models import LoadedModel

TRAIN_SEED = 1
REQUEST_SEED = 2


def sample_model(rows: int, version: str = "1.0.0", config: ModelConfig | None = None) -> LoadedModel:
    """Model ``bench`` ``version``, fitted on ``rows`` rows of the sample (platform defaults unless ``config``)."""
    from serving.models import LoadedModel

    schema = sample_feature_schema()
    data = generate_credit_risk(rows, seed=TRAIN_SEED)
    fitted = build_pipeline(config or ModelConfig(), schema).fit(data[schema.columns], data[TARGET_COLUMN])
    return LoadedModel("bench", version, fitted, schema.to_dict())


def request_rows(count: int) -> list[dict[str, Any]]:
    """``count`` JSON request bodies as a client sends them (unseen rows, plain Python values)."""
    return sample_feature_rows(count, seed=REQUEST_SEED)
