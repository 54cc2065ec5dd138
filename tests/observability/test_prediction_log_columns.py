"""Dict rows are converted column by column: the files hold what framing each record would give."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import observability.prediction_log as prediction_log
from observability.prediction_log import PredictionLogConfig, PredictionLogger

MODEL = "credit_risk"
TS = datetime(2026, 11, 5, 9, 15, tzinfo=UTC).timestamp()
Rows = list[dict[str, Any]]


def credit_rows(n: int, start: int = 0) -> Rows:
    """Rows shaped like the online app's: numbers, text, flags, and gaps (None and NaN)."""
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "age": 20 + i % 50,
                "income": 1000.0 * i if i % 7 else math.nan,
                "delinquencies": None if i % 5 == 0 else i % 3,  # ints with gaps
                "employment_years": None if i % 4 == 0 else i / 3,
                "home": ["RENT", "OWN", None][i % 3],
                "purpose": "car" if i % 2 else math.nan,
                "has_guarantor": i % 2 == 0,
                "empty": None,
                "Email": f"person{i}@example.org",  # excluded, whatever its case
                "entity_id": 999,  # the entity ids given win over this column
                "score": 0.0,  # a feature named like the log's own column: logged as "feature:score"
            }
        )
    return rows


def write(
    tmp: Path,
    records: Sequence[Any],
    *,
    config: Mapping[str, Any] | None = None,
    per_row_ids: bool = False,
    with_ids: bool = True,
) -> pa.Table:
    """Log ``records`` (one record() call each) and read back the one file written."""
    logger = PredictionLogger(
        tmp, PredictionLogConfig(flush_interval_s=3600.0, **(config or {})), exclude_columns={"email"}
    )
    for k, features in enumerate(records):
        n = len(features)
        logger.record(
            features,
            np.linspace(0.0, 1.0, n),
            model=MODEL,
            version="1.0.0" if k % 2 else [f"1.{j}.0" for j in range(n)],
            variant=None if k % 3 else ["a"] * n,
            request_ids=[f"req-{k}-{j}" for j in range(n)] if per_row_ids else f"req-{k}",
            entity_ids=[f"e{k}-{j}" if j % 2 else k * 10 + j for j in range(n)] if with_ids else None,
            ts=TS + k,
        )
    assert logger.close()
    stats = logger.stats()
    assert stats["write_errors"] == 0
    files = sorted(tmp.rglob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.num_rows == stats["rows_written"]
    return table


def as_frames(records: Sequence[Rows]) -> list[pd.DataFrame]:
    return [pd.DataFrame.from_records(rows, columns=list(rows[0])) for rows in records]


def assert_same(dicts: pa.Table, frames: pa.Table) -> None:
    assert dicts.schema.remove_metadata() == frames.schema.remove_metadata()
    assert dicts.to_pydict().keys() == frames.to_pydict().keys()
    for name in dicts.column_names:
        left, right = dicts[name].to_pylist(), frames[name].to_pylist()
        assert left == right, name


def test_one_row_records_match_their_frames(tmp_path: Path) -> None:
    records = [credit_rows(1, start=i) for i in range(40)]
    dicts = write(tmp_path / "d", records)
    frames = write(tmp_path / "f", as_frames(records))
    assert_same(dicts, frames)

    types = {field.name: field.type for field in dicts.schema}
    assert types["age"] == pa.int64()
    assert types["income"] == pa.float64()
    # One row per record: each value keeps its type, so ints with gaps stay ints.
    assert types["delinquencies"] == pa.int64()
    assert types["has_guarantor"] == pa.bool_()
    assert types["home"] == pa.string()
    assert types["empty"] == pa.null()
    assert {"Email", "email"}.isdisjoint(dicts.column_names)
    assert dicts["delinquencies"].to_pylist()[:6] == [None, 1, 2, 0, 1, None]
    assert dicts["income"].to_pylist()[:8] == [None, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, None]
    assert dicts["purpose"].to_pylist()[:3] == [None, "car", None]
    assert dicts["entity_id"].to_pylist()[:2] == ["0", "10"]
    assert dicts["score"].to_pylist()[:2] == [0.0, 0.0]  # the scores given, not the feature


def test_records_of_several_rows_match_their_frames(tmp_path: Path) -> None:
    records = [credit_rows(n, start=10 * n) for n in (3, 1, 5, 2, 1, 4)]
    records[3][1].pop("home")  # a key missing from a later row: NaN in a frame
    records[3][1]["extra"] = "ignored"  # a key the first row does not have: not a column
    dicts = write(tmp_path / "d", records)
    frames = write(tmp_path / "f", as_frames(records))
    assert_same(dicts, frames)
    # A frame of several rows holds ints with gaps as float64: ints become floats.
    assert dicts.schema.field("delinquencies").type == pa.float64()
    assert "extra" not in dicts.column_names
    assert dicts.num_rows == 16


def test_mixed_type_column_is_text_as_its_frames_give_it(tmp_path: Path) -> None:
    records: list[Rows] = [
        [{"code": 7, "n": 1}],
        [{"code": "A1", "n": 2}],
        [{"code": None, "n": 3}],
        [{"code": 7, "n": 4}, {"code": None, "n": 5}],  # framed: float64, so 7.0
        [{"code": 2.5, "n": math.nan}],
        [{"code": True, "n": 6}],
    ]
    dicts = write(tmp_path / "d", records)
    frames = write(tmp_path / "f", as_frames(records))
    assert_same(dicts, frames)
    assert dicts.schema.field("code").type == pa.string()
    assert dicts["code"].to_pylist() == ["7", "A1", None, "7.0", None, "2.5", "True"]
    assert dicts["n"].to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.0, None, 6.0]


