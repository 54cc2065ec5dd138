"""Batch input files: where they are (a local path or an ``s3://`` URI), their format, schema
(read from metadata only), the serving-schema check, bounded chunked reading and a content hash.

An input is opened once as a :class:`BatchInput` (:func:`open_input`): its data files and the
pyarrow filesystem that reads them. Every reader below goes through that filesystem, so a local
file and an object in the platform's object store are read by the same code, chunk by chunk:
parquet row groups are fetched with ranged reads, CSV blocks are streamed, and neither is held
whole in memory or copied to disk (an engine that cannot read the store, Spark, gets a staged
copy: :func:`serving.batch.remote.stage_input`).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlops.delimited import (
    PLAIN_CSV,
    CsvFormat,
    delimiter_of,
    first_line,
    not_in_dataset_encoding,
    undecodable_at,
)
from mlops.errors import DatasetError, ObjectStoreError
from mlops.object_store import ObjectStore, is_uri, split_uri

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow import fs

InputFormat = Literal["parquet", "csv"]
CSV_SUFFIXES = (".csv", ".csv.gz")


def input_format(path: Path | str) -> InputFormat:
    """CSV by suffix; anything else (a parquet file or a folder of parquet parts) is parquet."""
    name = path.name if isinstance(path, Path) else path.rstrip("/").rpartition("/")[2]
    return "csv" if name.lower().endswith(CSV_SUFFIXES) else "parquet"


def _is_data(relative: str) -> bool:
    """Names starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc`` files, manifests) are not data,
    as for Spark and pyarrow.dataset."""
    return relative.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in relative.split("/"))


def data_files(path: Path) -> list[Path]:
    """The files that make up a local input: the file itself, or a folder's parquet parts in name order."""
    if not path.exists():
        raise DatasetError(f"batch input {path} does not exist")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*.parquet") if p.is_file() and _is_data(p.relative_to(path).as_posix()))
    if not files:
        raise DatasetError(f"batch input folder {path} holds no parquet files")
    return files


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


@dataclass(frozen=True)
class BatchInput:
    """A batch input, opened: its data files and the filesystem that reads them.

    ``location`` is what the user gave (a path, or an ``s3://`` URI), used in every message and
    in the manifest. ``files`` are paths of ``filesystem`` (for the object store ``bucket/key``),
    in name order; ``root`` is the file or folder (prefix) they were found under.
    """

    location: str
    root: str
    files: tuple[str, ...]
    is_dir: bool
    filesystem: fs.FileSystem
    store: ObjectStore | None = None
    # How a CSV input writes values: the model's dataset's (:meth:`written_as`).
    written: CsvFormat = PLAIN_CSV

    def written_as(self, written: CsvFormat) -> BatchInput:
        """This input read as ``written`` (the model's dataset's ``na_values``, encoding and
        decimal mark), so a file written like the training data reads alike."""
        return replace(self, written=written)

    @property
    def null_values(self) -> tuple[str, ...]:
        """CSV fields read as missing: :data:`CSV_NULL_VALUES` and the dataset's ``na_values``."""
        return CSV_NULL_VALUES + tuple(v for v in dict.fromkeys(self.written.na_values) if v not in CSV_NULL_VALUES)

    @property
    def format(self) -> InputFormat:
        return input_format(self.location)

    @property
    def remote(self) -> bool:
        return self.store is not None

    @cached_property
    def delimiter(self) -> str:
        """A CSV input's field delimiter, told from its header line (:mod:`mlops.delimited`)."""
        if self.format != "csv":
            return ","
        return delimiter_of(self.header_line)

    @cached_property
    def header_line(self) -> str:
        """A CSV input's first line (:func:`~mlops.delimited.first_line`), read once for the delimiter and
        the column names: one read of a remote object, and no data row decoded."""
        first = self.files[0]
        try:
            with self.open_stream(first) as stream:
                return first_line(stream, self.written.encoding)
        except (OSError, UnicodeDecodeError) as exc:
            raise _read_error(self, first, exc) from None

    @property
    def local_path(self) -> Path:
        """The local file or folder (engines that cannot read the object store get a staged copy)."""
        if self.remote:
            raise ValueError(f"{self.location} is not a local path")
        return Path(self.root)

    def uri_of(self, file: str) -> str:
        """A data file as the user would name it (``s3://bucket/key``, or the local path)."""
        return f"s3://{file}" if self.remote else file

    def relative(self, file: str) -> str:
        return file[len(self.root) :].lstrip("/") if self.is_dir else file.rpartition("/")[2]

    def open_file(self, file: str) -> pa.NativeFile:
        """Random access (parquet: the footer, then only the wanted column chunks)."""
        return self.filesystem.open_input_file(file)

    def open_stream(self, file: str) -> pa.NativeFile:
        """Sequential, decompressed by suffix (``.csv.gz``)."""
        return self.filesystem.open_input_stream(file)

    def store_error(self, file: str, exc: BaseException) -> ObjectStoreError:
        store = self.store or ObjectStore()
        return ObjectStoreError(f"batch input {store.error(self.uri_of(file), exc)}")


