"""The app as ``mlops serve`` builds it: models from a real MLflow registry (SQLite), features from a
real Feast store (SQLite online store) in a temporary state folder, shadow pairs in SQLite."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from feature_store.config import FeatureConfig
from feature_store.store import OnlineFeatureReader, build_training_set
from mlops.errors import FeatureStoreError, RegistryError
from mlops.state import StateLayout
from model_registry.registry import ModelRegistry
from platform_config import PlatformConfig
from serving.app import create_app
from serving.config import MicroBatchingConfig
from serving.models import LoadedModel, load_models
from serving.server import ServingApp, build_app
from serving.shadow import ComparisonStore, comparison_store_path
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk

NAME = "credit_risk"
ID = "applicant_id"


@dataclass
class Platform:
    config: PlatformConfig
    registry: ModelRegistry
    data: pd.DataFrame
    schema: FeatureSchema


def register(registry: ModelRegistry, model: Any, fingerprint: str, schema: FeatureSchema) -> str:
    info = registry.register(
        NAME,
        model,
        serving_schema=schema.to_dict(),
        schema_hash="s1",
        training_fingerprint=fingerprint,
        params={},
        metrics={"roc_auc": 0.7},
        gates={"evaluation": True, "fairness": True},
        lineage={"roles": {"sensitive": ["sex", "age_band"], "na_values": ["?"]}},
    )
    return info.semver


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, sample_schema: FeatureSchema) -> Platform:
    """Feast holds every applicant's features; 1.0.0 is champion, 1.1.0 (another family) challenger."""
    state = tmp_path_factory.mktemp("serve") / ".mlops"
    config = PlatformConfig(state_dir=state, features=FeatureConfig(online_window_days=None))
    data = generate_credit_risk(2000)
    build_training_set(
        data,
        name=NAME,
        entity_column=ID,
        timestamp_column="application_ts",
        feature_columns=sample_schema.columns,
        carry_columns=["defaulted", "sex", "age_band"],
        state_dir=StateLayout(state).feast,
        config=config.features,
    )
    registry = ModelRegistry.local(StateLayout(state).registry)
    x, y = data[sample_schema.columns], data["defaulted"]
    champion = build_pipeline(ModelConfig(params={"max_iter": 40}), sample_schema).fit(x, y)
    challenger = build_pipeline(ModelConfig(family="logistic_regression"), sample_schema).fit(x, y)
    registry.set_alias(NAME, register(registry, champion, "f1", sample_schema), "champion")
    registry.set_alias(NAME, register(registry, challenger, "f2", sample_schema), "challenger")
    return Platform(config, registry, data.set_index(ID), sample_schema)


@pytest.fixture(scope="module")
def serving(platform: Platform) -> Iterator[ServingApp]:
    app = build_app(platform.config.serving_stores(), NAME, shadow=True)
    yield app
    app.close()


def expected(model: LoadedModel, rows: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.model.predict_proba(rows[model.columns])[:, 1])


def test_loads_champion_and_challenger(platform: Platform) -> None:
    loaded = load_models(platform.registry, NAME, shadow=True)
    assert (loaded.champion.version, loaded.challenger and loaded.challenger.version) == ("1.0.0", "1.1.0")
    assert loaded.champion.schema.kinds == platform.schema.to_dict()
    assert load_models(platform.registry, NAME, shadow=False).challenger is None
    with pytest.raises(RegistryError, match="no champion version to serve"):
        load_models(platform.registry, "no_such_model", shadow=False)


def test_entity_id_alone_is_scored_with_the_stored_features(serving: ServingApp, platform: Platform) -> None:
    client = TestClient(serving.app)
    ids = ["APP-0000005", "APP-0001234"]
    for entity in ids:
        response = client.post("/predict", json={"entity_id": entity})
        assert response.status_code == 200, response.text
        out = response.json()
        assert out["entity_id"] == entity
        assert out["score"] == pytest.approx(
            expected(serving.models.champion, platform.data.loc[[entity]])[0], abs=1e-12
        )
    # Request values win over stored ones.
    override = platform.data.loc[[ids[0]]].assign(credit_score=350.0, region="north")
    got = client.post("/predict", json={"entity_id": ids[0], "credit_score": 350, "region": "north"}).json()
    assert got["score"] == pytest.approx(expected(serving.models.champion, override)[0], abs=1e-12)
    assert got["score"] != pytest.approx(expected(serving.models.champion, platform.data.loc[[ids[0]]])[0])
    # Batch: entity-only rows and full rows together.
    full = {c: platform.data.loc["APP-0000042", c] for c in platform.schema.columns}
    full = {k: v.item() if isinstance(v, np.generic) else v for k, v in full.items()}
    batch = client.post("/predict/batch", json={"rows": [{"entity_id": ids[1]}, full]}).json()
    np.testing.assert_allclose(
        [p["score"] for p in batch["predictions"]],
        expected(serving.models.champion, platform.data.loc[[ids[1], "APP-0000042"]]),
        atol=1e-12,
    )


