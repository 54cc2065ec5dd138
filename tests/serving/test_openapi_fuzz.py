"""Fuzz the served OpenAPI spec (schemathesis): whatever a client sends, never a 5xx.

Schemathesis reads ``/openapi.json`` from the app and generates valid and invalid bodies for
every operation (Hypothesis). Each response must be documented and conform to its schema, and
none may be a server error: bad input is a 422 naming the fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from serving.app import create_app
from serving.models import LoadedModel
from serving.shadow import ComparisonStore, ShadowMirror
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, sample_schema: FeatureSchema) -> Iterator[FastAPI]:
    data = generate_credit_risk(1500)
    x, y = data[sample_schema.columns], data["defaulted"]
    serving_schema = sample_schema.to_dict()
    champion = LoadedModel(
        "credit_risk", "1.0.0", build_pipeline(ModelConfig(), sample_schema).fit(x, y), serving_schema
    )
    challenger = LoadedModel(
        "credit_risk",
        "1.1.0",
        build_pipeline(ModelConfig(family="logistic_regression"), sample_schema).fit(x, y),
        serving_schema,
    )
    store = ComparisonStore(Path(tmp_path_factory.mktemp("fuzz")) / "pairs.sqlite")
    mirror = ShadowMirror(challenger.predict, store, challenger_version="1.1.0")
    yield create_app(
        champion=champion,
        challenger=challenger,
        serving_schema=serving_schema,
        model_name="credit_risk",
        shadow=mirror,
        segment_columns=["sex", "age_band"],
        max_batch=50,
    )
    mirror.close()


@pytest.fixture(scope="module")
def api(app: FastAPI) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    # Every default check too: documented status codes and content types, response schemas,
    # schema-valid bodies accepted and schema-violating ones rejected.
    case.validate_response(response)
