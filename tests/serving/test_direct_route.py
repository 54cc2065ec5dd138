"""``POST /predict`` by its direct route (serving.direct) answers exactly as through FastAPI.

The same app is asked twice: as built (the direct route) and with its direct routes removed
(FastAPI's middleware, routing and exception handlers). Every answer, good or bad, must be the
same but for the request id; a middleware added to the app must see ``/predict`` too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.app import create_app
from serving.direct import ServingApi
from serving.limits import KIB, RequestLimits
from serving.models import LoadedModel
from training.sample_data import sample_feature_rows


@pytest.fixture(scope="module")
def champion(small_champion: LoadedModel) -> LoadedModel:
    return small_champion


@pytest.fixture(scope="module")
def row() -> dict[str, Any]:
    return sample_feature_rows(5, seed=11)[0]


def app_for(champion: LoadedModel, *, direct: bool) -> ServingApi:
    app = create_app(
        champion=champion,
        serving_schema=champion.serving_schema,
        model_name="credit_risk",
        shadow=None,
        limits=RequestLimits(max_body_bytes=4 * KIB),
    )
    assert isinstance(app, ServingApi)
    if not direct:
        app.direct_posts.clear()
    return app


def answer(client: TestClient, body: bytes, content_type: str | None) -> tuple[int, str | None, Any, bool]:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=body, headers=headers)
    try:
        content: Any = response.json()
    except ValueError:
        content = response.text
    if isinstance(content, dict):
        content.pop("request_id", None)  # new for every request
    return response.status_code, response.headers.get("content-type"), content, "x-request-id" in response.headers


def bodies(row: dict[str, Any]) -> dict[str, tuple[bytes, str | None]]:
    js = "application/json"
    missing = {k: v for k, v in row.items() if k != "income"}
    return {
        "a row": (json.dumps(row).encode(), js),
        "a row as application/vnd+json": (json.dumps(row).encode(), "application/vnd.api+json; charset=utf-8"),
        "not JSON": (b'{"income": ', js),
        "not UTF-8": (b'{"income": "\xff\xfe"}', js),
        "NaN": (json.dumps(row).replace(json.dumps(row["income"]), "NaN", 1).encode(), js),
        "a missing feature": (json.dumps(missing).encode(), js),
        "an unknown field": (json.dumps({**row, "ssn": "123-45-6789"}).encode(), js),
        "a wrong type": (json.dumps({**row, "income": "lots"}).encode(), js),
        "a list": (json.dumps([row]).encode(), js),
        "text/plain": (json.dumps(row).encode(), "text/plain"),
        "no content type": (json.dumps(row).encode(), None),
        "empty": (b"", js),
        "over the body limit": (json.dumps({**row, "pad": "x" * 5000}).encode(), js),
    }


@pytest.mark.parametrize("case", list(bodies(sample_feature_rows(5, seed=11)[0])))
def test_every_answer_is_fastapis_own(champion: LoadedModel, row: dict[str, Any], case: str) -> None:
    body, content_type = bodies(row)[case]
    direct = answer(TestClient(app_for(champion, direct=True)), body, content_type)
    routed = answer(TestClient(app_for(champion, direct=False)), body, content_type)
    assert direct == routed
    if case.startswith("a row"):
        assert direct[0] == 200
        assert direct[3]  # with its request id header


def test_predict_is_answered_without_fastapis_stack_and_everything_else_with_it(
    champion: LoadedModel, row: dict[str, Any]
) -> None:
    app = app_for(champion, direct=True)
    client = TestClient(app)
    assert client.post("/predict", json=row).status_code == 200
    assert app.middleware_stack is None  # FastAPI never built its stack: /predict did not need it
    assert client.get("/predict").status_code == 405  # only POST is direct
    assert app.middleware_stack is not None
    assert client.get("/healthz").status_code == 200


def test_errors_are_counted_as_through_fastapi(champion: LoadedModel, row: dict[str, Any]) -> None:
    app = app_for(champion, direct=True)
    client = TestClient(app)
    client.post("/predict", json={**row, "income": "lots"})
    client.post("/predict", content=b"x" * 5000, headers={"content-type": "application/json"})
    metrics = client.get("/metrics").text
    assert 'serving_errors_total{endpoint="/predict",kind="validation"} 1.0' in metrics
    assert 'serving_errors_total{endpoint="/predict",kind="too_large"} 1.0' in metrics


class Counting:
    """A middleware counting the requests it sees, by path."""

    seen: list[str] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            Counting.seen.append(scope["path"])
        await self.app(scope, receive, send)


def test_a_middleware_added_to_the_app_sees_predict_too(champion: LoadedModel, row: dict[str, Any]) -> None:
    app: FastAPI = app_for(champion, direct=True)
    app.add_middleware(Counting)
    Counting.seen = []
    assert TestClient(app).post("/predict", json=row).status_code == 200
    assert Counting.seen == ["/predict"]


def test_under_a_root_path_predict_takes_the_declared_route(champion: LoadedModel, row: dict[str, Any]) -> None:
    app = app_for(champion, direct=True)
    client = TestClient(app, root_path="/models/credit-risk")
    response = client.post("/predict", json=row)
    assert response.status_code == 200
    assert 0.0 <= response.json()["score"] <= 1.0
    assert app.middleware_stack is not None  # answered through FastAPI