def test_the_champions_dataset_placeholders_are_gaps_the_store_fills(serving: ServingApp, platform: Platform) -> None:
    """The champion's lineage says its dataset read "?" as missing: sent for a feature, it is a
    gap, filled from the online store by entity id, else refused as missing, naming it."""
    client = TestClient(serving.app)
    entity = "APP-0000005"
    stored = expected(serving.models.champion, platform.data.loc[[entity]])[0]
    got = client.post("/predict", json={"entity_id": entity, "credit_score": "?", "region": "?"})
    assert got.status_code == 200, got.text
    assert got.json()["score"] == pytest.approx(stored, abs=1e-12)
    full = {c: platform.data.loc[entity, c] for c in platform.schema.columns}
    full = {k: v.item() if isinstance(v, np.generic) else v for k, v in full.items()}
    refused = client.post("/predict", json={**full, "region": "?"})
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "region"]
    assert "'?' reads as missing" in error["msg"]


def test_features_nobody_can_supply_are_422(serving: ServingApp) -> None:
    client = TestClient(serving.app)
    unknown = client.post("/predict", json={"entity_id": "APP-9999999", "income": 50000.0})
    assert unknown.status_code == 422
    errors = unknown.json()["detail"]
    features = serving.models.champion.columns
    assert sorted(e["loc"][1] for e in errors) == sorted(c for c in features if c != "income")
    assert all(e["type"] == "missing" and "feature store has no value" in e["msg"] for e in errors)
    no_id = client.post("/predict", json={"income": 50000.0}).json()["detail"]
    assert len(no_id) == len(features) - 1
    assert "entity_id" in no_id[0]["msg"]
    # The store's ids are strings: a number is a type error, not a lookup.
    assert client.post("/predict", json={"entity_id": 5}).status_code == 422


def test_ready_and_shadow_pairs_reach_the_store(serving: ServingApp, platform: Platform) -> None:
    client = TestClient(serving.app)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model": "credit_risk 1.0.0",
        "feature_store": "ok",
        "shadow": "challenger 1.1.0",
    }
    out = client.post("/predict", json={"entity_id": "APP-0000007", "sex": "female", "age_band": "26-35"}).json()
    assert serving.comparison_store == comparison_store_path(platform.config.state_dir, NAME)
    deadline = time.monotonic() + 5
    store = ComparisonStore(serving.comparison_store)
    while time.monotonic() < deadline and out["request_id"] not in set(store.read()["request_id"]):
        time.sleep(0.05)
    pair = store.read().set_index("request_id").loc[out["request_id"]]
    assert (pair["champion_version"], pair["challenger_version"]) == ("1.0.0", "1.1.0")
    assert pair["segment"] == {"sex": "female", "age_band": "26-35"}
    assert pair["entity_id"] == "APP-0000007"
    challenger = serving.models.challenger
    assert challenger is not None
    assert pair["challenger_score"] == pytest.approx(expected(challenger, platform.data.loc[["APP-0000007"]])[0])


class DownReader:
    """An online store that stopped answering (Redis gone, SQLite file locked)."""

    int_ids = False

    def row(self, entity_id: Any) -> dict[str, Any]:
        raise ConnectionError("online store unreachable")

    def frame(self, entity_ids: Any) -> pd.DataFrame:
        raise ConnectionError("online store unreachable")

    def records(self, entity_ids: Any) -> list[dict[str, Any]]:
        raise ConnectionError("online store unreachable")