def test_allow_list_exclusions_and_entity_ids(tmp_path: Path) -> None:
    records = [credit_rows(1, start=i) for i in range(5)] + [credit_rows(3, start=5)]
    config = {"columns": ["age", "home", "Email", "entity_id", "score"]}
    dicts = write(tmp_path / "d", records, config=config)
    frames = write(tmp_path / "f", as_frames(records), config=config)
    assert_same(dicts, frames)
    features = [c for c in dicts.column_names if c not in prediction_log.LOG_COLUMNS]
    assert features == ["age", "home", "feature:score", "entity_id"]
    # The log's own "score" is the model's; the feature of that name keeps its values beside it.
    assert dicts["feature:score"].to_pylist() == [0.0] * 8
    assert dicts["score"].to_pylist() == [0.0] * 5 + [0.0, 0.5, 1.0]
    assert dicts["entity_id"].to_pylist() == ["0", "10", "20", "30", "40", "50", "e5-1", "52"]

    # Without entity ids, a feature of that name is logged like any other.
    plain = write(tmp_path / "p", records, config=config, with_ids=False)
    assert plain["entity_id"].to_pylist() == [999] * 8


def test_sampled_rows_match_their_frames(tmp_path: Path) -> None:
    records = [credit_rows(n, start=7 * k) for k, n in enumerate((1, 4, 6, 1, 3, 8, 2))]
    config = {"sample_rate": 0.5}
    dicts = write(tmp_path / "d", records, config=config, per_row_ids=True)
    frames = write(tmp_path / "f", as_frames(records), config=config, per_row_ids=True)
    assert_same(dicts, frames)
    sampler = PredictionLogger(tmp_path / "unused", PredictionLogConfig(enabled=False, sample_rate=0.5))
    kept = [
        f"req-{k}-{j}" for k, rows in enumerate(records) for j in range(len(rows)) if sampler.sampled(f"req-{k}-{j}")
    ]
    assert 0 < len(kept) < sum(map(len, records))
    assert dicts["request_id"].to_pylist() == kept


def test_a_sampled_rows_type_comes_from_its_whole_record(tmp_path: Path) -> None:
    sampler = PredictionLogger(tmp_path / "unused", PredictionLogConfig(enabled=False, sample_rate=0.5))
    # A record of two rows whose first row is logged and whose second is not.
    k = next(k for k in range(1000) if sampler.sampled(f"req-{k}-0") and not sampler.sampled(f"req-{k}-1"))
    records: list[Rows] = [[{"a": 1, "b": 2, "c": 3}]] * k + [
        [{"a": 1, "b": 2, "c": 3}, {"a": 2.5, "b": np.float64(0.5), "c": 4}]
    ]
    config = {"sample_rate": 0.5}
    dicts = write(tmp_path / "d", records, config=config, per_row_ids=True)
    frames = write(tmp_path / "f", as_frames(records), config=config, per_row_ids=True)
    assert_same(dicts, frames)
    # Framed with the row not logged, the record's a and b are float64; c stays int64.
    assert dicts.schema.field("a").type == pa.float64()
    assert dicts.schema.field("b").type == pa.float64()
    assert dicts.schema.field("c").type == pa.int64()
    assert dicts["request_id"].to_pylist()[-1] == f"req-{k}-0"


def test_values_other_than_python_scalars_are_framed_as_before(tmp_path: Path) -> None:
    records: list[Rows] = [
        [{"x": np.int64(3), "f": np.float32(1.5), "when": datetime(2026, 1, 2, 3, 4), "g": np.float32(1)}],
        [{"x": 4, "f": 2.5, "when": None, "g": np.float32(2)}],
        [{"x": np.int32(5), "f": None, "when": pd.Timestamp("2026-01-03"), "g": np.float32(3)}],
        [{"x": 6, "f": 3.5, "when": datetime(2026, 1, 4, tzinfo=UTC), "g": np.float32(4)}],
    ]
    dicts = write(tmp_path / "d", records)
    frames = write(tmp_path / "f", as_frames(records))
    assert_same(dicts, frames)
    assert dicts.schema.field("x").type == pa.int64()
    # pandas gives float32 back as a Python float: float32 values are logged as float64.
    assert dicts.schema.field("f").type == pa.float64()
    assert dicts.schema.field("g").type == pa.float64()


