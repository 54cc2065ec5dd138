"""Adaptive micro-batching (serving.batching) and the lean /predict path around it.

The batcher alone: concurrent jobs share one call, its bounds (size, wait) hold, a lone job is
not delayed, a failing batch answers each job separately, the call runs on the loop or in the
pool as told. Then the app with a compiled-speed fake model: concurrent requests scored in one
``score_rows`` call, each answer its own, where each part of a request runs, and the shadow
mirror batching what the primary batched.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from serving.app import create_app
from serving.batching import MicroBatcher
from serving.config import MicroBatchingConfig
from serving.models import LoadedModel
from serving.schemas import PredictResponse
from serving.shadow import ComparisonStore, ShadowMirror

SCHEMA = {"income": "number", "city": "string"}


# --------------------------------------------------------------------------- the batcher alone
class Recorder:
    """A batch scorer that records each call's jobs, when it started and on which thread."""

    def __init__(self, fail_on: object = None) -> None:
        self.calls: list[list[Any]] = []
        self.started: list[float] = []
        self.threads: list[int] = []
        self.fail_on = fail_on

    def __call__(self, jobs: list[Any]) -> list[Any]:
        self.started.append(time.perf_counter())
        self.threads.append(threading.get_ident())
        self.calls.append(list(jobs))
        if self.fail_on is not None and self.fail_on in jobs:
            raise ValueError(f"cannot score {self.fail_on!r}")
        return [f"scored {j}" for j in jobs]


# Tests of how jobs are grouped give a maximum wait far above any loop turn: gathering stops as
# soon as a turn brings no job, so it costs them nothing, and a busy machine cannot cut a batch.
def test_concurrent_jobs_share_one_call() -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=32, max_wait_s=1.0)

    async def main() -> list[str]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert asyncio.run(main()) == [f"scored {i}" for i in range(10)]
    assert score.calls == [list(range(10))]
    assert batcher.stats() == {"calls": 1, "rows": 10, "retried": 0, "largest": 10}


def test_batches_never_exceed_the_maximum_size() -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=4, max_wait_s=1.0)

    async def main() -> list[str]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert asyncio.run(main()) == [f"scored {i}" for i in range(10)]
    assert [len(c) for c in score.calls] == [4, 4, 2]
    assert [j for c in score.calls for j in c] == list(range(10))  # first come, first scored


def test_a_stream_of_arrivals_does_not_hold_a_batch_past_the_maximum_wait() -> None:
    """Jobs arriving every loop turn: the gathering stops max_wait after the oldest job."""
    score = Recorder()
    max_wait = 0.002
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=100_000, max_wait_s=max_wait)
    first_submit: list[float] = []

    async def main() -> None:
        tasks = []
        deadline = time.perf_counter() + 0.1
        i = 0
        while time.perf_counter() < deadline:
            if not first_submit:
                first_submit.append(time.perf_counter())
            tasks.append(asyncio.ensure_future(batcher.submit(i)))
            i += 1
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert len(score.calls) > 1  # a 100 ms stream is cut into several batches
    # Generous slack for a busy machine; without the bound the first batch would take the
    # whole 100 ms stream.
    assert score.started[0] - first_submit[0] < max_wait + 0.03
    assert len(score.calls[0]) < sum(len(c) for c in score.calls) / 2


def test_a_lone_job_is_scored_at_once_whatever_the_maximum_wait() -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=32, max_wait_s=1.0)

    async def main() -> float:
        start = time.perf_counter()
        assert await batcher.submit(7) == "scored 7"
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.1  # not the 1 s maximum wait
    assert score.calls == [[7]]


def test_on_the_loop_the_request_that_finds_the_batcher_idle_scores_its_batch_itself() -> None:
    tasks: list[asyncio.Task[Any] | None] = []
    sizes: list[int] = []

    def score(jobs: list[int]) -> list[str]:
        tasks.append(asyncio.current_task())
        sizes.append(len(jobs))
        return [f"scored {j}" for j in jobs]

    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=4, max_wait_s=1.0)

    async def main() -> tuple[list[str], asyncio.Task[Any] | None]:
        lone = await batcher.submit(1)  # alone: scored by this very task, no task of its own
        together = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        return [lone, *together], asyncio.current_task()

    answers, main_task = asyncio.run(main())
    assert answers == ["scored 1", *(f"scored {i}" for i in range(10))]
    assert tasks[0] is main_task
    # The ten: the first batch by the leading request, what queued beyond it by a drain task.
    assert sizes == [1, 4, 4, 2]
    gathered = {id(t) for t in tasks[1:]}
    assert len(gathered) == 2
    assert id(main_task) not in gathered


