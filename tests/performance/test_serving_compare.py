"""The pure parts of `make bench-serving`: the max-rate search on synthetic servers, MLServer's
settings and requests, the goals. Nothing here starts a server or creates MLServer's venv."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message

from performance.benchmarks.serving_compare import (
    SearchPlan,
    answer_empty,
    collect,
    goals,
    in_process_p95,
    mlserver_model_settings,
    mlserver_settings,
    search_max_rate,
    spread,
    sustained,
    v2_positive_score,
    v2_request,
    write_mlserver_folder,
)


def synthetic(capacity: float, *, noise_at: float | None = None) -> tuple[list[float], Any]:
    """A server that sustains any rate up to ``capacity`` (p99 10 ms), and overloads above it
    (p99 grows without bound, the step is aborted); ``noise_at``: a rate whose first
    measurement fails anyway (a neighbour's burst)."""
    asked: list[float] = []

    def measure(rate: float) -> dict[str, Any]:
        noisy = noise_at is not None and abs(rate - noise_at) < 1e-9 and rate not in asked
        asked.append(rate)
        over = rate > capacity or noisy
        planned = int(rate * 3)
        return {
            "planned": planned,
            "answered": planned // 4 if over else planned,
            "error_rate": 0.0,
            "p99_ms": 900.0 if over else 10.0,
            "aborted": over,
        }

    return asked, measure


def test_the_search_ramps_then_bisects_to_within_its_resolution() -> None:
    asked, measure = synthetic(730)
    found = search_max_rate(measure, SearchPlan(start_rps=50, bisections=5, resolution=0.05, confirm_failures=False))
    # 50, 100, 200, 400, 800 (fails), then bisection between 400 and 800.
    assert asked[:5] == [50, 100, 200, 400, 800]
    assert 0.95 * 730 <= found["max_rps"] <= 730
    assert found["failed_at_rps"] > 730
    assert found["failed_at_rps"] / found["max_rps"] <= 1.05
    assert [s["passed"] for s in found["steps"]] == [r <= 730 for r in asked]
    assert not found["capped"]


def test_the_number_of_bisections_and_steps_is_bounded() -> None:
    asked, measure = synthetic(333)
    found = search_max_rate(measure, SearchPlan(start_rps=50, bisections=2, resolution=0.001, confirm_failures=False))
    assert len(asked) == 4 + 2  # ramp 50..400 (400 fails), then two bisections
    assert found["max_rps"] == 300  # 200 passes, 400 fails, 300 passes, 350 fails
    asked, measure = synthetic(10_000)
    found = search_max_rate(measure, SearchPlan(start_rps=50, max_steps=4))
    assert len(asked) == 4
    assert found["max_rps"] == 400


def test_a_server_faster_than_the_cap_is_reported_as_capped() -> None:
    _, measure = synthetic(1e9)
    found = search_max_rate(measure, SearchPlan(start_rps=100, max_rps=1000))
    assert found["capped"]
    assert found["max_rps"] == 1000


def test_a_first_step_that_fails_ramps_down_and_a_dead_server_scores_zero() -> None:
    asked, measure = synthetic(30)
    found = search_max_rate(
        measure, SearchPlan(start_rps=100, min_rps=5, bisections=3, resolution=0.1, confirm_failures=False)
    )
    assert asked[:3] == [100, 50, 25]
    assert 25 <= found["max_rps"] <= 30
    asked, measure = synthetic(0)
    found = search_max_rate(measure, SearchPlan(start_rps=40, min_rps=5, confirm_failures=False))
    assert found["max_rps"] == 0
    assert asked == [40, 20, 10, 5]


def test_a_failure_is_confirmed_once_so_one_noisy_step_does_not_bound_the_result() -> None:
    asked, measure = synthetic(1000, noise_at=400)
    found = search_max_rate(measure, SearchPlan(start_rps=50, bisections=3))
    assert asked[:5] == [50, 100, 200, 400, 400]  # 400 failed, was measured again and passed
    assert found["steps"][4]["retry"]
    assert found["steps"][4]["passed"]
    assert 900 <= found["max_rps"] <= 1000
    # A real failure is measured twice, then the search moves on.
    assert asked.count(1600) == 2


def test_without_confirmation_a_noisy_failure_bounds_the_result() -> None:
    _, measure = synthetic(1000, noise_at=400)
    found = search_max_rate(measure, SearchPlan(start_rps=50, bisections=3, confirm_failures=False))
    assert 200 <= found["max_rps"] < 400


@pytest.mark.parametrize(
    ("change", "passes"),
    [
        ({}, True),
        ({"p99_ms": 100.0}, False),
        ({"error_rate": 0.01}, False),
        ({"error_rate": 0.009}, True),
        ({"aborted": True}, False),
        ({"answered": 980}, False),
    ],
)
def test_sustained_means_p99_under_100ms_and_under_1pct_errors(change: dict[str, Any], passes: bool) -> None:
    step = {"planned": 1000, "answered": 1000, "error_rate": 0.0, "p99_ms": 99.9, "aborted": False, **change}
    assert sustained(step) is passes


def test_search_plan_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_rps <= start_rps"):
        SearchPlan(start_rps=1, min_rps=5)
    with pytest.raises(ValueError, match="factor > 1"):
        SearchPlan(factor=1.0)


def test_mlserver_settings_are_its_fastest_configuration_on_local_ports(tmp_path: Path) -> None:
    # joblib pickles any object; the real Pipeline is not needed here.
    folder = write_mlserver_folder(
        tmp_path / "m", {"coef": 3}, "1.2.0", http_port=9001, grpc_port=9002, max_batch_size=32, max_batch_time_s=0.002
    )
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["parallel_workers"] == 0
    assert settings["metrics_endpoint"] is None
    assert (settings["host"], settings["http_port"], settings["grpc_port"]) == ("127.0.0.1", 9001, 9002)
    assert settings["debug"] is False
    model = json.loads((folder / "model-settings.json").read_text())
    assert model["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert model["parameters"] == {"uri": "./model.joblib", "version": "1.2.0"}
    assert (model["max_batch_size"], model["max_batch_time"]) == (32, 0.002)
    import joblib

    assert joblib.load(folder / "model.joblib") == {"coef": 3}


def test_mlserver_settings_refuse_bad_ports_and_half_configured_batching() -> None:
    with pytest.raises(ValueError, match="two different ports"):
        mlserver_settings(9001, 9001)
    with pytest.raises(ValueError, match="max_batch_size > 1 and max_batch_time_s > 0 together"):
        mlserver_model_settings("m", "1.0.0", max_batch_size=16, max_batch_time_s=0)
    unbatched = mlserver_model_settings("m", "1.0.0", max_batch_size=0, max_batch_time_s=0)
    assert (unbatched["max_batch_size"], unbatched["max_batch_time"]) == (0, 0)


def test_a_v2_request_has_one_typed_input_per_column_for_the_pandas_codec() -> None:
    kinds = {"income": "number", "region": "string"}
    request = v2_request({"income": 1.5, "region": "north", "extra": 1}, kinds)
    assert request["parameters"] == {"content_type": "pd"}
    assert request["inputs"] == [
        {"name": "income", "shape": [1], "datatype": "FP64", "data": [1.5]},
        {"name": "region", "shape": [1], "datatype": "BYTES", "data": ["north"]},
    ]
    assert request["outputs"] == [{"name": "predict_proba"}]
    answer = {"outputs": [{"name": "predict_proba", "shape": [1, 2], "datatype": "FP64", "data": [0.75, 0.25]}]}
    assert v2_positive_score(answer) == 0.25


def test_goals_are_met_or_not_and_unmeasured_ones_say_so() -> None:
    met = goals(
        {
            "a_plain_vs_mlserver_best": 5.2,
            "b_shadow_entity_vs_mlserver_best": 2.9,
            "c_http_minus_in_process_p95_ms": 1.4,
            "d_shadow_p99_ratio": {"healthy": 1.01, "slow": 1.2, "failing": None},
        }
    )
    assert met["a_plain_ge_5x_mlserver"] is True
    assert met["b_shadow_entity_ge_3x_mlserver"] is False
    assert met["c_http_overhead_p95_le_1_5ms"] is True
    assert met["d_shadow_p99_ratio_le_1_05"] == {"healthy": True, "slow": False, "failing": False}
    quick = goals({"a_plain_vs_mlserver_best": None, "c_http_minus_in_process_p95_ms": 2.0})
    assert quick["a_plain_ge_5x_mlserver"] is None
    assert quick["d_shadow_p99_ratio_le_1_05"] is None
    assert quick["c_http_overhead_p95_le_1_5ms"] is False


def test_neighbour_shares_are_collected_from_anywhere_in_the_report() -> None:
    report = {
        "max_rate": {"a": {"searches": [{"steps": [{"others_on_server_core": 0.1}, {"others_on_server_core": 0.5}]}]}},
        "fixed": [{"others_on_server_core": 0.2, "other": 1}],
    }
    values = collect(report, "others_on_server_core")
    assert sorted(values) == [0.1, 0.2, 0.5]
    assert spread(values) == {"runs": 3, "median": 0.2, "p90": 0.2, "max": 0.5}
    assert spread([]) == {"runs": 0}


def test_shadow_rounds_rotate_the_setups_and_pool_each_ones_latencies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal (d): every setup runs once a round in a rotated order; its p99 is over all its runs'
    latencies together, not a median of per-run p99s."""
    import numpy as np

    from performance.benchmarks import serving_compare

    order: list[str] = []

    def run(server: Any, rate: float, seconds: float, timing: Any) -> tuple[dict[str, Any], Any]:
        order.append(server.name)
        # "off": 1 ms, one run with a 100 ms tail; shadow setups 2 ms, no tail.
        latencies = np.full(1000, 1.0 if server.name == "ours_plain" else 2.0)
        if server.name == "ours_plain" and order.count("ours_plain") == 2:
            latencies[:20] = 100.0
        return {"p99_ms": float(np.percentile(latencies, 99)), "errors": 0}, latencies

    counted: dict[str, int] = {}

    def rows(server: Any) -> dict[str, float]:
        # Each reading of a shadow server's counters: 30 more rows shed and 10 compared than the last.
        n = counted[server.name] = counted.get(server.name, -1) + 1
        shadow = server.name != "ours_plain"
        return {"shed": 30.0 * n * shadow, "compared": 10.0 * n * shadow, "dropped": 0.0, "challenger_errors": 0.0}

    monkeypatch.setattr(serving_compare, "fixed_rate_run", run)
    monkeypatch.setattr(serving_compare, "shadow_rows", rows)
    names = ["ours_plain", *(f"ours_shadow_{f}" for f in serving_compare.FAULTS)]
    servers = {n: serving_compare.Server(n, 1, [b"x"], "http://x") for n in names}
    timing = serving_compare.Timing(1.0, 0.1, 0.0, 1.0)
    out = serving_compare.shadow_rounds(servers, 500.0, 3, timing)
    assert order[:5] == names
    assert order[5:10] == names[1:] + names[:1]  # rotated by one each round
    assert order[10:15] == names[2:] + names[:2]
    assert out["off"]["run_p99_ms"] == [1.0, 100.0, 1.0]
    # 20 of 3000 pooled latencies are 100 ms: under 1 %, so the pooled p99 stays at 1 ms.
    assert out["off"]["pooled_p99_ms"] == 1.0
    assert out["healthy"]["pooled_p99_ms"] == 2.0
    assert out["rounds"] == 3
    assert out["rate_rps"] == 500.0
    # What the shadow did during each run is counted from before to after it: 3 of 4 rows shed.
    assert out["healthy"]["runs"][0]["shadow_rows"] == {
        "shed": 30.0,
        "compared": 10.0,
        "dropped": 0.0,
        "challenger_errors": 0.0,
    }
    assert out["healthy"]["shed_share"] == 0.75
    assert out["off"]["shed_share"] is None


def test_the_down_fault_is_a_challenger_whose_process_was_killed() -> None:
    """'down' as `mlops serve` meets it: its challenger child gone, every call failing at once."""
    from mlops.errors import ChallengerProcessError
    from performance.benchmarks.online import _FailingModel, challenger_for

    down = challenger_for("down", _FailingModel())
    try:
        deadline = time.monotonic() + 10.0
        while down.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not down.alive
        with pytest.raises(ChallengerProcessError, match="exited with -9"):
            down([{"x": 1.0}])
    finally:
        down.close()


def test_the_transport_floor_reads_the_whole_body_and_answers_an_empty_object() -> None:
    messages = [
        {"type": "http.request", "body": b'{"income": ', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}
    asyncio.run(answer_empty(scope, receive, send))
    assert messages == []  # both parts read
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-length"] == b"2"
    assert sent[1]["body"] == b"{}"
    asyncio.run(answer_empty({"type": "lifespan"}, receive, send))  # ignored, nothing sent
    assert len(sent) == 2


def test_the_in_process_figure_times_calls_back_to_back_and_after_a_pause() -> None:
    class Champion:
        def __init__(self) -> None:
            self.gaps: list[float] = []  # seconds since the previous call ended
            self.last = time.perf_counter()

        def score_rows(self, rows: list[dict[str, Any]]) -> list[float]:
            assert len(rows) == 1  # single rows, as one request sends
            self.gaps.append(time.perf_counter() - self.last)
            time.sleep(0.0002)
            self.last = time.perf_counter()
            return [0.5]

    champion = Champion()
    figure = in_process_p95(champion, [{"x": 1.0}, {"x": 2.0}], 90)
    assert figure["calls"] == 90
    assert figure["after_pause"]["calls"] == 30
    assert len(champion.gaps) == 2 + 90 + 30  # warm-up (each row once), back to back, after a pause
    # Back to back: no pause between calls (the median: a busy CI core may preempt a few).
    assert sorted(champion.gaps[2:92])[45] < 0.001 <= min(champion.gaps[92:])
    assert 0.2 <= figure["p50_ms"] <= figure["p95_ms"] <= figure["p99_ms"]
    assert figure["after_pause"]["pause_ms"] == 1.0
    assert figure["after_pause"]["p50_ms"] >= 0.2
