"""The prediction log: sampled off the hot path, bounded, written as partitioned parquet, read back."""

from __future__ import annotations

import errno
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from mlops.errors import MonitoringError, NoPredictionsError
from observability.prediction_log import (
    LOG_COLUMNS,
    PredictionLogConfig,
    PredictionLogger,
    read_predictions,
)

MODEL = "credit_risk"
# Nothing is written on a timer in these tests unless a test asks for it.
QUIET = {"flush_interval_s": 3600.0}


class ControlledFS(pafs.FileSystemHandler):
    """The local filesystem, with writes that can be made to fail or to hang (a full disk, a
    stalled object store)."""

    def __init__(self) -> None:
        self.local = pafs.LocalFileSystem()
        self.fail_on: str | None = None  # "open" or "move"
        self.gate = threading.Event()
        self.gate.set()
        self.writes_started = 0

    def _maybe_fail(self, step: str) -> None:
        if self.fail_on == step:
            raise OSError(errno.ENOSPC, "No space left on device")

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        self.writes_started += 1
        self.gate.wait()
        self._maybe_fail("open")
        return self.local.open_output_stream(path, metadata=metadata)

    def move(self, src: str, dest: str) -> None:
        self._maybe_fail("move")
        self.local.move(src, dest)

    # Everything else is the local filesystem's.
    def get_type_name(self) -> str:
        return "controlled"

    def normalize_path(self, path: str) -> str:
        return self.local.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("not in tests")

    def delete_file(self, path: str) -> None:
        self.local.delete_file(path)

    def copy_file(self, src: str, dest: str) -> None:
        self.local.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self.local.open_input_file(path)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.local.open_append_stream(path, metadata=metadata)


def features(n: int, start: int = 0) -> pd.DataFrame:
    """Rows as the serving Scorer builds them: float64 numbers, object strings."""
    return pd.DataFrame(
        {
            "income": np.arange(start, start + n, dtype="float64") * 1000.0,
            "region": np.asarray([f"r{i % 3}" for i in range(start, start + n)], dtype=object),
        }
    )


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_rows_are_logged_and_read_back(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET), entity_column="applicant_id")
    ts = at("2026-11-05T09:15:00")
    assert (
        logger.record(
            features(2), [0.25, 0.75], model=MODEL, version="1.2.0", request_ids="req-a", entity_ids=[101, 102], ts=ts
        )
        == 2
    )
    # An A/B call: each row answered by its variant's version.
    logger.record(
        features(2, start=2),
        np.asarray([0.1, 0.9]),
        model=MODEL,
        version=["1.2.0", "1.3.0"],
        variant=["a", "b"],
        request_ids="req-b",
        entity_ids=["103", None],
        ts=ts + 1,
    )
    assert logger.close()
    assert logger.stats()["rows_written"] == 4
    assert logger.buffered_rows == 0

    frame = read_predictions(tmp_path, MODEL, now=datetime.fromtimestamp(ts, UTC))
    assert list(frame.columns[: len(LOG_COLUMNS)]) == list(LOG_COLUMNS)
    assert frame["model"].tolist() == [MODEL] * 4
    assert frame["model_version"].tolist() == ["1.2.0", "1.2.0", "1.2.0", "1.3.0"]
    assert frame["variant"].tolist() == [None, None, "a", "b"]
    assert frame["request_id"].tolist() == ["req-a", "req-a", "req-b", "req-b"]
    assert frame["score"].tolist() == [0.25, 0.75, 0.1, 0.9]
    assert frame["applicant_id"].tolist() == ["101", "102", "103", None]
    assert frame["income"].tolist() == [0.0, 1000.0, 2000.0, 3000.0]
    assert frame["region"].tolist() == ["r0", "r1", "r2", "r0"]
    assert [t.timestamp() for t in frame["scored_at"]] == [ts, ts, ts + 1, ts + 1]
    assert str(frame["scored_at"].dt.tz) == "UTC"


