"""Online serving of a version trained on data with gaps, a numeric sensitive attribute and PII.

The serving schema is the one training decides (:meth:`ServingSchema.from_frame`): features
with gaps are nullable, the sensitive ``Age`` keeps its number type and fairness bins, and
the declared PII names are refused by name without echoing their values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops.schema import ServingSchema
from serving.app import create_app
from serving.models import LoadedModel
from serving.shadow import ComparisonStore, ShadowMirror
from tests.byod import credit_file
from training.config import ModelConfig
from training.modeling import build_pipeline

FEATURES = ["checking_status", "duration_months", "credit_amount", "savings", "yearly_income", "housing"]
CATEGORICAL = ["checking_status", "savings", "housing"]


@pytest.fixture(scope="module")
def schema() -> ServingSchema:
    return ServingSchema.from_frame(
        credit_file(1500),
        features=FEATURES,
        categorical=CATEGORICAL,
        sensitive_bins={"Age": [30.0, 45.0, 60.0]},
        pii=["email", "full_name"],
    )


@pytest.fixture(scope="module")
def champion(schema: ServingSchema) -> LoadedModel:
    frame = credit_file(1500)
    y = (frame["Risk"] == "bad").astype(int)
    model = build_pipeline(ModelConfig(family="logistic_regression"), schema).fit(frame[FEATURES], y)
    return LoadedModel("credit", "1.0.0", model, schema)


@pytest.fixture(scope="module")
def client(champion: LoadedModel, schema: ServingSchema) -> TestClient:
    return TestClient(create_app(champion=champion, serving_schema=schema, model_name="credit", shadow=None))


def body(**change: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "checking_status": "<0",
        "duration_months": 24,
        "credit_amount": 3000.0,
        "savings": "<100",
        "yearly_income": 41000.0,
        "housing": "rent",
    }
    base.update(change)
    return {k: v for k, v in base.items() if v is not ...}


def test_the_schema_says_which_features_may_be_missing(schema: ServingSchema, client: TestClient) -> None:
    assert set(schema.nullable) == {"credit_amount", "savings", "yearly_income"}
    props = client.get("/openapi.json").json()["components"]["schemas"]["CreditPredictRequest"]
    required = set(props.get("required", []))
    assert {"checking_status", "duration_months", "housing"} <= required
    assert not {"credit_amount", "savings", "yearly_income"} & required
    assert {"type": "null"} in props["properties"]["yearly_income"]["anyOf"]


@pytest.mark.parametrize(
    "missing", [{"yearly_income": None}, {"yearly_income": ...}, {"savings": None, "credit_amount": None}]
)
def test_nullable_features_may_be_null_or_left_out(
    client: TestClient, champion: LoadedModel, missing: dict[str, Any]
) -> None:
    response = client.post("/predict", json=body(**missing))
    assert response.status_code == 200, response.text
    sent = body(**missing)
    row = pd.DataFrame([{c: sent.get(c) for c in FEATURES}]).astype({c: "float64" for c in schema_numbers()})
    expected = champion.model.predict_proba(row[FEATURES])[0, 1]
    assert response.json()["score"] == pytest.approx(expected, abs=1e-12)


def schema_numbers() -> list[str]:
    return ["duration_months", "credit_amount", "yearly_income"]


def test_a_feature_trained_without_gaps_is_still_required(client: TestClient) -> None:
    for change in ({"housing": None}, {"duration_months": ...}):
        response = client.post("/predict", json=body(**change))
        assert response.status_code == 422
        field = next(iter(change))
        assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


def test_batch_rows_with_gaps_are_scored(client: TestClient) -> None:
    rows = [body(yearly_income=None), body(savings=None), body()]
    response = client.post("/predict/batch", json={"rows": rows})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3


@pytest.fixture(scope="module")
def declared(champion: LoadedModel, schema: ServingSchema) -> TestClient:
    """The app of a version whose dataset declared ``na_values: ["?", "n/a"]``."""
    app = create_app(
        champion=champion, serving_schema=schema, model_name="credit", shadow=None, missing_markers=["?", "n/a"]
    )
    return TestClient(app)


def test_the_datasets_placeholders_score_as_gaps(client: TestClient, declared: TestClient) -> None:
    """A row sent as the training file wrote it ("?" or "n/a" where a value is unknown) scores as
    the same row with nulls, as batch scoring reads such a file; a number feature takes them too."""
    gaps = declared.post("/predict", json=body(savings=None, yearly_income=None, credit_amount=None))
    assert gaps.status_code == 200, gaps.text
    sent = body(savings="?", yearly_income="n/a", credit_amount="?")
    marked = declared.post("/predict", json=sent)
    assert marked.status_code == 200, marked.text
    assert marked.json()["score"] == gaps.json()["score"]
    batch = declared.post("/predict/batch", json={"rows": [sent, body()]})
    assert batch.status_code == 200, batch.text
    assert batch.json()["predictions"][0]["score"] == gaps.json()["score"]
    # Undeclared, "?" is a category like any other and "n/a" no number.
    undeclared = client.post("/predict", json=body(savings="?"))
    assert undeclared.status_code == 200
    assert undeclared.json()["score"] != gaps.json()["score"]
    refused = client.post("/predict", json=body(yearly_income="n/a"))
    assert refused.status_code == 422
    assert {tuple(e["loc"][:2]) for e in refused.json()["detail"]} == {("body", "yearly_income")}
    # A value that merely contains a placeholder is a value.
    assert declared.post("/predict", json=body(yearly_income="?1")).status_code == 422


def test_a_placeholder_for_a_feature_trained_without_gaps_is_refused_naming_it(declared: TestClient) -> None:
    response = declared.post("/predict", json=body(duration_months="?", housing="n/a"))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "duration_months"], ["body", "housing"]]
    assert [e["input"] for e in errors] == ["?", "n/a"]
    assert "'n/a' reads as missing (the dataset's na_values)" in errors[1]["msg"]
    rows = declared.post("/predict/batch", json={"rows": [body(), body(housing="?")]})
    assert rows.status_code == 422
    assert [e["loc"] for e in rows.json()["detail"]] == [["body", "rows", 1, "housing"]]


def test_the_openapi_document_names_the_placeholders_a_number_feature_takes(declared: TestClient) -> None:
    props = declared.get("/openapi.json").json()["components"]["schemas"]["CreditPredictRequest"]["properties"]
    assert {"enum": ["?", "n/a"], "type": "string"} in props["yearly_income"]["anyOf"]
    assert {"type": "string"} in props["savings"]["anyOf"]  # a text feature takes any text already


def test_sensitive_attributes_keep_their_type(client: TestClient) -> None:
    assert client.post("/predict", json=body(Age=46)).status_code == 200
    wrong = client.post("/predict", json=body(Age="forty-six"))
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "Age"]


def test_declared_pii_is_refused_by_name_and_never_echoed(client: TestClient) -> None:
    personal = "ada.lovelace@example.org"
    response = client.post("/predict", json=body(email=personal))
    assert response.status_code == 422
    assert personal not in response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "email"]
    assert "personal data" in error["msg"]
    assert "input" not in error
    # An unknown field is refused too, its value not echoed either (it could be anything).
    other = client.post("/predict", json=body(favourite_colour="a value only the client knows"))
    assert other.status_code == 422
    assert "a value only the client knows" not in other.text


def test_shadow_segments_group_numeric_attributes_as_the_fairness_gate(
    champion: LoadedModel, schema: ServingSchema, tmp_path: Path
) -> None:
    store = ComparisonStore(tmp_path / "shadow.sqlite")
    mirror = ShadowMirror(champion.predict, store, challenger_version="1.1.0", timeout_s=5)
    app = create_app(champion=champion, serving_schema=schema, model_name="credit", shadow=mirror)
    with TestClient(app) as client:
        for age in (25, 46, 70):
            assert client.post("/predict", json=body(Age=age)).status_code == 200
    mirror.close(10)
    segments = list(store.read()["segment"])
    assert sorted(s["Age"] for s in segments) == sorted(["< 30", "45 to < 60", ">= 60"])
