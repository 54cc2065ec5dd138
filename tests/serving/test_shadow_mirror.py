"""The shadow mirror and its comparison store, without HTTP: queueing, batching, timeouts, errors, drops, drain."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.shadow import ComparisonStore, ShadowMirror, ShadowPair
from serving.shadow.mirror import ChallengerPredict
from serving.shadow.store import COLUMNS


def rows(n: int) -> list[dict[str, Any]]:
    """Rows as the online app scores them: ``{column: value}``."""
    return [{"x": float(x)} for x in np.linspace(0.0, 1.0, n)]


def echo(df: pd.DataFrame) -> np.ndarray:
    """A challenger that scores each row with its own ``x``."""
    return df["x"].to_numpy(dtype="float64")


def sleeper(seconds: float) -> ChallengerPredict:
    def predict(df: pd.DataFrame) -> np.ndarray:
        time.sleep(seconds)
        return echo(df)

    return predict


def submit_rows(mirror: ShadowMirror, n: int) -> list[bool]:
    values = rows(n)
    return [
        mirror.submit(f"r{i}", values[i], 0.9 if i % 2 else 0.1, 1.5, f"e{i}", {"sex": "f" if i % 3 else "m"})
        for i in range(n)
    ]


def pair(request_id: str, ts: float, **over: object) -> ShadowPair:
    base: dict[str, object] = {
        "request_id": request_id,
        "ts": ts,
        "entity_id": "APP-1",
        "segment": {"sex": "female", "age_band": "26-35"},
        "champion_version": "1.0.0",
        "challenger_version": "1.1.0",
        "champion_score": 0.25,
        "challenger_score": 0.75,
        "champion_latency_ms": 2.0,
        "challenger_latency_ms": 3.5,
        "challenger_error": None,
    }
    base.update(over)
    return ShadowPair(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- store
def test_store_round_trips_pairs_and_filters_by_time(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "shadow" / "m.sqlite")
    failed = pair(
        "b",
        20.0,
        entity_id=None,
        segment={},
        challenger_score=None,
        challenger_latency_ms=None,
        challenger_error="timeout after 0.5s",
    )
    store.append([pair("a", 10.0), failed])
    store.append([])
    # Another instance (as the report opens it) sees the same rows.
    frame = ComparisonStore(tmp_path / "shadow" / "m.sqlite").read()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["request_id"].tolist() == ["a", "b"]
    assert frame.loc[0, "segment"] == {"sex": "female", "age_band": "26-35"}
    assert frame.loc[1, "segment"] == {}
    assert frame.loc[1, "entity_id"] is None
    assert frame["challenger_score"].isna().tolist() == [False, True]
    assert frame["challenger_score"].dtype == "float64"
    assert frame.loc[1, "challenger_error"] == "timeout after 0.5s"
    assert store.read(since=15.0)["request_id"].tolist() == ["b"]
    assert store.count() == 2
    with sqlite3.connect(tmp_path / "shadow" / "m.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT segment FROM shadow_pairs WHERE request_id='a'").fetchone()[0] == (
            '{"age_band": "26-35", "sex": "female"}'
        )


def test_empty_store_reads_an_empty_frame_with_every_column(tmp_path: Path) -> None:
    frame = ComparisonStore(tmp_path / "s.sqlite").read()
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)


# --------------------------------------------------------------------------- mirror
def test_healthy_challenger_compares_every_mirrored_row(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(echo, store, challenger_version="2.0.0", champion_version="1.0.0", batch_flush=7)
    assert all(submit_rows(mirror, 200))
    assert mirror.close(timeout=10.0)
    stats = mirror.stats()
    assert stats["submitted"] == 200
    assert stats["compared"] == 200
    assert stats["dropped"] == stats["errors"] == stats["timeouts"] == 0
    assert store.count() == 200
    frame = store.read().set_index("request_id")
    expected = np.asarray([r["x"] for r in rows(200)])
    np.testing.assert_allclose(frame.loc[[f"r{i}" for i in range(200)], "challenger_score"].to_numpy(), expected)
    assert set(frame["champion_version"]) == {"1.0.0"}
    assert set(frame["challenger_version"]) == {"2.0.0"}
    assert frame.loc["r3", "segment"] == {"sex": "m"}
    assert frame.loc["r3", "entity_id"] == "e3"
    assert frame["challenger_error"].isna().all()
    # Agreement at 0.5: champion says 1 on odd rows; the challenger says 1 where x >= 0.5.
    agree = sum((i % 2 == 1) == (expected[i] >= 0.5) for i in range(200))
    assert stats["agreed"] == agree
    # Closed: further mirrors are refused and counted, not queued.
    assert submit_rows(mirror, 1) == [False]
    assert mirror.stats()["dropped"] == 1


def test_failing_challenger_records_the_error(tmp_path: Path) -> None:
    def broken(df: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("challenger exploded")

    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(broken, store, challenger_version="2.0.0")
    submit_rows(mirror, 5)
    assert mirror.close(timeout=5.0)
    assert mirror.stats()["errors"] == 5
    assert mirror.stats()["compared"] == 0
    frame = store.read()
    assert len(frame) == 5
    assert frame["challenger_score"].isna().all()
    assert set(frame["challenger_error"]) == {"RuntimeError: challenger exploded"}


def test_wrong_shaped_answer_is_an_error_not_a_score(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(lambda df: np.zeros(len(df) + 1), store, challenger_version="2.0.0")
    submit_rows(mirror, 2)
    mirror.close(timeout=5.0)
    assert mirror.stats()["errors"] == 2
    assert store.read()["challenger_error"].str.startswith("ValueError: challenger returned shape").all()


def test_slow_challenger_times_out_without_blocking_submit(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(sleeper(1.0), store, challenger_version="2.0.0", timeout_s=0.2)
    start = time.perf_counter()
    assert all(submit_rows(mirror, 4))
    assert time.perf_counter() - start < 0.1  # four 1 s calls are not waited for
    assert mirror.close(timeout=10.0)
    stats = mirror.stats()
    assert stats["timeouts"] == 4
    assert stats["compared"] == 0
    frame = store.read()
    assert set(frame["challenger_error"]) == {"timeout after 0.2s"}
    assert frame["challenger_latency_ms"].isna().all()
    assert (frame["champion_latency_ms"] == 1.5).all()


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(sleeper(0.3), store, challenger_version="2.0.0", queue_size=2, timeout_s=1.0)
    durations = []
    accepted = []
    row = rows(1)[0]
    for i in range(50):
        start = time.perf_counter()
        accepted.append(mirror.submit(f"r{i}", row, 0.5, 1.0, None, {}))
        durations.append(time.perf_counter() - start)
    assert max(durations) < 0.05
    stats = mirror.stats()
    assert stats["submitted"] + stats["dropped"] == 50
    assert stats["dropped"] == accepted.count(False) >= 45
    mirror.close(timeout=5.0)
    assert store.count() == stats["submitted"]


def test_close_abandons_what_it_has_no_time_for(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(
        sleeper(0.2), store, challenger_version="2.0.0", timeout_s=1.0, max_in_flight=1, max_batch_rows=1
    )
    submit_rows(mirror, 30)  # ~6 s of challenger work, one row a call
    start = time.perf_counter()
    assert mirror.close(timeout=0.5)
    assert time.perf_counter() - start < 3.0
    stats = mirror.stats()
    assert stats["abandoned"] > 0
    assert stats["compared"] + stats["abandoned"] == 30
    assert store.count() == stats["compared"]


def test_hung_challenger_does_not_hold_close(tmp_path: Path) -> None:
    release = threading.Event()

    def hung(df: pd.DataFrame) -> np.ndarray:
        release.wait(30)
        return echo(df)

    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(hung, store, challenger_version="2.0.0", timeout_s=0.2, max_in_flight=2)
    submit_rows(mirror, 3)
    start = time.perf_counter()
    assert mirror.close(timeout=5.0)
    assert time.perf_counter() - start < 3.0
    assert mirror.stats()["timeouts"] == 3
    assert store.count() == 3
    release.set()


class FlakyStore(ComparisonStore):
    """Fails its first write (a locked or full disk), then works."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures = 1

    def append(self, pairs: Sequence[ShadowPair], pause: Callable[[], None] | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        super().append(pairs, pause)


def test_store_and_listener_failures_do_not_stop_the_worker(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(echo, store, challenger_version="2.0.0", batch_flush=1)
    seen: list[int] = []

    def bad_listener(pairs: list[ShadowPair]) -> None:
        raise KeyError("metrics broke")

    mirror.add_listener(bad_listener)
    mirror.add_listener(lambda pairs: seen.append(len(pairs)))
    submit_rows(mirror, 1)
    time.sleep(0.5)  # the first write fails while nothing else is queued
    mirror.submit_many(["a", "b", "c"], rows(3), [0.1, 0.2, 0.3], 1.0, [None] * 3, [{}] * 3)
    assert mirror.close(timeout=5.0)
    stats = mirror.stats()
    assert stats["compared"] == 4
    assert stats["store_errors"] == 1
    assert store.count() == 3
    assert seen == [1, 3]  # the pairs of each challenger call


def test_batch_submission_is_one_challenger_call(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(df: pd.DataFrame) -> np.ndarray:
        calls.append(len(df))
        return echo(df)

    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(counting, store, challenger_version="2.0.0")
    ok = mirror.submit_many(["q:0", "q:1", "q:2"], rows(3), [0.1, 0.2, 0.3], 4.0, ["a", None, "c"], [{}, {}, {}])
    assert ok
    mirror.close(timeout=5.0)
    assert calls == [3]
    frame = store.read().set_index("request_id")
    assert frame.loc["q:2", "champion_score"] == pytest.approx(0.3)
    assert frame.loc["q:1", "entity_id"] is None
    assert frame["challenger_latency_ms"].nunique() == 1  # a whole-call latency, like the champion's


def test_queued_requests_share_one_challenger_call(tmp_path: Path) -> None:
    """While the challenger is busy, what queues up is scored together: one frame, one call."""
    calls: list[int] = []
    gate = threading.Event()

    def gated(df: pd.DataFrame) -> np.ndarray:
        gate.wait(5)
        calls.append(len(df))
        return echo(df)

    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(gated, store, challenger_version="2.0.0", timeout_s=5.0, max_batch_rows=40)
    assert all(submit_rows(mirror, 1))
    time.sleep(0.2)  # the worker is now in the first call, waiting at the gate
    assert all(submit_rows(mirror, 100))
    gate.set()
    assert mirror.close(timeout=10.0)
    # The first call, then the 100 queued rows in calls of at most max_batch_rows.
    assert calls == [1, 40, 40, 20]
    stats = mirror.stats()
    assert stats["compared"] == store.count() == 101
    frame = store.read()
    # Each pair has its own champion score and the challenger's score of its own row.
    second = frame[frame["request_id"].isin([f"r{i}" for i in range(100)])].set_index("request_id")
    assert second.loc["r99", "challenger_score"] == pytest.approx(1.0)
    assert second.loc["r1", "champion_score"] == pytest.approx(0.9)


def test_frames_are_typed_by_kinds() -> None:
    """Missing numbers become NaN in a float64 column, strings stay objects, even when all missing."""
    seen: list[pd.DataFrame] = []

    def keep(df: pd.DataFrame) -> np.ndarray:
        seen.append(df)
        return np.zeros(len(df))

    store = ComparisonStore(Path("/nonexistent/never-written.sqlite"))
    mirror = ShadowMirror(keep, store, challenger_version="2.0.0", kinds={"x": "number", "city": "string"})
    frame = mirror.frame([{"x": None, "city": None}, {"x": None, "city": "Oslo"}])
    assert list(frame.columns) == ["x", "city"]
    assert frame["x"].dtype == "float64"
    assert frame["x"].isna().all()
    assert frame["city"].dtype == object
    assert frame["city"].tolist() == [None, "Oslo"]
    mirror.close(timeout=1.0)


def test_mismatched_lengths_are_refused(tmp_path: Path) -> None:
    mirror = ShadowMirror(echo, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="2.0.0")
    with pytest.raises(ValueError, match="2 request ids, 1 rows"):
        mirror.submit_many(["a", "b"], rows(1), [0.1, 0.2], 1.0, [None, None], [{}, {}])
    assert mirror.stats()["submitted"] == 0
    mirror.close(timeout=1.0)


def test_invalid_settings_are_rejected(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="at least 1"):
        ShadowMirror(echo, store, challenger_version="2.0.0", queue_size=0)
    with pytest.raises(ValueError, match="positive"):
        ShadowMirror(echo, store, challenger_version="2.0.0", timeout_s=0)
    with pytest.raises(ValueError, match="batch_window_s"):
        ShadowMirror(echo, store, challenger_version="2.0.0", batch_window_s=-1)


def test_rows_arriving_within_the_window_share_a_call(tmp_path: Path) -> None:
    """Requests trickling in one by one (as at a steady rate) are still scored in few calls."""
    calls: list[int] = []

    def counting(df: pd.DataFrame) -> np.ndarray:
        calls.append(len(df))
        return echo(df)

    store = ComparisonStore(tmp_path / "s.sqlite")
    mirror = ShadowMirror(counting, store, challenger_version="2.0.0", batch_window_s=0.5)
    for i, row in enumerate(rows(20)):
        assert mirror.submit(f"r{i}", row, 0.5, 1.0, None, {})
        time.sleep(0.005)  # 20 rows over ~0.1 s, well within one window
    assert mirror.close(timeout=5.0)
    assert calls == [20]
    assert mirror.stats()["compared"] == 20


def test_append_pauses_between_pieces_and_still_writes_all_or_nothing(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "pairs.sqlite")
    pauses: list[int] = []
    pairs = [pair(f"r{i}", 1000.0 + i, segment={"band": str(i % 3)}) for i in range(250)]
    store.append(pairs, lambda: pauses.append(store.count()))
    assert len(pauses) == 3  # pieces of 100, 100 and 50
    assert pauses == [0, 0, 0]  # nothing visible until the one transaction commits
    frame = store.read()
    assert list(frame["request_id"]) == [f"r{i}" for i in range(250)]
    assert frame["segment"][7] == {"band": "1"}


# --------------------------------------------------------------------------- shedding
def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_shedding_starts_above_max_cpu_and_stops_only_below_its_hysteresis(tmp_path: Path) -> None:
    share = [0.69]
    mirror = ShadowMirror(
        echo, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="c", max_cpu=0.7, cpu_share=lambda: share[0]
    )
    time.sleep(0.3)  # the worker has read the share a few times: just under the limit
    assert not mirror.shedding
    assert not mirror.shed(4)
    share[0] = 0.7
    assert wait_for(lambda: mirror.shedding)
    assert mirror.shed(4)
    assert mirror.shed(1)
    share[0] = 0.65  # under max_cpu, not under max_cpu - 0.1: no flapping at the edge
    time.sleep(0.3)
    assert mirror.shedding
    share[0] = 0.59
    assert wait_for(lambda: not mirror.shedding)
    assert not mirror.shed(3)
    assert mirror.close()
    assert mirror.stats()["shed"] == 5
    assert mirror.stats()["submitted"] == mirror.stats()["dropped"] == 0


def test_without_max_cpu_the_mirror_never_sheds_nor_reads_the_cpu(tmp_path: Path) -> None:
    reads: list[int] = []

    def share() -> float:
        reads.append(1)
        return 1.0

    mirror = ShadowMirror(
        echo, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="c", max_cpu=None, cpu_share=share
    )
    time.sleep(0.3)
    assert not mirror.shedding
    assert not mirror.shed(2)
    assert submit_rows(mirror, 3) == [True] * 3
    assert mirror.close()
    assert reads == []
    assert mirror.stats()["compared"] == 3


@pytest.mark.parametrize("max_cpu", [0.0, -0.5, 1.5])
def test_max_cpu_outside_0_1_is_refused(tmp_path: Path, max_cpu: float) -> None:
    with pytest.raises(ValueError, match=r"max_cpu must be in \(0, 1\]"):
        ShadowMirror(echo, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="c", max_cpu=max_cpu)


def test_rows_queued_when_shedding_starts_are_shed_not_replayed(tmp_path: Path) -> None:
    share = [0.0]
    release = threading.Event()
    calls: list[int] = []
    shed_seen: list[int] = []

    def blocked(df: pd.DataFrame) -> np.ndarray:
        calls.append(len(df))
        release.wait(5.0)
        return echo(df)

    mirror = ShadowMirror(
        blocked, ComparisonStore(tmp_path / "s.sqlite"), challenger_version="c", max_cpu=0.7,
        cpu_share=lambda: share[0], timeout_s=5.0, batch_window_s=0.0,
    )  # fmt: skip
    mirror.add_shed_listener(shed_seen.append)
    assert submit_rows(mirror, 1) == [True]
    assert wait_for(lambda: calls == [1])  # the first call holds the worker in the challenger
    assert submit_rows(mirror, 4) == [True] * 4  # queued behind it, before the process got busy
    share[0] = 0.9
    release.set()
    assert wait_for(lambda: mirror.stats()["shed"] == 4)
    assert mirror.close()
    assert calls == [1]
    assert sum(shed_seen) == 4
    assert mirror.stats()["compared"] == 1
    assert mirror.store.count() == 1