def test_partition_layout_is_model_date_hour_and_no_partial_files(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    for ts in ("2026-11-05T09:59:59", "2026-11-05T10:00:00", "2026-11-06T00:30:00"):
        logger.record(features(3), [0.5] * 3, model=MODEL, version="1.0.0", request_ids=ts, ts=at(ts))
    logger.record(features(1), [0.5], model="churn", version="2.0.0", request_ids="x", ts=at("2026-11-05T09:00:00"))
    assert logger.close()

    layout = [f.relative_to(tmp_path).as_posix() for f in parquet_files(tmp_path)]
    pattern = re.compile(r"^model=([a-z_]+)/date=(\d{4}-\d\d-\d\d)/hour=(\d\d)/part-[0-9a-f]{32}\.parquet$")
    assert all(pattern.match(p) for p in layout), layout
    assert sorted(pattern.sub(r"\1 \2 \3", p) for p in layout) == [
        "churn 2026-11-05 09",
        "credit_risk 2026-11-05 09",
        "credit_risk 2026-11-05 10",
        "credit_risk 2026-11-06 00",
    ]
    # Nothing else: no temporary files left behind.
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == parquet_files(tmp_path)
    for path in parquet_files(tmp_path):
        assert pq.read_metadata(path).num_rows in (1, 3)


def test_excluded_and_not_allowed_columns_never_reach_a_file(tmp_path: Path) -> None:
    frame = features(4).assign(
        Email=[f"person{i}@example.org" for i in range(4)],  # declared as "email": matched ignoring case
        full_name=[f"Name {i}" for i in range(4)],
        debug_blob=["internal"] * 4,
    )
    config = PredictionLogConfig(columns=["income", "region", "Email"], **QUIET)
    logger = PredictionLogger(tmp_path, config, exclude_columns={"email", "full_name"})
    logger.record(frame, [0.5] * 4, model=MODEL, version="1.0.0", request_ids="r", ts=at("2026-11-05T09:00:00"))
    assert logger.close()

    files = parquet_files(tmp_path)
    assert files
    for path in files:
        table = pq.read_table(path)
        assert {"email", "full_name", "debug_blob"}.isdisjoint(c.lower() for c in table.column_names)
        values = {str(v) for column in table.to_pydict().values() for v in column}
        assert not any("@example.org" in v or v.startswith("Name ") or v == "internal" for v in values)
        assert {"income", "region"} <= set(table.column_names)
    read = read_predictions(tmp_path, MODEL)
    assert "Email" not in read.columns
    assert read["income"].tolist() == frame["income"].tolist()


def test_a_column_the_log_writes_cannot_be_excluded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="request_id"):
        PredictionLogger(tmp_path, exclude_columns={"Request_ID"})


def test_sampling_rate_is_respected_and_decided_per_request_id(tmp_path: Path) -> None:
    config = PredictionLogConfig(sample_rate=0.1, **QUIET)
    logger = PredictionLogger(tmp_path / "a", config)
    ids = [str(uuid.UUID(int=i)) for i in range(4000)]
    kept = sum(
        logger.record(features(5), [0.5] * 5, model=MODEL, version="1", request_ids=rid, ts=at("2026-11-05T09:00:00"))
        for rid in ids
    )
    assert logger.close()
    requests_in = kept // 5
    # Binomial(4000, 0.1): sd 19 requests; 80 is more than four of them.
    assert abs(requests_in - 400) < 80
    assert logger.rows_sampled_out == 4000 * 5 - kept
    frame = read_predictions(tmp_path / "a", MODEL)
    assert len(frame) == kept
    # A request's rows are all in or all out.
    assert set(frame.groupby("request_id").size()) == {5}

    # The same ids give the same answer in another logger (another process): a hash, not a random draw.
    other = PredictionLogger(tmp_path / "b", config)
    assert {rid for rid in ids if other.sampled(rid)} == set(frame["request_id"])
    other.close()


def test_per_row_request_ids_are_sampled_row_by_row(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(sample_rate=0.5, **QUIET))
    ids = [f"batch-7:{i}" for i in range(200)]
    scores = np.linspace(0, 1, 200)
    kept = logger.record(features(200), scores, model=MODEL, version="1", request_ids=ids, ts=at("2026-11-05T09:00:00"))
    assert logger.close()
    expected = [i for i, rid in enumerate(ids) if logger.sampled(rid)]
    assert 0 < kept == len(expected) < 200
    frame = read_predictions(tmp_path, MODEL)
    assert frame["request_id"].tolist() == [ids[i] for i in expected]
    assert frame["score"].tolist() == [scores[i] for i in expected]
    assert frame["income"].tolist() == [i * 1000.0 for i in expected]