def test_a_leading_request_cancelled_while_gathering_leaves_the_others_answered() -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=8, max_wait_s=0.05)

    async def main() -> str:
        leader = asyncio.ensure_future(batcher.submit(1))
        follower = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)  # the leader queued and is gathering; the follower queued behind it
        leader.cancel()
        answer = await follower
        assert leader.cancelled()
        return answer

    assert asyncio.run(main()) == "scored 2"
    assert score.calls == [[2]]  # by the drain task the leader left behind, without the leader's job


def test_a_failing_batch_answers_each_job_separately() -> None:
    score = Recorder(fail_on=3)
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=32, max_wait_s=1.0)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[:3] == ["scored 0", "scored 1", "scored 2"]
    assert isinstance(results[3], ValueError)
    assert str(results[3]) == "cannot score 3"
    assert results[4] == "scored 4"
    # The batch, then each job alone.
    assert score.calls == [[0, 1, 2, 3, 4], [0], [1], [2], [3], [4]]
    assert batcher.stats()["retried"] == 5


def test_a_wrong_number_of_results_is_an_error_then_each_job_is_scored_alone() -> None:
    calls: list[int] = []

    def one_result(jobs: list[int]) -> list[str]:
        calls.append(len(jobs))
        return ["one"]  # right for one job, wrong for more

    batcher: MicroBatcher[int, str] = MicroBatcher(one_result, max_batch_size=32, max_wait_s=0.0)

    async def main() -> list[Any]:
        return list(await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True))

    assert asyncio.run(main()) == ["one", "one"]
    assert calls == [2, 1, 1]


@pytest.mark.parametrize("offload", [False, True])
def test_the_call_runs_on_the_loop_or_in_the_thread_pool(offload: bool) -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=8, max_wait_s=0.001, offload=offload)

    async def main() -> int:
        await asyncio.gather(*(batcher.submit(i) for i in range(3)))
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert (score.threads[0] != loop_thread) is offload


def test_a_request_that_went_away_is_not_scored() -> None:
    score = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(score, max_batch_size=8, max_wait_s=1.0)

    async def main() -> str:
        gone = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)  # both queued
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == "scored 2"
    assert score.calls == [[2]]


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="max_batch_size"):
        MicroBatchingConfig(max_batch_size=0)
    with pytest.raises(ValidationError, match="max_wait_ms"):
        MicroBatchingConfig(max_wait_ms=-1)
    with pytest.raises(ValidationError, match="Extra inputs"):
        MicroBatchingConfig.model_validate({"max_batch": 8})
    with pytest.raises(ValueError, match="max_batch_size must be at least 1"):
        MicroBatcher(Recorder(), max_batch_size=0)


# --------------------------------------------------------------------------- the app
class FakeCompiled:
    """A compiled scorer's interface at its speed: score = income / 100_000, ~30 µs a call.

    Records every call's rows and thread; a row whose city is ``"boom"`` makes the call raise.
    """

    runtime = "onnx"

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.threads: list[int] = []

    def score_rows(self, rows: Any) -> np.ndarray:
        self.calls.append([dict(r) for r in rows])
        self.threads.append(threading.get_ident())
        if any(r["city"] == "boom" for r in rows):
            raise ValueError("the scorer cannot read this row")
        deadline = time.perf_counter() + 30e-6
        while time.perf_counter() < deadline:
            pass
        return np.asarray([r["income"] / 100_000 for r in rows], dtype="float64")


def compiled_model(version: str = "1.0.0") -> tuple[LoadedModel, FakeCompiled]:
    fake = FakeCompiled()
    return LoadedModel("m", version, None, dict(SCHEMA), compiled=cast(Any, fake)), fake


