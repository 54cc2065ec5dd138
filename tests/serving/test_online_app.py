"""The online app over HTTP (FastAPI's TestClient): schemas, scoring, probes, metrics, shadow faults.

One real model (the platform's pipeline builder on the synthetic credit-risk sample) is the
champion; a second family is the challenger. The registry is left out here: the app takes
loaded models (``test_online_server.py`` covers the registry path).
"""

from __future__ import annotations

import gc
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.models import LoadedModel
from serving.shadow import ComparisonStore, ShadowMirror
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_credit_risk(2000)


@pytest.fixture(scope="module")
def champion(data: pd.DataFrame, sample_schema: FeatureSchema) -> LoadedModel:
    fitted = build_pipeline(ModelConfig(params={"max_iter": 40}), sample_schema).fit(
        data[sample_schema.columns], data["defaulted"]
    )
    return LoadedModel("credit_risk", "1.0.0", fitted, sample_schema.to_dict())


@pytest.fixture(scope="module")
def challenger(data: pd.DataFrame, sample_schema: FeatureSchema) -> LoadedModel:
    fitted = build_pipeline(ModelConfig(family="logistic_regression"), sample_schema).fit(
        data[sample_schema.columns], data["defaulted"]
    )
    return LoadedModel("credit_risk", "1.1.0", fitted, sample_schema.to_dict())


@pytest.fixture(scope="module")
def requests_(data: pd.DataFrame, sample_schema: FeatureSchema) -> list[dict[str, Any]]:
    """JSON bodies: the features of the sample's rows, as a client would send them."""
    return [{c: _json(row[c]) for c in sample_schema.columns} for _, row in data.head(200).iterrows()]