def open_input(location: Path | str, store: ObjectStore | None = None) -> BatchInput:
    """Find the input's data files: a local file or folder, or an ``s3://`` object or prefix.

    A missing local path or a folder without parquet parts is a :class:`DatasetError`; a missing
    object, a refused key or a store that does not answer is an :class:`ObjectStoreError` naming
    the URI (``store`` holds the platform's ``object_store`` config and secret resolver).
    """
    from pyarrow import fs

    if not is_uri(location):
        path = Path(location).resolve()
        files = data_files(path)
        return BatchInput(
            location=str(path),
            root=str(path),
            files=tuple(str(f) for f in files),
            is_dir=path.is_dir(),
            filesystem=fs.LocalFileSystem(),
        )
    uri = str(location).rstrip("/")
    store = store or ObjectStore()
    try:
        bucket, key = split_uri(uri)
    except ValueError as exc:
        raise DatasetError(f"batch input: {exc}") from None
    root = f"{bucket}/{key}"
    try:
        filesystem = store.filesystem()
        info = filesystem.get_file_info(root)
        if info.type == fs.FileType.File:
            return BatchInput(uri, root, (root,), False, filesystem, store)
        if info.type == fs.FileType.NotFound:
            missing = "object" if filesystem.get_file_info(bucket).type == fs.FileType.Directory else "bucket"
            raise ObjectStoreError(f"batch input {uri}: no such {missing}")
        listed = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    except OSError as exc:
        raise ObjectStoreError(f"batch input {store.error(uri, exc)}") from None
    found = sorted(i.path for i in listed if i.type == fs.FileType.File and _is_data(i.path[len(root) :].lstrip("/")))
    if not found:
        raise DatasetError(f"batch input folder {uri} holds no parquet files")
    return BatchInput(uri, root, tuple(found), True, filesystem, store)


def _as_input(source: BatchInput | Path) -> BatchInput:
    return source if isinstance(source, BatchInput) else open_input(source)


@dataclass(frozen=True)
class InputColumns:
    """Column names in file order and, for parquet, their Arrow types (CSV types are set at read)."""

    names: list[str]
    types: dict[str, pa.DataType]


def read_columns(source: BatchInput | Path) -> InputColumns:
    """The input's columns from the parquet footer or the CSV header; no data is read."""
    source = _as_input(source)
    first = source.files[0]
    if source.format == "csv":
        header = next(csv.reader([source.header_line], delimiter=source.delimiter), None)
        if not header:
            raise DatasetError(f"batch input {source.location} has no header row")
        return InputColumns(names=list(header), types={})
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with source.open_file(first) as f:
            schema = pq.read_schema(f)
    except (OSError, pa.ArrowInvalid) as exc:
        raise _read_error(source, first, exc, "is not readable as parquet") from None
    return InputColumns(names=list(schema.names), types={f.name: f.type for f in schema})


def _read_error(
    source: BatchInput, file: str, exc: BaseException, what: str = "cannot be read"
) -> DatasetError | ObjectStoreError:
    """A file that is not what it claims is the data's fault (DatasetError); a failed request to
    the object store is the store's (ObjectStoreError naming the URI)."""
    import pyarrow as pa

    if source.remote and isinstance(exc, OSError) and not isinstance(exc, pa.ArrowInvalid):
        return source.store_error(file, exc)
    if isinstance(exc, UnicodeDecodeError):
        encoding = source.written.encoding
        try:
            with source.open_stream(file) as stream:
                at = undecodable_at(stream, encoding)
        except OSError:
            at = None
        return DatasetError(f"batch input {source.location} {not_in_dataset_encoding(encoding, at)}")
    return DatasetError(f"batch input {source.location} {what}: {exc}")