def app_with(model: LoadedModel, **kwargs: Any) -> FastAPI:
    return create_app(champion=model, serving_schema=model.serving_schema, model_name="m", shadow=None, **kwargs)


async def post_all(app: FastAPI, bodies: list[Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*(client.post("/predict", json=b) for b in bodies))


def test_concurrent_requests_are_scored_in_one_call_each_with_its_own_answer() -> None:
    model, fake = compiled_model()
    app = app_with(model, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=2.0))
    bodies = [{"income": 1000.0 * i, "city": f"c{i}"} for i in range(20)]
    responses = asyncio.run(post_all(app, bodies))
    assert [r.status_code for r in responses] == [200] * 20
    scores = [r.json()["score"] for r in responses]
    assert scores == pytest.approx([i / 100 for i in range(20)])
    assert len({r.json()["request_id"] for r in responses}) == 20
    assert all(r.headers["x-request-id"] == r.json()["request_id"] for r in responses)
    assert len(fake.calls) < 20
    assert max(len(c) for c in fake.calls) > 1
    assert sum(len(c) for c in fake.calls) == 20


def test_a_row_the_model_cannot_score_fails_alone() -> None:
    model, fake = compiled_model()
    app = app_with(model, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=2.0))
    bodies = [{"income": 1000.0 * i, "city": "boom" if i == 2 else "x"} for i in range(6)]
    responses = asyncio.run(post_all(app, bodies))
    assert [r.status_code for r in responses] == [200, 200, 500, 200, 200, 200]
    assert responses[2].json() == {"detail": "internal error", "request_id": responses[2].json()["request_id"]}
    assert responses[3].json()["score"] == pytest.approx(0.03)
    assert max(len(c) for c in fake.calls) > 1  # they were batched, then retried alone


def test_invalid_requests_never_enter_a_batch() -> None:
    model, fake = compiled_model()
    app = app_with(model, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=2.0))
    bodies: list[Any] = [{"income": 1.0, "city": "a"}, {"income": "1", "city": "a"}, {"city": "a"}]
    responses = asyncio.run(post_all(app, bodies))
    assert [r.status_code for r in responses] == [200, 422, 422]
    assert responses[1].json()["detail"][0]["loc"] == ["body", "income"]
    missing = responses[2].json()["detail"][0]
    assert (missing["type"], missing["loc"], missing["msg"]) == ("missing", ["body", "income"], "Field required")
    assert [len(c) for c in fake.calls] == [1]


def test_the_answer_has_the_documented_fields_types_and_order() -> None:
    model, _ = compiled_model()
    for batching in (MicroBatchingConfig(), MicroBatchingConfig(enabled=False)):
        client = TestClient(app_with(model, batching=batching, threshold=0.3))
        response = client.post("/predict", json={"income": 42_000.0, "city": "Oslo", "entity_id": 17})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert list(body) == list(PredictResponse.model_fields)
        expected = PredictResponse(
            model_name="m",
            model_version="1.0.0",
            request_id=body["request_id"],
            entity_id="17",
            score=0.42,
            label=1,
            variant=None,
        )
        assert body == expected.model_dump()
        assert isinstance(body["score"], float)
        assert isinstance(body["label"], int)
        batch = client.post("/predict/batch", json={"rows": [{"income": 1000.0, "city": "a"}]}).json()
        assert list(batch) == ["model_name", "model_version", "request_id", "predictions"]
        assert batch["predictions"] == [
            {"entity_id": None, "score": 0.01, "label": 0, "variant": None, "model_version": None}
        ]


def test_small_bodies_are_scored_on_the_loop_large_ones_in_the_pool() -> None:
    model, fake = compiled_model()
    app = app_with(model, batching=MicroBatchingConfig(enabled=False))
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            small = await client.post("/predict", json={"income": 1.0, "city": "a"})
            large = await client.post("/predict", json={"income": 1.0, "city": "x" * 10_000})
            assert small.status_code == large.status_code == 200

    asyncio.run(main())
    assert fake.threads[0] == loop_thread[0]
    assert fake.threads[1] != loop_thread[0]