def test_down_feature_store_is_503_never_500(serving: ServingApp, platform: Platform) -> None:
    champion = serving.models.champion
    app = create_app(
        champion=champion,
        serving_schema=champion.serving_schema,
        model_name=NAME,
        feature_reader=DownReader(),  # type: ignore[arg-type]
        shadow=None,
    )
    client = TestClient(app)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["feature_store"] == "unavailable: ConnectionError"
    needs_store = client.post("/predict", json={"entity_id": "APP-0000005"})
    assert needs_store.status_code == 503
    assert needs_store.json()["detail"] == "feature store unavailable"
    # A request carrying every feature does not touch the store, so it still succeeds.
    full = {c: platform.data.loc["APP-0000005", c] for c in platform.schema.columns}
    full = {k: v.item() if isinstance(v, np.generic) else v for k, v in full.items()}
    assert client.post("/predict", json={**full, "entity_id": "APP-0000005"}).status_code == 200


class CountingReader:
    """The real online-store reader, counting its reads (and the ids of each)."""

    def __init__(self, reader: OnlineFeatureReader) -> None:
        self.reader = reader
        self.int_ids = reader.int_ids
        self.reads: list[list[Any]] = []

    def row(self, entity_id: Any) -> dict[str, Any]:
        return self.reader.row(entity_id)

    def records(self, entity_ids: Any) -> list[dict[str, Any]]:
        self.reads.append(list(entity_ids))
        return self.reader.records(entity_ids)


async def post_concurrently(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*(client.post("/predict", json=b) for b in bodies))


def reader_app(serving: ServingApp, reader: Any, **kwargs: Any) -> Any:
    champion = serving.models.champion
    return create_app(
        champion=champion,
        serving_schema=champion.serving_schema,
        model_name=NAME,
        feature_reader=reader,
        shadow=None,
        **kwargs,
    )


def test_concurrent_entity_requests_share_one_store_read_each_with_its_own_answer(
    serving: ServingApp, platform: Platform
) -> None:
    reader = CountingReader(
        OnlineFeatureReader(
            name=NAME, state_dir=StateLayout(platform.config.state_dir).feast, config=platform.config.features
        )
    )
    app = reader_app(serving, reader, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=5.0))
    ids = [f"APP-{i:07d}" for i in range(40, 56)]
    bodies: list[dict[str, Any]] = [{"entity_id": e} for e in ids]
    bodies[3] = {"entity_id": "APP-9999999"}  # unknown to the store: its own 422
    bodies[5] = {"entity_id": ids[5], "credit_score": 350}  # request values still win
    bodies.append({"entity_id": ids[0]})  # the same entity twice in one read
    responses = asyncio.run(post_concurrently(app, bodies))
    assert responses[3].status_code == 422
    assert "the feature store has no value for this entity" in responses[3].text
    ok = [i for i in range(len(bodies)) if i != 3]
    assert all(responses[i].status_code == 200 for i in ok), [r.text for r in responses]
    champion = serving.models.champion
    rows = platform.data.loc[[bodies[i]["entity_id"] for i in ok]].copy()
    rows.iloc[ok.index(5), rows.columns.get_loc("credit_score")] = 350.0
    assert [responses[i].json()["score"] for i in ok] == pytest.approx(expected(champion, rows), abs=1e-5)
    # Fewer reads than requests, and every id read exactly as often as it was asked for.
    assert len(reader.reads) < len(bodies)
    assert sorted(e for read in reader.reads for e in read) == sorted(b["entity_id"] for b in bodies)
    metrics = TestClient(app).get("/metrics").text
    assert f"serving_feature_read_batch_calls_total {float(len(reader.reads))}" in metrics
    assert f"serving_feature_read_batch_rows_total {float(len(bodies))}" in metrics


def test_a_failed_batched_read_is_503_for_each_request_and_not_retried_one_by_one(serving: ServingApp) -> None:
    class CountingDown(DownReader):
        def __init__(self) -> None:
            self.calls = 0

        def records(self, entity_ids: Any) -> list[dict[str, Any]]:
            self.calls += 1
            return super().records(entity_ids)

    reader = CountingDown()
    app = reader_app(serving, reader, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=5.0))
    responses = asyncio.run(post_concurrently(app, [{"entity_id": f"APP-{i:07d}"} for i in range(10)]))
    assert [r.status_code for r in responses] == [503] * 10
    assert all(r.json()["detail"] == "feature store unavailable" for r in responses)
    assert reader.calls < 10