def check_columns(
    columns: InputColumns,
    serving_schema: dict[str, str],
    *,
    path: Path | str,
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
    # Features are read, not written (unless they are the id or the partition column): a feature
    # named "score" (a credit score) does not meet the output's score column.
    written = [c for c in present if c not in serving_schema or c in (id_column, partition_by)]
    clashing = [c for c in reserved if c in written]
    if clashing:
        problems.append(
            f"columns {clashing} would be written beside the output's score column: rename or drop them in the input"
        )
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


# Plain decimal integers: no sign but "-", no leading zeros ("007" is a code, not a number).
_INT_PATTERN = r"^-?(0|[1-9][0-9]{0,18})$"


def _float_pattern(decimal: str) -> str:
    """Decimals with a fraction and/or an exponent, as pandas, Spark and most tools write them,
    with ``decimal`` as the mark (``1,5`` for a dataset that declares ``decimal: ","``)."""
    mark = "\\" + decimal if decimal == "." else decimal
    return rf"^-?([0-9]+{mark}[0-9]*|{mark}[0-9]+)([eE][-+]?[0-9]+)?$|^-?[0-9]+[eE][-+]?[0-9]+$"


def csv_column_types(
    path: BatchInput | Path, names: list[str], serving_schema: dict[str, str], passthrough: Iterable[str]
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


def classify_csv_columns(path: BatchInput | Path, columns: list[str]) -> dict[str, pa.DataType]:
    """int64, float64 or string for each of ``columns``, from every value in the file.

    Chosen over a sample or pyarrow's per-block inference so that a column that looks integer
    for a million rows and holds "3.5" (or an empty field) later is typed once, correctly.
    pyarrow's streaming reader reads only ``columns``, as text, one block at a time (memory:
    one block); each block is classified with vectorised regular expressions.

    Fields in the input's ``null_values`` are missing and do not vote. A column is int64 when every
    other value is a plain integer that fits in int64, float64 when every value is an integer
    or a decimal, string otherwise: text, booleans (kept as written), codes with leading zeros
    and integers too long for int64 (identifiers) stay text. A column with no value is string.
    Both engines parse the chosen number formats to the same values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not columns:
        return {}
    source = _as_input(path)
    float_pattern = _float_pattern(source.written.decimal)
    ints = dict.fromkeys(columns, True)
    numbers = dict.fromkeys(columns, True)
    seen = dict.fromkeys(columns, False)
    for batch in _csv_batches(source, columns, dict.fromkeys(columns, pa.string())):
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
                is_float = pc.match_substring_regex(values, float_pattern)
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
    path: BatchInput | Path, columns: list[str], chunk_rows: int, csv_types: dict[str, pa.DataType] | None = None
) -> Generator[pa.Table, None, None]:
    """The input as tables of exactly ``chunk_rows`` rows (the last may be shorter).

    Memory is bounded by one parquet row group (or one CSV block) plus one chunk: the input
    is never loaded whole.
    """
    return _rechunk(_batches(_as_input(path), columns, chunk_rows, csv_types or {}), chunk_rows)


def _batches(
    source: BatchInput, columns: list[str], chunk_rows: int, csv_types: dict[str, pa.DataType]
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if source.format == "csv":
        yield from _csv_batches(source, columns, csv_types)
        return
    for file in source.files:
        try:
            with source.open_file(file) as f:
                # Remote reads coalesce each row group's column chunks into few ranged requests.
                reader = pq.ParquetFile(f, pre_buffer=source.remote)
                yield from reader.iter_batches(batch_size=chunk_rows, columns=columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(f"batch input {source.location}: {exc}") from None
        except OSError as exc:
            raise _read_error(source, file, exc) from None


def _csv_batches(
    path: BatchInput | Path, columns: list[str], types: dict[str, pa.DataType]
) -> Iterator[pa.RecordBatch]:
    """The CSV's ``columns`` block by block, typed with ``types``; missing fields as null."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    source = _as_input(path)
    file = source.files[0]
    try:
        with source.open_stream(file) as stream:
            yield from pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(encoding=source.written.encoding),
                parse_options=pacsv.ParseOptions(delimiter=source.delimiter),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=columns,
                    null_values=list(source.null_values),
                    strings_can_be_null=True,
                    decimal_point=source.written.decimal,
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"batch input {source.location}: {exc}") from None
    except OSError as exc:
        raise _read_error(source, file, exc) from None


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Generator[pa.Table, None, None]:
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


def content_hash(path: BatchInput | Path) -> str:
    """``sha256:<hex>`` of a local input's bytes (for a folder: each data file's relative path
    and bytes); for an object-store input, see :func:`object_hash`."""
    source = _as_input(path)
    if source.remote:
        return object_hash(source)
    h = hashlib.sha256()
    for file in source.files:
        if source.is_dir:
            h.update(source.relative(file).encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return f"sha256:{h.hexdigest()}"


def object_hash(source: BatchInput) -> str:
    """``s3-etag:sha256:<hex>`` over each object's relative key, size and ETag, from the store's
    metadata (one HEAD request per object).

    Hashing the bytes would download the input a second time (the embedded engine reads only
    the columns it needs, by ranges). The ETag is the store's fingerprint of the object's
    content: it changes whenever the object is rewritten, though the same bytes uploaded in
    another way (multipart or not) can get another ETag. Engines that stage the input locally
    hash it while downloading and record ``sha256:`` as for a local file.
    """
    h = hashlib.sha256()
    for file in source.files:
        try:
            with source.open_file(file) as f:
                meta = f.metadata()
                size = f.size()
        except OSError as exc:
            raise source.store_error(file, exc) from None
        etag = meta.get("ETag", b"").decode().strip('"')
        h.update(f"{source.relative(file)}\0{size}\0{etag}\n".encode())
    return f"s3-etag:sha256:{h.hexdigest()}"