def test_scikit_learn_models_are_scored_in_the_pool_batched_or_not() -> None:
    threads: list[int] = []

    class Fitted:
        def predict_proba(self, frame: Any) -> np.ndarray:
            threads.append(threading.get_ident())
            p = np.asarray(frame["income"], dtype="float64") / 100_000
            return np.column_stack([1 - p, p])

    model = LoadedModel("m", "1.0.0", Fitted(), dict(SCHEMA))
    loop_thread: list[int] = []

    async def main(app: FastAPI) -> list[httpx.Response]:
        loop_thread.append(threading.get_ident())
        return await post_all(app, [{"income": 500.0 * i, "city": "a"} for i in range(8)])

    for batching in (MicroBatchingConfig(), MicroBatchingConfig(enabled=False)):
        threads.clear()
        loop_thread.clear()
        responses = asyncio.run(main(app_with(model, batching=batching)))
        assert [r.json()["score"] for r in responses] == pytest.approx([0.005 * i for i in range(8)])
        assert threads
        assert loop_thread[0] not in threads


def test_batcher_counts_are_exposed_in_the_metrics() -> None:
    model, _ = compiled_model()
    app = app_with(model)
    asyncio.run(post_all(app, [{"income": 1.0, "city": "a"}] * 5))
    text = TestClient(app).get("/metrics").text
    assert "serving_microbatch_rows_total 5.0" in text
    assert "serving_microbatch_calls_total" in text


def test_the_mirror_replays_a_primary_batch_in_one_challenger_call(tmp_path: Path) -> None:
    model, _ = compiled_model()
    challenger_calls: list[int] = []

    def challenger(frame: Any) -> np.ndarray:
        challenger_calls.append(len(frame))
        assert frame["income"].dtype == "float64"
        return np.asarray(frame["income"], dtype="float64") / 50_000

    store = ComparisonStore(tmp_path / "pairs.sqlite")
    mirror = ShadowMirror(challenger, store, challenger_version="1.1.0")
    app = create_app(
        champion=model,
        serving_schema=model.serving_schema,
        model_name="m",
        shadow=mirror,
        batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=2.0),
    )
    bodies = [{"income": 1000.0 * i, "city": "a", "entity_id": f"e{i}"} for i in range(16)]
    responses = asyncio.run(post_all(app, bodies))
    assert mirror.close(timeout=5.0)
    assert sum(challenger_calls) == 16
    assert len(challenger_calls) < 16
    frame = store.read().set_index("request_id")
    for i, response in enumerate(responses):
        pair = frame.loc[response.json()["request_id"]]
        assert pair["entity_id"] == f"e{i}"
        assert pair["champion_score"] == pytest.approx(i / 100)
        assert pair["challenger_score"] == pytest.approx(i / 50)


def test_a_micro_batch_is_logged_per_request_in_one_record(tmp_path: Path) -> None:
    """One record() call per model call, with each row's own request id, features and score."""
    from observability.prediction_log import PredictionLogConfig, PredictionLogger, read_predictions

    model, fake = compiled_model()
    log = PredictionLogger(str(tmp_path / "log"), PredictionLogConfig())
    recorded: list[int] = []
    record = log.record

    def counting_record(features: Any, *args: Any, **kwargs: Any) -> int:
        recorded.append(len(features))
        return record(features, *args, **kwargs)

    log.record = counting_record  # type: ignore[method-assign]
    app = app_with(model, prediction_log=log, batching=MicroBatchingConfig(max_batch_size=64, max_wait_ms=2.0))
    bodies = [{"income": 1000.0 * i, "city": f"c{i}", "entity_id": i} for i in range(12)]
    responses = asyncio.run(post_all(app, bodies))
    log.close(5.0)
    assert recorded == [len(c) for c in fake.calls]
    logged = read_predictions(tmp_path / "log", "m").set_index("request_id")
    assert len(logged) == 12
    for i, response in enumerate(responses):
        row = logged.loc[response.json()["request_id"]]
        assert row["city"] == f"c{i}"
        assert row["income"] == pytest.approx(1000.0 * i)
        assert row["score"] == pytest.approx(i / 100)