def test_frame_and_dict_records_share_a_file(tmp_path: Path) -> None:
    rows = [credit_rows(1, start=i) for i in range(6)] + [credit_rows(3, start=6)]
    mixed: list[Any] = [r if k % 2 else as_frames([r])[0] for k, r in enumerate(rows)]
    assert_same(write(tmp_path / "m", mixed), write(tmp_path / "f", as_frames(rows)))


def test_converted_in_small_pieces_gives_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [credit_rows(1, start=i) for i in range(30)] + [credit_rows(4, start=30)]
    records[5][0]["home"] = 12  # a mixed-type column, converted as text in pieces too
    whole = write(tmp_path / "w", records)
    monkeypatch.setattr(prediction_log, "_PIECE_ROWS", 3)
    monkeypatch.setattr(prediction_log, "_ARROW_PIECE", 4)
    monkeypatch.setattr(prediction_log, "_HOLD_S", 0.0)  # a pause at every check
    pieces = write(tmp_path / "p", records)
    assert_same(pieces, whole)
    assert whole.schema.field("home").type == pa.string()


def test_rows_converted_as_they_arrive_give_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer converts every few hundred rows; a column's type may then differ between two
    conversions (a code sent as a number, then as text): the file holds what one conversion gives."""
    records: list[Rows] = [
        [{"code": 7, "n": 1, "flag": True}],
        [{"code": "A1", "n": 2.5, "flag": None}],
        [{"code": True, "n": None, "flag": False}],
        [{"code": 2.5, "n": 4, "flag": True}],
        *[credit_rows(1, start=i) for i in range(3)],
    ]
    whole = write(tmp_path / "w", records)
    monkeypatch.setattr(prediction_log, "_CONVERT_ROWS", 1)  # each record converted alone
    logger = PredictionLogger(tmp_path / "p", PredictionLogConfig(flush_interval_s=3600.0))
    for k, features in enumerate(records):
        logger.record(features, [0.5], model=MODEL, version="1.0.0", request_ids=f"req-{k}", ts=TS + k)
        deadline = time.monotonic() + 10
        while logger._pending_rows and time.monotonic() < deadline:
            time.sleep(0.005)
        assert logger._pending_rows == 0  # converted, not written
    assert list((tmp_path / "p").rglob("*.parquet")) == []
    assert logger.close()
    (path,) = sorted((tmp_path / "p").rglob("*.parquet"))
    pieces = pq.read_table(path)
    for name in ("code", "n", "flag", "age", "income", "home"):
        assert pieces.schema.field(name).type == whole.schema.field(name).type, name
        assert pieces[name].to_pylist() == whole[name].to_pylist(), name
    assert pieces["code"].to_pylist()[:4] == ["7", "A1", "True", "2.5"]
    assert pieces.schema.field("n").type == pa.float64()


def test_plain_dict_rows_build_no_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    framed: list[int] = []
    frame: Callable[..., pd.DataFrame] = prediction_log._frame

    def counting(*args: Any, **kwargs: Any) -> pd.DataFrame:
        framed.append(1)
        return frame(*args, **kwargs)

    monkeypatch.setattr(prediction_log, "_frame", counting)
    write(tmp_path / "d", [credit_rows(1, start=i) for i in range(200)] + [credit_rows(5)])
    assert framed == []
    write(tmp_path / "x", [[{"a": np.int64(1)}], [{"a": 2}]])
    assert framed == [1]  # the record holding a numpy scalar only


def test_a_record_that_cannot_be_converted_is_dropped_alone(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, PredictionLogConfig(flush_interval_s=3600.0))
    good: list[Any] = credit_rows(1)
    records: list[list[Any]] = [good, good, [*good, "not a row"], good]
    for k, features in enumerate(records):
        logger.record(features, [0.5] * len(features), model=MODEL, version="1", request_ids=f"r{k}", ts=TS)
    assert not logger.close()  # one record was lost
    stats = logger.stats()
    assert (stats["rows_written"], stats["rows_dropped"], stats["write_errors"]) == (3, 2, 1)
    (path,) = sorted(tmp_path.rglob("*.parquet"))
    assert pq.read_table(path)["request_id"].to_pylist() == ["r0", "r1", "r3"]


def test_the_writer_paces_itself_and_catches_up_when_the_buffer_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Converting, the writer pauses long (serving threads keep most of the core); with more than
    half the buffer waiting behind it, it pauses briefly so the buffer does not fill and drop."""
    logger = PredictionLogger(tmp_path, PredictionLogConfig(max_buffer_rows=1000, flush_rows=100))
    pauses: list[float] = []
    monkeypatch.setattr(prediction_log.time, "sleep", pauses.append)
    try:
        logger._pacer._since = 0.0  # held "for ever": the next check pauses
        logger._breathe()
        logger._pending_rows = 501
        logger._pacer._since = 0.0
        logger._breathe()
        logger._pacer.start()
        logger._breathe()  # held only just now: no pause
    finally:
        logger._pending_rows = 0
        monkeypatch.undo()
        logger.close()
    assert pauses == [prediction_log._PAUSE_S, prediction_log._CATCH_UP_PAUSE_S]
    assert prediction_log._PAUSE_S > prediction_log._CATCH_UP_PAUSE_S
