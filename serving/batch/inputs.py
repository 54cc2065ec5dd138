"""Batch input files: format, schema (read from metadata only), the serving-schema check,
bounded chunked reading and a content hash."""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator
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
    pii: Collection[str] = (),
) -> None:
    """Fail with one DatasetError naming every problem: missing features, wrong types, bad options.

    An id or partition column among the declared ``pii`` columns is a problem too: score files
    never carry personal data, so such a column could not be written.
    """
    import pyarrow as pa

    present = set(columns.names)
    problems: list[str] = []
    missing = [c for c in serving_schema if c not in present]
    if missing:
        problems.append(f"missing feature columns {missing}")
    is_pii = pii_matcher(pii)
    for option, name, hint in (
        ("id column", id_column, "use a non-PII id such as a surrogate key"),
        ("partition column", partition_by, "partition by a non-PII column"),
    ):
        if name and name not in present:
            problems.append(f"{option} {name!r} is not in the input")
        elif name and is_pii(name):
            problems.append(
                f"{option} {name!r} is declared personal data (PII) and will not be copied into score files; {hint}"
            )
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


def pii_matcher(pii: Collection[str]) -> Callable[[str], bool]:
    """Whether a column name is declared PII; case-insensitive, so ``Email`` is ``email``.

    Declarations and file headers are often written by different people; over-matching only
    drops a column, under-matching would leak one.
    """
    declared = {name.casefold() for name in pii}
    return lambda name: name.casefold() in declared


# What a CSV field means as missing, for both engines: pyarrow's defaults (pandas' too), written
# out so the Spark engine can apply exactly the same list.
CSV_NULL_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)
# Plain decimal integers: no sign but "-", no leading zeros ("007" is a code, not a number).
_INT_PATTERN = r"^-?(0|[1-9][0-9]{0,18})$"
# Decimals with a fraction and/or an exponent, as pandas, Spark and most tools write them.
_FLOAT_PATTERN = r"^-?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^-?[0-9]+[eE][-+]?[0-9]+$"


def csv_column_types(
    path: Path, names: list[str], serving_schema: dict[str, str], passthrough: Iterable[str]
) -> dict[str, pa.DataType]:
    """The Arrow type of every CSV column an engine reads, decided once for the whole file.

    Features keep the serving schema's typing: number features float64, string features
    string. Each ``passthrough`` column is typed from all of its values by
    :func:`classify_csv_columns` (one extra streaming pass over the file). Types inferred per
    block could differ from one chunk (or engine) to the next; fixed types give every engine
    the same values. Columns in neither group (declared PII, unused) are not read.
    """
    import pyarrow as pa

    wanted = set(passthrough) - set(serving_schema)
    types = {n: pa.float64() if serving_schema[n] == "number" else pa.string() for n in names if n in serving_schema}
    types.update(classify_csv_columns(path, [n for n in names if n in wanted]))
    return types


def classify_csv_columns(path: Path, columns: list[str]) -> dict[str, pa.DataType]:
    """int64, float64 or string for each of ``columns``, from every value in the file.

    Chosen over a sample or pyarrow's per-block inference so that a column that looks integer
    for a million rows and holds "3.5" (or an empty field) later is typed once, correctly.
    pyarrow's streaming reader reads only ``columns``, as text, one block at a time (memory:
    one block); each block is classified with vectorised regular expressions.

    Fields in :data:`CSV_NULL_VALUES` are missing and do not vote. A column is int64 when every
    other value is a plain integer that fits in int64, float64 when every value is an integer
    or a decimal, string otherwise: text, booleans (kept as written), codes with leading zeros
    and integers too long for int64 (identifiers) stay text. A column with no value is string.
    Both engines parse the chosen number formats to the same values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not columns:
        return {}
    ints = dict.fromkeys(columns, True)
    numbers = dict.fromkeys(columns, True)
    seen = dict.fromkeys(columns, False)
    for batch in _csv_batches(path, columns, dict.fromkeys(columns, pa.string())):
        for name in columns:
            if not numbers[name]:
                continue
            values = batch.column(name).drop_null()
            if not len(values):
                continue
            seen[name] = True
            is_int = pc.match_substring_regex(values, _INT_PATTERN)
            try:
                # 19 digits can still overflow int64; such integers are identifiers, kept as text.
                pc.cast(values.filter(is_int), pa.int64())
            except pa.ArrowInvalid:
                numbers[name] = ints[name] = False
                continue
            if not pc.all(is_int).as_py():
                ints[name] = False
                is_float = pc.match_substring_regex(values, _FLOAT_PATTERN)
                numbers[name] = bool(pc.all(pc.or_(is_int, is_float)).as_py())
        if not any(numbers.values()):
            break  # every column is text: no need to read on
    types: dict[str, pa.DataType] = {}
    for name in columns:
        if not (seen[name] and numbers[name]):
            types[name] = pa.string()
        else:
            types[name] = pa.int64() if ints[name] else pa.float64()
    return types


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

    if input_format(path) == "csv":
        yield from _csv_batches(path, columns, csv_types)
        return
    try:
        import pyarrow.parquet as pq

        for file in data_files(path):
            yield from pq.ParquetFile(file).iter_batches(batch_size=chunk_rows, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"batch input {path}: {exc}") from None


def _csv_batches(path: Path, columns: list[str], types: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
    """The CSV's ``columns`` block by block, typed with ``types``; missing fields as null."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    try:
        yield from pacsv.open_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=columns,
                null_values=list(CSV_NULL_VALUES),
                strings_can_be_null=True,
            ),
        )
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