def _json(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def in_process(model: LoadedModel, bodies: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(model.model.predict_proba(pd.DataFrame(bodies)[model.columns])[:, 1])


def app_for(champion: LoadedModel, shadow: ShadowMirror | None = None, **kwargs: Any) -> FastAPI:
    return create_app(
        champion=champion, serving_schema=champion.serving_schema, model_name="credit_risk", shadow=shadow, **kwargs
    )


@pytest.fixture(scope="module")
def client(champion: LoadedModel) -> TestClient:
    return TestClient(app_for(champion))


def metric(client: TestClient, name: str, **labels: str) -> float:
    """One sample's value from /metrics (0 when the series does not exist yet)."""
    text = client.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == (want or ""):
            return float(match.group(2))
    return 0.0


# --------------------------------------------------------------------------- /predict
def test_predict_scores_like_in_process_and_names_version_and_request(
    client: TestClient, champion: LoadedModel, requests_: list[dict[str, Any]]
) -> None:
    body = requests_[0]
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    out = response.json()
    assert out["model_name"] == "credit_risk"
    assert out["model_version"] == "1.0.0"
    assert uuid.UUID(out["request_id"]).version == 4
    assert response.headers["X-Request-ID"] == out["request_id"]
    expected = in_process(champion, [body])[0]
    assert out["score"] == pytest.approx(expected, abs=1e-12)
    assert out["label"] == int(expected >= 0.5)
    assert out["entity_id"] is None
    # Every call gets its own id.
    assert client.post("/predict", json=body).json()["request_id"] != out["request_id"]


def test_integers_are_numbers(client: TestClient, requests_: list[dict[str, Any]]) -> None:
    body = {**requests_[1], "income": int(requests_[1]["income"])}
    assert client.post("/predict", json=body).status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "error_type"),
    [
        ({"favourite_colour": "blue"}, "favourite_colour", "extra_forbidden"),
        ({"credit_score": "high"}, "credit_score", "float_type"),
        ({"income": True}, "income", "float_type"),
        ({"region": 5}, "region", "string_type"),
        ({"income": None}, "income", "float_type"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    client: TestClient, requests_: list[dict[str, Any]], change: dict[str, Any], field: str, error_type: str
) -> None:
    before = metric(client, "serving_errors_total", endpoint="/predict", kind="validation")
    response = client.post("/predict", json={**requests_[0], **change})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", field], error_type)]
    assert metric(client, "serving_errors_total", endpoint="/predict", kind="validation") == before + 1


def test_missing_features_are_422_naming_each(client: TestClient, requests_: list[dict[str, Any]]) -> None:
    body = {k: v for k, v in requests_[0].items() if k not in ("income", "region")}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert sorted((tuple(e["loc"]), e["type"]) for e in response.json()["detail"]) == [
        (("body", "income"), "missing"),
        (("body", "region"), "missing"),
    ]


# --------------------------------------------------------------------------- /predict/batch
def test_batch_scores_every_row_like_in_process(
    client: TestClient, champion: LoadedModel, requests_: list[dict[str, Any]]
) -> None:
    bodies = requests_[:25]
    response = client.post("/predict/batch", json={"rows": bodies})
    assert response.status_code == 200
    out = response.json()
    assert (out["model_name"], out["model_version"]) == ("credit_risk", "1.0.0")
    assert response.headers["X-Request-ID"] == out["request_id"]
    scores = np.array([p["score"] for p in out["predictions"]])
    np.testing.assert_allclose(scores, in_process(champion, bodies), rtol=0, atol=1e-12)
    assert [p["label"] for p in out["predictions"]] == [int(s >= 0.5) for s in scores]
    # One row scores the same alone as in a batch.
    single = client.post("/predict", json=bodies[3]).json()["score"]
    assert single == pytest.approx(scores[3], abs=1e-12)


def test_scored_rows_reach_the_prediction_log_and_its_counters_the_metrics(
    champion: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    from observability.prediction_log import PredictionLogConfig, PredictionLogger, read_predictions

    # "age" stands for a PII column the request carries as a feature: it never reaches the log.
    log = PredictionLogger(tmp_path / "log", PredictionLogConfig(flush_interval_s=0.05), exclude_columns={"age"})
    client = TestClient(app_for(champion, prediction_log=log))
    singles = [client.post("/predict", json=body).json() for body in requests_[:3]]
    batch = client.post("/predict/batch", json={"rows": requests_[3:8]}).json()
    assert log.close(10)
    logged = read_predictions(tmp_path / "log", "credit_risk")
    assert len(logged) == 8
    assert "age" not in logged.columns
    assert set(logged["model_version"]) == {"1.0.0"}
    assert list(logged["request_id"]) == [r["request_id"] for r in singles] + [batch["request_id"]] * 5
    np.testing.assert_allclose(logged["score"], in_process(champion, requests_[:8]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(logged["income"], [b["income"] for b in requests_[:8]])
    assert metric(client, "serving_prediction_log_rows_total", outcome="written") == 8
    assert metric(client, "serving_prediction_log_rows_total", outcome="dropped") == 0
    assert metric(client, "process_resident_memory_bytes") > 0


def test_an_unsampled_request_is_counted_and_not_logged(
    champion: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    from observability.prediction_log import PredictionLogConfig, PredictionLogger, read_predictions

    log = PredictionLogger(tmp_path / "log", PredictionLogConfig(sample_rate=0.0))
    client = TestClient(app_for(champion, prediction_log=log))
    assert client.post("/predict/batch", json={"rows": requests_[:4]}).status_code == 200
    assert log.close(10)
    assert read_predictions(tmp_path / "log", "credit_risk").empty
    assert metric(client, "serving_prediction_log_rows_total", outcome="sampled_out") == 4


def test_batch_bounds_and_row_errors(client: TestClient, requests_: list[dict[str, Any]]) -> None:
    too_many = client.post("/predict/batch", json={"rows": [requests_[0]] * 1001})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert client.post("/predict/batch", json={"rows": []}).status_code == 422
    assert client.post("/predict/batch", json={"rows": [requests_[0]] * 1000}).status_code == 200
    bad = [requests_[0], {**requests_[1], "credit_score": "x"}]
    errors = client.post("/predict/batch", json={"rows": bad}).json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "rows", 1, "credit_score"]]
    missing = [requests_[0], {k: v for k, v in requests_[1].items() if k != "loan_purpose"}]
    errors = client.post("/predict/batch", json={"rows": missing}).json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "rows", 1, "loan_purpose"]]


# --------------------------------------------------------------------------- probes, metrics, OpenAPI
def test_probes_metrics_and_openapi(
    client: TestClient, requests_: list[dict[str, Any]], sample_schema: FeatureSchema
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model": "credit_risk 1.0.0"}
    before = metric(client, "serving_prediction_latency_seconds_count", variant="champion")
    client.post("/predict", json=requests_[0])
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert metric(client, "serving_prediction_latency_seconds_count", variant="champion") == before + 1
    assert metric(client, "serving_request_latency_seconds_count", endpoint="/predict") >= 1
    assert metric(client, "serving_model_info", variant="champion", model="credit_risk", version="1.0.0") == 1
    for name in ("serving_shadow_dropped_total", "serving_shadow_compared_total", "serving_shadow_agreement_total"):
        assert f"\n{name} 0.0" in metrics.text
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    ref = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request_schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert request_schema["additionalProperties"] is False
    assert set(request_schema["required"]) == set(sample_schema.columns)
    assert request_schema["properties"]["income"]["type"] == "number"
    assert request_schema["properties"]["region"]["type"] == "string"


def test_model_failure_is_a_500_with_the_request_id(champion: LoadedModel, requests_: list[dict[str, Any]]) -> None:
    class Broken:
        def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
            raise MemoryError("out of memory")

    client = TestClient(app_for(LoadedModel("credit_risk", "1.0.0", Broken(), champion.serving_schema)))
    response = client.post("/predict", json=requests_[0])
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": response.headers["X-Request-ID"]}
    assert metric(client, "serving_errors_total", endpoint="/predict", kind="internal") == 1


def test_segment_fields_are_logged_not_scored(
    champion: LoadedModel, challenger: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(challenger.predict, store, challenger_version=challenger.version)
    client = TestClient(app_for(champion, mirror, segment_columns=["sex", "region"]))
    plain = client.post("/predict", json=requests_[0]).json()
    tagged = client.post("/predict", json={**requests_[0], "sex": "female", "entity_id": "APP-7"}).json()
    assert tagged["score"] == plain["score"]
    assert tagged["entity_id"] == "APP-7"
    mirror.close(timeout=5.0)
    frame = store.read().set_index("request_id")
    assert frame.loc[plain["request_id"], "segment"] == {"region": requests_[0]["region"]}
    assert frame.loc[tagged["request_id"], "segment"] == {"sex": "female", "region": requests_[0]["region"]}
    assert frame.loc[tagged["request_id"], "entity_id"] == "APP-7"
    assert set(frame["champion_version"]) == {"1.0.0"}


# --------------------------------------------------------------------------- shadow: faults and coverage
def _slow(model: LoadedModel) -> Callable[[pd.DataFrame], np.ndarray]:
    def predict(df: pd.DataFrame) -> np.ndarray:
        time.sleep(1.0)
        return model.predict(df)

    return predict


def _failing(model: LoadedModel) -> Callable[[pd.DataFrame], np.ndarray]:
    def predict(df: pd.DataFrame) -> np.ndarray:
        raise ConnectionError("challenger down")

    return predict


@pytest.mark.parametrize("fault", ["slow", "failing", "absent"])
def test_challenger_faults_never_change_the_primary(
    fault: str,
    champion: LoadedModel,
    challenger: LoadedModel,
    requests_: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    bodies = requests_[:10]
    baseline = TestClient(app_for(champion))
    expected = [baseline.post("/predict", json=b).json() for b in bodies]

    mirror = None
    if fault != "absent":
        predict = _slow(challenger) if fault == "slow" else _failing(challenger)
        mirror = ShadowMirror(
            predict, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="1.1.0", timeout_s=0.3
        )
    client = TestClient(app_for(champion, mirror, challenger=challenger))
    got, latencies = [], []
    # What is timed is whether a request waits for the challenger, not the test process's own
    # collector: late in a full run its heap is large (one request here once took 1.5 s in CI).
    gc.collect()
    gc.disable()
    try:
        for body in bodies:
            start = time.perf_counter()
            response = client.post("/predict", json=body)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200
            got.append(response.json())
    finally:
        gc.enable()
    assert [g["score"] for g in got] == [e["score"] for e in expected]
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert [g["model_version"] for g in got] == ["1.0.0"] * len(bodies)
    # No response waited for the 1 s challenger, and together they did not wait out ten 0.3 s
    # timeouts (3 s); the margins are wide so a loaded CI machine cannot make this flaky.
    assert max(latencies) < 0.9
    assert sum(latencies) < 2.5
    assert metric(client, "serving_errors_total", endpoint="/predict", kind="internal") == 0
    if mirror is None:
        assert metric(client, "serving_shadow_compared_total") == 0
        return
    assert mirror.close(timeout=10.0)
    stats = mirror.stats()
    kind = "timeouts" if fault == "slow" else "errors"
    assert stats[kind] == len(bodies)
    assert stats["compared"] == 0
    label = "timeout" if fault == "slow" else "error"
    assert metric(client, "serving_shadow_challenger_errors_total", kind=label) == len(bodies)
    frame = mirror.store.read()
    assert sorted(frame["request_id"]) == sorted(g["request_id"] for g in got)
    assert frame["challenger_score"].isna().all()
    expected_error = "timeout after 0.3s" if fault == "slow" else "ConnectionError: challenger down"
    assert set(frame["challenger_error"]) == {expected_error}


def test_overloaded_shadow_drops_without_slowing_the_primary(
    champion: LoadedModel, challenger: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    def slow(df: pd.DataFrame) -> np.ndarray:
        time.sleep(0.3)
        return challenger.predict(df)

    mirror = ShadowMirror(slow, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="1.1.0", queue_size=1)
    client = TestClient(app_for(champion, mirror))
    start = time.perf_counter()
    statuses = [client.post("/predict", json=b).status_code for b in requests_[:30]]
    elapsed = time.perf_counter() - start
    assert statuses == [200] * 30
    assert elapsed < 6.0  # 30 mirrored calls of 0.3 s would take 9 s if anything waited
    dropped = metric(client, "serving_shadow_dropped_total")
    assert dropped >= 20
    assert dropped == mirror.stats()["dropped"]
    mirror.close(timeout=5.0)
    assert mirror.store.count() == 30 - dropped


def test_healthy_shadow_compares_at_least_99_percent(
    champion: LoadedModel, challenger: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    mirror = ShadowMirror(challenger.predict, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="1.1.0")
    challenger_calls: list[int] = []
    mirror.add_listener(lambda pairs: challenger_calls.append(len(pairs)))
    client = TestClient(app_for(champion, mirror, challenger=challenger))
    responses = [client.post("/predict", json=b).json() for b in requests_]
    batch = client.post("/predict/batch", json={"rows": requests_[:20]}).json()
    assert mirror.close(timeout=10.0)
    store = mirror.store
    assert store.count() >= 0.99 * 220
    stats = mirror.stats()
    assert stats["compared"] == stats["submitted"] == 220
    assert stats["dropped"] == stats["errors"] == stats["timeouts"] == 0
    frame = store.read().set_index("request_id")
    ids = [r["request_id"] for r in responses]
    # The store holds exactly what each side said: the champion's served score, the challenger's own.
    np.testing.assert_allclose(frame.loc[ids, "champion_score"], [r["score"] for r in responses], atol=1e-12)
    np.testing.assert_allclose(frame.loc[ids, "challenger_score"], in_process(challenger, requests_), atol=1e-12)
    batch_ids = [f"{batch['request_id']}:{i}" for i in range(20)]
    np.testing.assert_allclose(frame.loc[batch_ids, "challenger_score"], in_process(challenger, requests_[:20]))
    assert metric(client, "serving_shadow_compared_total") == 220
    assert metric(client, "serving_shadow_agreement_total") == stats["agreed"]
    agreed = ((frame["champion_score"] >= 0.5) == (frame["challenger_score"] >= 0.5)).sum()
    assert stats["agreed"] == agreed
    # The mirror batches what arrives within its window: one timed challenger call per batch.
    assert sum(challenger_calls) == 220
    assert len(challenger_calls) < 201
    assert metric(client, "serving_prediction_latency_seconds_count", variant="challenger") == len(challenger_calls)
    assert metric(client, "serving_model_info", variant="challenger", model="credit_risk", version="1.1.0") == 1
    assert client.get("/readyz").json()["shadow"] == "closed"


def test_shadow_for_another_champion_is_refused(champion: LoadedModel, tmp_path: Path) -> None:
    mirror = ShadowMirror(
        champion.predict, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="1.1.0", champion_version="0.9.0"
    )
    with pytest.raises(ValueError, match="0.9.0"):
        app_for(champion, mirror)
    mirror.close(timeout=1.0)


def test_a_busy_server_sheds_its_shadow_counts_it_and_still_answers(
    champion: LoadedModel, challenger: LoadedModel, requests_: list[dict[str, Any]], tmp_path: Path
) -> None:
    share = [0.95]  # the serving process's CPU share, as the mirror's gauge would read it
    calls: list[int] = []

    def predict(df: pd.DataFrame) -> np.ndarray:
        calls.append(len(df))
        return challenger.predict(df)

    mirror = ShadowMirror(
        predict, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="1.1.0", max_cpu=0.7,
        cpu_share=lambda: share[0],
    )  # fmt: skip
    deadline = time.monotonic() + 5.0
    while not mirror.shedding and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mirror.shedding
    client = TestClient(app_for(champion, mirror))
    busy = [client.post("/predict", json=b) for b in requests_[:25]]
    assert [r.status_code for r in busy] == [200] * 25
    assert metric(client, "serving_shadow_shed_total") == 25 == mirror.stats()["shed"]
    assert metric(client, "serving_shadow_dropped_total") == 0
    # Room again: mirroring resumes by itself, and only the rows offered since are compared.
    share[0] = 0.3
    while mirror.shedding and time.monotonic() < deadline + 5.0:
        time.sleep(0.01)
    assert not mirror.shedding
    idle = [client.post("/predict", json=b).json()["request_id"] for b in requests_[25:35]]
    assert mirror.close(timeout=10.0)
    assert sum(calls) == 10
    assert sorted(mirror.store.read()["request_id"]) == sorted(idle)
    assert mirror.stats()["shed"] == 25
