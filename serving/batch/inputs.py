"""Batch input files: format, schema (read from metadata only), the serving-schema check,
bounded chunked reading and a content hash."""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlops.errors import DatasetError

if TYPE_CHECKING:
    import pyarrow as pa

InputFormat = Literal["parquet", "csv"]
CSV_SUFFIXES = (".csv", ".csv.gz")


def input_format(path: Path) -> InputFormat:
    """CSV by suffix; anything else (a parquet file or a folder of parquet parts) is parquet."""
    return "csv" if path.name.lower().endswith(CSV_SUFFIXES) else "parquet"


def data_files(path: Path) -> list[Path]:
    """The files that make up the input: the file itself, or a folder's parquet parts in name order.

    Names starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc`` files, manifests) are not data,
    as for Spark and pyarrow.dataset.
    """
    if not path.exists():
        raise DatasetError(f"batch input {path} does not exist")
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*.parquet")
        if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise DatasetError(f"batch input folder {path} holds no parquet files")
    return files


@dataclass(frozen=True)
class InputColumns:
    """Column names in file order and, for parquet, their Arrow types (CSV types are set at read)."""

    names: list[str]
    types: dict[str, pa.DataType]


def read_columns(path: Path) -> InputColumns:
    """The input's columns from the parquet footer or the CSV header; no data is read."""
    if input_format(path) == "csv":
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", newline="") as f:
            header = next(csv.reader(f), None)
        if not header:
            raise DatasetError(f"batch input {path} has no header row")
        return InputColumns(names=list(header), types={})
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(data_files(path)[0])
    except OSError as exc:  # pyarrow raises ArrowInvalid (an OSError subclass) for non-parquet files
        raise DatasetError(f"batch input {path} is not readable as parquet: {exc}") from None
    return InputColumns(names=list(schema.names), types={f.name: f.type for f in schema})


def check_columns(
    columns: InputColumns,
    serving_schema: dict[str, str],
    *,
    path: Path,
    id_column: str | None,
    partition_by: str | None,
    reserved: Iterable[str],
) -> None:
    """Fail with one DatasetError naming every problem: missing features, wrong types, bad options."""
    import pyarrow as pa

    present = set(columns.names)
    problems: list[str] = []
    missing = [c for c in serving_schema if c not in present]
    if missing:
        problems.append(f"missing feature columns {missing}")
    for option, name in (("id column", id_column), ("partition column", partition_by)):
        if name and name not in present:
            problems.append(f"{option} {name!r} is not in the input")
    clashing = [c for c in reserved if c in present]
    if clashing:
        problems.append(f"columns {clashing} clash with the output's score column")
    wrong: list[str] = []
    for name, kind in serving_schema.items():
        arrow_type = columns.types.get(name)
        if arrow_type is None:
            continue  # missing (reported above) or CSV (typed at read)
        if isinstance(arrow_type, pa.DictionaryType):
            arrow_type = arrow_type.value_type
        is_number = (
            pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
        )
        is_string = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
        if (kind == "number" and not is_number) or (kind == "string" and not is_string):
            wrong.append(f"{name} ({kind} expected, got {arrow_type})")
    if wrong:
        problems.append(f"wrong column types: {', '.join(wrong)}")
    if problems:
        raise DatasetError(f"batch input {path}: {'; '.join(problems)}")


def csv_column_types(names: list[str], serving_schema: dict[str, str]) -> dict[str, pa.DataType]:
    """Number features as float64, everything else as string: no per-block type guessing.

    Inference per block could type a column differently from one chunk to the next; fixed
    types give every engine the same values.
    """
    import pyarrow as pa

    return {n: pa.float64() if serving_schema.get(n) == "number" else pa.string() for n in names}


def iter_chunks(
    path: Path, columns: list[str], chunk_rows: int, csv_types: dict[str, pa.DataType] | None = None
) -> Iterator[pa.Table]:
    """The input as tables of exactly ``chunk_rows`` rows (the last may be shorter).

    Memory is bounded by one parquet row group (or one CSV block) plus one chunk: the input
    is never loaded whole.
    """
    return _rechunk(_batches(path, columns, chunk_rows, csv_types or {}), chunk_rows)


def _batches(
    path: Path, columns: list[str], chunk_rows: int, csv_types: dict[str, pa.DataType]
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    try:
        if input_format(path) == "csv":
            from pyarrow import csv as pacsv

            reader = pacsv.open_csv(
                path,
                # Empty fields are nulls, as Spark's CSV reader has them.
                convert_options=pacsv.ConvertOptions(
                    column_types=csv_types, include_columns=columns, strings_can_be_null=True
                ),
            )
            yield from reader
            return
        import pyarrow.parquet as pq

        for file in data_files(path):
            yield from pq.ParquetFile(file).iter_batches(batch_size=chunk_rows, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"batch input {path}: {exc}") from None


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


def content_hash(path: Path) -> str:
    """``sha256:<hex>`` of the input's bytes (for a folder: each data file's relative path and bytes)."""
    h = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for file in data_files(path):
        if path.is_dir():
            h.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return f"sha256:{h.hexdigest()}"