def test_no_champion_or_no_feature_view_fails_before_serving(platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no champion"):
        build_app(platform.config.serving_stores(), "no_such_model", shadow=False)
    # The same registry (its artifacts stay where they are) beside an empty feature store.
    state = tmp_path / ".mlops"
    shutil.copytree(StateLayout(platform.config.state_dir).registry, StateLayout(state).registry)
    bare = platform.config.model_copy(update={"state_dir": state})
    with pytest.raises(FeatureStoreError, match="no feature view 'credit_risk_features'"):
        build_app(bare.serving_stores(), NAME, shadow=False)
    served = build_app(bare.serving_stores(), NAME, shadow=False, features=False)
    assert served.shadow is None
    assert TestClient(served.app).post("/predict", json={"entity_id": "APP-0000005"}).status_code == 422


def test_serves_over_real_http_on_loopback(serving: ServingApp) -> None:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(serving.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        response = httpx.post(f"{base}/predict", json={"entity_id": "APP-0000005"})
        assert response.status_code == 200
        assert response.headers["x-request-id"] == response.json()["request_id"]
    finally:
        server.should_exit = True
        thread.join(10)


def test_ab_config_routes_between_the_registered_aliases(platform: Platform, tmp_path: Path) -> None:
    from serving.config import AbTestingConfig

    ab = AbTestingConfig.model_validate(
        {
            "enabled": True,
            "variants": {"a": {"alias": "champion", "weight": 0.5}, "b": {"alias": "challenger", "weight": 0.5}},
        }
    )
    served = build_app(platform.config.serving_stores(), NAME, shadow=False, ab=ab)
    assert served.shadow is None  # A/B alone loads the challenger without mirroring to it
    client = TestClient(served.app)
    versions = {
        client.post("/predict", json={"entity_id": f"APP-{i:07d}"}).json()["model_version"] for i in range(1, 40)
    }
    assert versions == {"1.0.0", "1.1.0"}
    assert client.get("/ab").json()["variants"]["b"]["model_version"] == "1.1.0"
    served.close()
    # A registry without a challenger cannot serve a variant that needs one: refused before serving.
    bare = PlatformConfig(state_dir=tmp_path / "bare", features=platform.config.features)
    registry = ModelRegistry.local(StateLayout(bare.state_dir).registry)
    champion = platform.registry.by_alias(NAME, "champion")
    assert champion is not None
    registry.set_alias(
        NAME, register(registry, platform.registry.load_model(champion), "f1", platform.schema), "champion"
    )
    with pytest.raises(RegistryError, match="A/B testing for credit_risk: .*challenger"):
        build_app(bare.serving_stores(), NAME, shadow=False, features=False, ab=ab)


def test_mlops_serve_sheds_a_busy_shadow_by_default_and_checks_its_option(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import serving.server
    from mlops_cli.main import app as cli
    from serving.config import SHADOW_MAX_CPU
    from serving.server import serve_command

    seen: list[float | None] = []

    def stop_after_building(*args: Any, shadow_max_cpu: float | None = None, **kwargs: Any) -> ServingApp:
        seen.append(shadow_max_cpu)
        raise RegistryError("stopped before serving")

    monkeypatch.setattr(serving.server, "build_app", stop_after_building)
    for kwargs in ({}, {"shadow_max_cpu": 0.9}):
        with pytest.raises(RegistryError, match="stopped before serving"):
            serve_command("127.0.0.1", 1, NAME, platform.config.serving_stores(), True, **kwargs)
    assert seen == [SHADOW_MAX_CPU, 0.9]
    # The mirror build_app makes takes the share as given (the library's own default never sheds).
    monkeypatch.undo()
    served = build_app(platform.config.serving_stores(), NAME, shadow=True, shadow_max_cpu=0.5)
    try:
        assert served.shadow is not None
        assert served.shadow.max_cpu == 0.5
    finally:
        served.close()
    for bad in ("0", "1.5"):
        result = CliRunner().invoke(cli, ["serve", "--shadow-max-cpu", bad])
        assert result.exit_code == 2, result.output
        assert "--shadow-max-cpu" in result.output
