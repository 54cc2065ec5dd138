"""Hostile bodies in-process (TestClient): non-finite numbers, size limits checked before parsing,
and errors that never echo large inputs back.

The real-server side (chunked bodies, slow clients, health checks under load) is in
``test_hardening_server.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.limits import KIB, MIB, RequestLimits
from serving.models import LoadedModel
from training.sample_data import sample_feature_rows

# A small answer: the errors themselves, never what was sent.
SMALL = 4 * KIB
# Stands for the hostile token in a JSON text (no real value looks like it).
MARK = -987654.321


@pytest.fixture(scope="module")
def champion(small_champion: LoadedModel) -> LoadedModel:
    return small_champion


@pytest.fixture(scope="module")
def row() -> dict[str, Any]:
    return sample_feature_rows(5, seed=3)[0]


def app_for(champion: LoadedModel, **kwargs: Any) -> FastAPI:
    return create_app(
        champion=champion,
        serving_schema=champion.serving_schema,
        model_name="credit_risk",
        shadow=None,
        segment_columns=["sex"],
        **kwargs,
    )


@pytest.fixture(scope="module")
def client(champion: LoadedModel) -> TestClient:
    return TestClient(app_for(champion))


def errors_counted(client: TestClient, endpoint: str, kind: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        match = re.fullmatch(r"serving_errors_total\{(.*)\} (\S+)", line)
        if match and set(match.group(1).split(",")) == {f'endpoint="{endpoint}"', f'kind="{kind}"'}:
            return float(match.group(2))
    return 0.0


def post_raw(client: TestClient, path: str, text: str) -> Any:
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"})


# --------------------------------------------------------------------------- non-finite numbers
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e309", "-1e400"])
def test_non_finite_numbers_are_a_422_naming_the_field(client: TestClient, row: dict[str, Any], token: str) -> None:
    # Python's JSON reader takes these as floats; a JSON writer cannot write them back.
    single = json.dumps({**row, "income": MARK}).replace(str(MARK), token)
    before = errors_counted(client, "/predict", "validation")
    response = post_raw(client, "/predict", single)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["detail"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", "income"], "finite_number")]
    assert "input" not in errors[0]
    assert errors_counted(client, "/predict", "validation") == before + 1

    batch = json.dumps({"rows": [row, {**row, "credit_score": MARK}]}).replace(str(MARK), token)
    before = errors_counted(client, "/predict/batch", "validation")
    response = post_raw(client, "/predict/batch", batch)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "rows", 1, "credit_score"]]
    assert errors_counted(client, "/predict/batch", "validation") == before + 1


def test_nan_in_the_entity_id_or_a_segment_is_a_422_too(client: TestClient, row: dict[str, Any]) -> None:
    for field in ("entity_id", "sex"):
        response = post_raw(client, "/predict", json.dumps({**row, field: MARK}).replace(str(MARK), "NaN"))
        assert response.status_code == 422, response.text
        assert {tuple(e["loc"][:2]) for e in response.json()["detail"]} == {("body", field)}


# --------------------------------------------------------------------------- nothing large echoed
def test_a_wrong_typed_large_value_is_named_not_echoed(client: TestClient, row: dict[str, Any]) -> None:
    response = client.post("/predict", json={**row, "income": [1.5] * 50_000})  # ~250 KB, under the limit
    assert response.status_code == 422
    assert len(response.content) < SMALL
    error = response.json()["detail"][0]
    assert (error["loc"], error["type"]) == (["body", "income"], "float_type")
    assert "input" not in error


def test_a_long_string_is_echoed_cut(client: TestClient, row: dict[str, Any]) -> None:
    response = client.post("/predict", json={**row, "credit_score": "7" * 100_000})
    assert response.status_code == 422
    assert len(response.content) < SMALL
    echoed = response.json()["detail"][0]["input"]
    assert echoed.startswith("777")
    assert len(echoed) <= 65


def test_too_many_rows_is_a_422_without_the_rows(client: TestClient, row: dict[str, Any]) -> None:
    response = client.post("/predict/batch", json={"rows": [row] * 1500})  # ~300 KB, under the batch limit
    assert response.status_code == 422
    assert len(response.content) < SMALL
    error = response.json()["detail"][0]
    assert (error["loc"], error["type"]) == (["body", "rows"], "too_long")
    assert error["ctx"]["max_length"] == 1000


def test_a_batch_of_bad_rows_lists_a_bounded_number_of_errors(client: TestClient, row: dict[str, Any]) -> None:
    response = client.post("/predict/batch", json={"rows": [{**row, "income": "x", "region": 5}] * 1000})
    assert response.status_code == 422
    out = response.json()
    assert len(out["detail"]) == 50
    assert out["errors_not_shown"] == 1950
    assert out["detail"][0]["loc"] == ["body", "rows", 0, "income"]


def test_a_body_that_is_not_json_is_not_echoed(client: TestClient, row: dict[str, Any]) -> None:
    secret = json.dumps({**row, "region": "north", "note": "x" * 10_000})
    response = client.post("/predict", content=secret.encode(), headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert len(response.content) < SMALL
    assert "input" not in response.json()["detail"][0]


# --------------------------------------------------------------------------- size limits
def test_a_body_over_the_limit_is_a_413_naming_it_before_parsing(client: TestClient, row: dict[str, Any]) -> None:
    before = errors_counted(client, "/predict", "too_large")
    # Not even JSON: had it been parsed, this would be a 422.
    response = client.post("/predict", content=b"{" * (MIB + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "request body larger than 1048576 bytes, the limit of /predict",
        "limit_bytes": MIB,
    }
    assert errors_counted(client, "/predict", "too_large") == before + 1
    # A 20 MB unknown field: refused by size, nothing echoed.
    response = client.post("/predict", json={**row, "junk": "x" * 20_000_000})
    assert response.status_code == 413
    assert len(response.content) < SMALL
    # At the limit, the body is read and scored as before.
    padded = json.dumps(row).encode()
    padded = padded[:-1] + b" " * (MIB - len(padded)) + b"}"
    assert len(padded) == MIB
    assert client.post("/predict", content=padded, headers={"content-type": "application/json"}).status_code == 200


def test_the_batch_limit_is_sized_to_its_rows(champion: LoadedModel, row: dict[str, Any]) -> None:
    assert RequestLimits().batch_row_bytes >= 6 * len(json.dumps(row))  # room for rows far wider than these
    client = TestClient(app_for(champion, max_batch=1000))
    response = client.post("/predict/batch", json={"rows": [{**row, "junk": "x" * 1000 * 2 * KIB}]})
    assert (response.status_code, response.json()["limit_bytes"]) == (413, 1000 * 2 * KIB)
    assert client.post("/predict/batch", json={"rows": [row] * 1000}).status_code == 200
    # 200,000 rows (~50 MB, as the issue sent): refused by size, never parsed.
    response = client.post("/predict/batch", json={"rows": [row] * 200_000})
    assert response.status_code == 413
    assert errors_counted(client, "/predict/batch", "too_large") == 2
    # A smaller batch still allows whatever /predict allows.
    small = TestClient(app_for(champion, max_batch=10))
    response = small.post("/predict/batch", json={"rows": [{**row, "junk": "x" * MIB}]})
    assert (response.status_code, response.json()["limit_bytes"]) == (413, MIB)


def test_limits_are_configurable(champion: LoadedModel, row: dict[str, Any]) -> None:
    client = TestClient(app_for(champion, limits=RequestLimits(max_body_bytes=4 * KIB, batch_row_bytes=KIB)))
    response = client.post("/predict", json={**row, "note": "x" * 5000})
    assert (response.status_code, response.json()["limit_bytes"]) == (413, 4 * KIB)
    response = client.post("/predict/batch", json={"rows": [row] * 10})
    assert response.status_code == 200  # 10 rows of ~240 bytes, well within 1000 x 1 KiB
    # Any other path with a body is held to the general limit (and counted apart).
    assert client.post("/healthz", content=b"x" * 5000).status_code == 413
    assert errors_counted(client, "other", "too_large") == 1
    with pytest.raises(ValueError, match="body_timeout_s must be positive"):
        RequestLimits(body_timeout_s=0)