def test_sample_rate_zero_logs_nothing(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(sample_rate=0.0, **QUIET))
    assert logger.record(features(3), [0.1] * 3, model=MODEL, version="1", request_ids="r") == 0
    assert logger.close()
    assert logger.rows_sampled_out == 3
    assert parquet_files(tmp_path) == []


def test_a_burst_with_a_stalled_writer_is_bounded_dropped_and_counted(tmp_path: Path) -> None:
    handler = ControlledFS()
    handler.gate.clear()  # every write hangs until the gate opens
    config = PredictionLogConfig(max_buffer_rows=1000, flush_rows=100, flush_interval_s=0.05)
    logger = PredictionLogger(tmp_path, config, filesystem=pafs.PyFileSystem(handler))
    accepted = 0
    slowest = 0.0
    peak = 0
    for i in range(200):  # 10,000 rows against a bound of 1,000
        start = time.perf_counter()
        accepted += logger.record(features(50), [0.5] * 50, model=MODEL, version="1", request_ids=f"r{i}")
        slowest = max(slowest, time.perf_counter() - start)
        peak = max(peak, logger.buffered_rows)
        if i == 10:
            deadline = time.monotonic() + 5
            while handler.writes_started == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert handler.writes_started == 1  # the writer is now stuck inside a write
    assert peak <= 1000
    assert accepted <= 1000
    assert logger.rows_dropped == 10_000 - accepted
    assert logger.rows_written == 0
    # Never blocked: a record() waits for nothing (a generous bound for a shared, busy machine).
    assert slowest < 0.25

    handler.gate.set()
    assert logger.close(timeout=30)
    assert logger.rows_written == accepted
    assert len(read_predictions(tmp_path, MODEL)) == accepted


def test_close_writes_what_is_buffered_and_refuses_later_rows(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(flush_interval_s=3600, flush_rows=10_000))
    logger.record(features(7), [0.3] * 7, model=MODEL, version="1", request_ids="r")
    time.sleep(0.1)
    assert parquet_files(tmp_path) == []  # below flush_rows and before the interval: still buffered
    assert logger.close()
    assert logger.rows_written == 7
    assert len(read_predictions(tmp_path, MODEL)) == 7
    assert logger.record(features(2), [0.3] * 2, model=MODEL, version="1", request_ids="late") == 0
    assert logger.rows_dropped == 2
    assert logger.close()  # again: harmless


def test_the_writer_flushes_on_its_own_when_flush_rows_wait(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(flush_rows=10, flush_interval_s=3600))
    logger.record(features(12), [0.3] * 12, model=MODEL, version="1", request_ids="r")
    deadline = time.monotonic() + 10
    while logger.rows_written < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger.rows_written == 12
    logger.close()


@pytest.mark.parametrize("fail_on", ["open", "move"])
def test_a_write_error_is_counted_and_the_rows_are_written_later(
    tmp_path: Path, fail_on: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler = ControlledFS()
    handler.fail_on = fail_on
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET), filesystem=pafs.PyFileSystem(handler))
    logger.record(features(5), [0.5] * 5, model=MODEL, version="1", request_ids="r1")

    assert logger.flush(timeout=10) is False  # no exception reaches the caller
    assert logger.write_errors == 1
    assert logger.rows_written == 0
    assert logger.buffered_rows == 5  # kept for the next attempt
    assert "No space left on device" in caplog.text
    # A failed write leaves no file, not even a temporary one.
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

    logger.record(features(2, start=5), [0.6] * 2, model=MODEL, version="1", request_ids="r2")
    handler.fail_on = None
    assert logger.flush(timeout=10)
    assert logger.rows_written == 7
    assert logger.buffered_rows == 0
    assert logger.close()
    frame = read_predictions(tmp_path, MODEL)
    assert frame["request_id"].tolist() == ["r1"] * 5 + ["r2"] * 2


def test_rows_that_cannot_be_written_at_close_are_counted_as_dropped(tmp_path: Path) -> None:
    handler = ControlledFS()
    handler.fail_on = "open"
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET), filesystem=pafs.PyFileSystem(handler))
    logger.record(features(4), [0.5] * 4, model=MODEL, version="1", request_ids="r1")
    assert logger.close() is False
    assert logger.rows_dropped == 4
    assert logger.write_errors == 1
    assert logger.buffered_rows == 0


