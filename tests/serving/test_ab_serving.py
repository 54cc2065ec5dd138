"""A/B routing in the online app: sticky per entity id, weighted, each variant scores its own
rows, per-variant metrics and /ab figures, and only champion-served rows go to the shadow."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.ab import AbRouter, assign_variant
from serving.app import create_app
from serving.config import AbTestingConfig
from serving.models import LoadedModel
from serving.shadow import ComparisonStore, ShadowMirror
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk

CONFIG = AbTestingConfig.model_validate(
    {
        "enabled": True,
        "variants": {
            "control": {"alias": "champion", "weight": 0.7},
            "treatment": {"alias": "challenger", "weight": 0.3},
        },
    }
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_credit_risk(2000)


@pytest.fixture(scope="module")
def features(data: pd.DataFrame, sample_schema: FeatureSchema) -> pd.DataFrame:
    return data[sample_schema.columns]


@pytest.fixture(scope="module")
def models(data: pd.DataFrame, features: pd.DataFrame, sample_schema: FeatureSchema) -> dict[str, LoadedModel]:
    x, y = features, data["defaulted"]
    return {
        "champion": LoadedModel(
            "credit_risk", "1.0.0", build_pipeline(ModelConfig(), sample_schema).fit(x, y), sample_schema.to_dict()
        ),
        "challenger": LoadedModel(
            "credit_risk",
            "1.1.0",
            build_pipeline(ModelConfig(family="logistic_regression"), sample_schema).fit(x, y),
            sample_schema.to_dict(),
        ),
    }


def body(row: pd.Series, entity: str | None) -> dict[str, Any]:
    """A request body from a row of ``features``."""
    out: dict[str, Any] = {str(c): (v.item() if isinstance(v, np.generic) else v) for c, v in row.items()}
    if entity is not None:
        out["entity_id"] = entity
    return out


def app_with(models: dict[str, LoadedModel], shadow: ShadowMirror | None = None) -> TestClient:
    router = AbRouter(CONFIG, models)
    app = create_app(
        champion=models["champion"],
        challenger=models["challenger"],
        serving_schema=models["champion"].serving_schema,
        model_name="credit_risk",
        shadow=shadow,
        ab=router,
    )
    return TestClient(app)


def test_each_entity_sticks_to_its_variant_and_gets_that_models_score(
    models: dict[str, LoadedModel], features: pd.DataFrame
) -> None:
    client = app_with(models)
    for i in range(40):
        row, entity = features.iloc[i], f"customer-{i}"
        expected_variant = assign_variant(entity, CONFIG)
        model = models["champion" if expected_variant == "control" else "challenger"]
        answers = [client.post("/predict", json=body(row, entity)).json() for _ in range(3)]
        assert {a["variant"] for a in answers} == {expected_variant}
        assert {a["model_version"] for a in answers} == {model.version}
        assert answers[0]["score"] == pytest.approx(float(model.predict(features.iloc[[i]])[0]))


def test_batch_splits_by_weight_and_scores_each_row_with_its_variant(
    models: dict[str, LoadedModel], features: pd.DataFrame
) -> None:
    client = app_with(models)
    rows = features.head(1000)
    entities = [f"applicant-{i}" for i in range(len(rows))]
    bodies = [body(r, e) for (_, r), e in zip(rows.iterrows(), entities, strict=True)]
    response = client.post("/predict/batch", json={"rows": bodies})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    counts = Counter(p["variant"] for p in predictions)
    assert counts["treatment"] / len(rows) == pytest.approx(0.3, abs=0.05)
    champion_scores = models["champion"].predict(rows)
    challenger_scores = models["challenger"].predict(rows)
    for i, p in enumerate(predictions):
        expected = champion_scores[i] if p["variant"] == "control" else challenger_scores[i]
        assert p["score"] == pytest.approx(float(expected)), i
        assert p["model_version"] == ("1.0.0" if p["variant"] == "control" else "1.1.0")
    status = client.get("/ab").json()
    assert status["enabled"] is True
    assert {n: v["requests"] for n, v in status["variants"].items()} == dict(counts)
    assert status["variants"]["treatment"]["model_version"] == "1.1.0"
    metrics = client.get("/metrics").text
    assert (
        f'serving_ab_requests_total{{alias="challenger",variant="treatment"}} {float(counts["treatment"])}' in metrics
    )


def test_requests_without_an_entity_id_get_the_champion(models: dict[str, LoadedModel], features: pd.DataFrame) -> None:
    client = app_with(models)
    answer = client.post("/predict", json=body(features.iloc[0], None)).json()
    assert (answer["variant"], answer["model_version"]) == ("control", "1.0.0")


def test_only_champion_served_rows_are_mirrored(
    models: dict[str, LoadedModel], features: pd.DataFrame, tmp_path: Path
) -> None:
    store = ComparisonStore(tmp_path / "pairs.sqlite")
    mirror = ShadowMirror(models["challenger"].predict, store, challenger_version="1.1.0", flush_interval_s=0.05)
    client = app_with(models, mirror)
    answers = [client.post("/predict", json=body(features.iloc[i], f"id-{i}")).json() for i in range(60)]
    served_by_champion = {a["request_id"] for a in answers if a["variant"] == "control"}
    assert 0 < len(served_by_champion) < len(answers)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and store.count() < len(served_by_champion):
        time.sleep(0.05)
    mirror.close()
    assert set(store.read()["request_id"]) == served_by_champion


def test_a_variant_whose_model_is_not_loaded_is_refused(models: dict[str, LoadedModel]) -> None:
    with pytest.raises(ValueError, match="challenger"):
        AbRouter(CONFIG, {"champion": models["champion"]})
    no_champion = AbTestingConfig.model_validate({"variants": {"only": {"alias": "challenger", "weight": 1.0}}})
    with pytest.raises(ValueError, match="champion"):
        AbRouter(no_champion, models)


def test_ab_off_reports_disabled_and_leaves_responses_unchanged(
    models: dict[str, LoadedModel], features: pd.DataFrame
) -> None:
    champion = models["champion"]
    app = create_app(champion=champion, serving_schema=champion.serving_schema, model_name="credit_risk", shadow=None)
    client = TestClient(app)
    assert client.get("/ab").json() == {"enabled": False, "variants": {}}
    answer = client.post("/predict", json=body(features.iloc[0], "someone")).json()
    assert (answer["variant"], answer["model_version"]) == (None, "1.0.0")
