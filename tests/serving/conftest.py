"""Fixtures shared by the serving tests."""

from __future__ import annotations

import pytest

from serving.models import LoadedModel
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk


@pytest.fixture(scope="module")
def small_champion(sample_schema: FeatureSchema) -> LoadedModel:
    """A quick fitted scikit-learn pipeline of the sample (600 rows, 20 boosting rounds), as
    served without a compiled scorer: for tests of the app's answers, not of its scores."""
    data = generate_credit_risk(600)
    fitted = build_pipeline(ModelConfig(params={"max_iter": 20}), sample_schema).fit(
        data[sample_schema.columns], data["defaulted"]
    )
    return LoadedModel("credit_risk", "1.0.0", fitted, sample_schema.to_dict())