def test_a_record_that_cannot_be_converted_is_dropped_alone(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    ts = at("2026-11-05T09:00:00")
    logger.record(features(2), [0.1, 0.2], model=MODEL, version="1", request_ids="good-1", ts=ts)
    # A caller's bug the hot path does not look for (it checks lengths only): text for a score.
    logger.record(features(1), np.asarray(["not a score"]), model=MODEL, version="1", request_ids="bad", ts=ts)
    logger.record(features(3), [0.3] * 3, model=MODEL, version="1", request_ids="good-2", ts=ts)
    assert logger.flush(timeout=10) is False
    assert (logger.rows_written, logger.rows_dropped, logger.write_errors) == (5, 1, 1)
    assert logger.close()
    assert read_predictions(tmp_path, MODEL)["request_id"].tolist() == ["good-1"] * 2 + ["good-2"] * 3


def test_rows_are_converted_as_they_arrive_and_written_at_the_flush(tmp_path: Path) -> None:
    """The writer converts every few hundred rows, not the whole flush at once: a record that
    cannot be converted is dropped (and counted) long before any write."""
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    ts = at("2026-11-05T09:00:00")
    logger.record(features(1), np.asarray(["not a score"]), model=MODEL, version="1", request_ids="bad", ts=ts)
    for i in range(300):
        logger.record(features(1, start=i), [0.5], model=MODEL, version="1", request_ids=f"r{i}", ts=ts)
    deadline = time.monotonic() + 10
    while logger.rows_dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (logger.rows_dropped, logger.rows_written, logger.buffered_rows) == (1, 0, 300)
    assert parquet_files(tmp_path) == []  # below flush_rows and before the interval: not written
    assert logger.flush(timeout=10) is False  # this write reports the record lost before it
    assert logger.rows_written == 300
    frame = read_predictions(tmp_path, MODEL, now=datetime.fromtimestamp(ts, UTC))
    assert frame["income"].tolist() == [1000.0 * i for i in range(300)]
    assert logger.close()


def test_a_writer_behind_still_converts_a_few_hundred_records_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst does not become one long conversion: the writer takes a few hundred records per
    conversion (here 10), and a write takes whatever is left."""
    import observability.prediction_log as prediction_log

    monkeypatch.setattr(prediction_log, "_CONVERT_ROWS", 10)
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    sizes: list[int] = []
    convert = logger._convert

    def counting(items: list[Any]) -> None:
        sizes.append(len(items))
        convert(items)

    monkeypatch.setattr(logger, "_convert", counting)
    ts = at("2026-11-05T09:00:00")
    for i in range(1000):
        logger.record(features(1, start=i), [0.5], model=MODEL, version="1", request_ids=f"r{i}", ts=ts)
    deadline = time.monotonic() + 30
    while logger._pending_rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger._pending_rows == 0
    assert sum(sizes) == 1000
    assert max(sizes) == 10  # never the whole backlog at once
    assert parquet_files(tmp_path) == []  # converted, not written: below flush_rows
    assert logger.flush(timeout=30)
    assert logger.rows_written == 1000
    assert len(read_predictions(tmp_path, MODEL, now=datetime.fromtimestamp(ts, UTC))) == 1000
    logger.close()


def test_read_predictions_filters_by_time_and_version(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    for ts, version in (
        ("2026-11-05T08:10:00", "1.0.0"),
        ("2026-11-05T09:10:00", "1.0.0"),
        ("2026-11-05T09:50:00", "1.1.0"),
        ("2026-11-05T11:00:00", "1.1.0"),
        ("2026-11-06T11:00:00", "1.1.0"),
    ):
        logger.record(features(1), [0.5], model=MODEL, version=version, request_ids=ts, ts=at(ts))
    assert logger.close()
    now = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)

    def ids(**kwargs: Any) -> list[str]:
        return read_predictions(tmp_path, MODEL, now=now, **kwargs)["request_id"].tolist()

    assert ids() == [
        "2026-11-05T08:10:00",
        "2026-11-05T09:10:00",
        "2026-11-05T09:50:00",
        "2026-11-05T11:00:00",
        "2026-11-06T11:00:00",
    ]
    assert ids(since=timedelta(hours=2)) == ["2026-11-06T11:00:00"]
    assert ids(since=datetime(2026, 11, 5, 9, 10), until=datetime(2026, 11, 5, 11, 0)) == [
        "2026-11-05T09:10:00",
        "2026-11-05T09:50:00",
    ]  # since included, until excluded; naive times are UTC
    assert ids(until=timedelta(days=1, hours=3)) == ["2026-11-05T08:10:00"]
    assert ids(version="1.0.0") == ["2026-11-05T08:10:00", "2026-11-05T09:10:00"]
    assert ids(version={"1.1.0"}, since=datetime(2026, 11, 5, 10)) == ["2026-11-05T11:00:00", "2026-11-06T11:00:00"]

    empty = read_predictions(tmp_path, MODEL, since=timedelta(minutes=30), now=now)
    assert empty.empty
    assert list(empty.columns) == list(LOG_COLUMNS)
    with pytest.raises(
        NoPredictionsError, match=r"no predictions logged for credit_risk 9\.9\.9 since 2026-11-05 12:00"
    ):
        read_predictions(tmp_path, MODEL, since=timedelta(days=1), version="9.9.9", now=now, required=True)


def test_partitions_outside_the_window_are_not_opened(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    logger.record(features(2), [0.5] * 2, model=MODEL, version="1", request_ids="new", ts=at("2026-11-05T09:30:00"))
    assert logger.close()
    # A damaged file in an older hour: reading it would fail, so a read that succeeds never opened it.
    old = tmp_path / f"model={MODEL}" / "date=2026-11-04" / "hour=09"
    old.mkdir(parents=True)
    (old / "part-damaged.parquet").write_bytes(b"not parquet")
    window = read_predictions(tmp_path, MODEL, since=datetime(2026, 11, 5, 9), until=datetime(2026, 11, 5, 10))
    assert window["request_id"].tolist() == ["new", "new"]
    damaged = r"prediction log of credit_risk cannot be read: .*part-damaged\.parquet: "
    with pytest.raises(MonitoringError, match=damaged):
        read_predictions(tmp_path, MODEL)


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert read_predictions(tmp_path / "nowhere", MODEL).empty
    with pytest.raises(NoPredictionsError, match="no predictions logged for credit_risk"):
        read_predictions(tmp_path / "nowhere", MODEL, required=True)


def test_files_with_different_features_read_as_one_frame(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    ts = at("2026-11-05T09:00:00")
    logger.record(features(1), [0.1], model=MODEL, version="1.0.0", request_ids="old", ts=ts)
    logger.flush(timeout=10)
    logger.record(features(1).assign(tenure=[4.0]), [0.2], model=MODEL, version="2.0.0", request_ids="new", ts=ts + 1)
    assert logger.close()
    frame = read_predictions(tmp_path, MODEL)
    assert frame["request_id"].tolist() == ["old", "new"]
    assert frame["tenure"].isna().tolist() == [True, False]
    only = read_predictions(tmp_path, MODEL, columns=["tenure"])
    assert "region" not in only.columns
    assert "tenure" in only.columns


def test_record_refuses_mismatched_lengths_and_unsafe_model_names(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(**QUIET))
    with pytest.raises(ValueError, match="3 scores for 2 feature rows"):
        logger.record(features(2), [0.1, 0.2, 0.3], model=MODEL, version="1", request_ids="r")
    with pytest.raises(ValueError, match="1 version for 2 feature rows"):
        logger.record(features(2), [0.1, 0.2], model=MODEL, version=["1"], request_ids="r")
    with pytest.raises(ValueError, match="cannot name a folder"):
        logger.record(features(1), [0.1], model="../escape", version="1", request_ids="r")
    with pytest.raises(ValueError, match="is not a time"):
        logger.record(features(1), [0.1], model=MODEL, version="1", request_ids="r", ts=float("nan"))
    assert logger.close()
    assert parquet_files(tmp_path) == []


def test_a_disabled_log_records_nothing(tmp_path: Path) -> None:
    def writers() -> int:
        return sum(t.name == "prediction-log-writer" for t in threading.enumerate())

    before = writers()
    logger = PredictionLogger(tmp_path, PredictionLogConfig(enabled=False))
    assert writers() == before  # no thread for a log that is off
    assert logger.record(features(2), [0.1, 0.2], model=MODEL, version="1", request_ids="r") == 0
    assert logger.close()
    assert not tmp_path.exists() or parquet_files(tmp_path) == []


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"flush_rows": 500, "max_buffer_rows": 100}, "flush_rows"),
        ({"max_buffer_rows": 0}, "max_buffer_rows"),
        ({"flush_every": 3}, "flush_every"),
    ],
)
def test_config_refuses_bad_values(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        PredictionLogConfig(**values)
