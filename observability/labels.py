"""Ground-truth labels: imported from a file, stored per model, joined to logged predictions.

    mlops monitor labels --file outcomes.csv --model credit_risk --entity-column applicant_id
                         --label-column defaulted
        ─▶ checked (columns exist, every row has an id and a binary label; duplicated ids: the
           last row wins, and the import says how many)
        ─▶ <state>/labels/model=<name>/labels-<UTC time>-<id>.parquet   (entity_id, label, imported_at, source)

A CSV's fields are split at the delimiter its header tells (``,``, ``;``, tab or ``|``), and it
is read in the encoding given (UTF-8 by default): an export from a spreadsheet or a business
system imports as it was saved.

Each import adds a file; reading them back, a later import's label for an entity replaces an
earlier one (outcomes get corrected). Entity ids are stored as text, the form the prediction
log writes them in, so an id read as ``42`` from a CSV and logged as ``"42"`` still match.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple, cast

from mlops.delimited import (
    codec_name,
    delimiter_of,
    first_line,
    name_the_encoding,
    shown_encoding,
    undecodable,
    undecodable_at,
)
from mlops.errors import LabelsError, MonitoringError
from observability.prediction_log import check_model_name, resolve_filesystem, write_parquet_atomically

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.fs as pafs

ENTITY_COLUMN = "entity_id"
LABEL_COLUMN = "label"
IMPORTED_AT_COLUMN = "imported_at"
SOURCE_COLUMN = "source"
# The label values understood without naming the positive one (after trimming, any case).
_POSITIVE = {"1", "1.0", "true"}
_NEGATIVE = {"0", "0.0", "false"}
# How many offending rows or values an error names.
_SHOWN = 5


@dataclass(frozen=True)
class LabelImport:
    """What one import stored."""

    model: str
    source: str
    path: str
    rows: int
    positives: int
    # Rows left out because a later row of the file had the same entity id.
    duplicates: int
    duplicated_ids: int


def labels_root(state_dir: Path) -> Path:
    """``<state>/labels``."""
    return state_dir / "labels"


def _token(value: Any) -> str:
    """A label or an id as comparable text: ``1``, ``1.0``, ``True`` and ``" 1 "`` agree where they should."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _token(value.item())
    return str(value).strip()


def entity_keys(values: pd.Series) -> pd.Series:
    """Entity ids as text (None where missing), as labels and the prediction log store them.

    Whole numbers lose a float's ``.0`` (a CSV column with gaps reads as float), text is trimmed.
    """
    import pandas as pd

    return values.map(lambda v: None if pd.isna(v) else _token(v)).astype(object)


def _shown(items: Iterable[Any]) -> str:
    items = list(items)
    more = f" (and {len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(str(i) for i in items[:_SHOWN]) + more


def _read(path: Path, columns: list[str], encoding: str) -> pd.DataFrame:
    """The wanted columns of a CSV (as text) or parquet file; errors name the file and column."""
    import pandas as pd

    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        kind = "csv"
    elif name.endswith((".parquet", ".pq")):
        kind = "parquet"
    else:
        raise LabelsError(path, "", "a .csv or .parquet file")
    if not path.is_file():
        raise LabelsError(path, "", "an existing file")
    sep = ","
    try:
        if kind == "csv":
            with _open(path) as raw:
                sep = delimiter_of(first_line(raw, encoding))
            # As text: ids keep their form (no 42 -> 42.0 when a row has none), labels are parsed here.
            names = list(pd.read_csv(path, nrows=0, sep=sep, encoding=encoding).columns)
        else:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
    except pd.errors.EmptyDataError:
        raise LabelsError(path, "", "a CSV file with a header row") from None
    except UnicodeDecodeError:
        raise _undecodable(path, encoding) from None
    except (OSError, ValueError, EOFError) as exc:  # ArrowInvalid, ParserError, gzip's errors
        raise LabelsError(path, "", f"a readable {kind} file ({str(exc)[:200]})") from None
    for column in columns:
        if column not in names:
            raise LabelsError(path, column, f"no such column; the file has {_shown(names)}")
    try:
        if kind == "csv":
            return pd.read_csv(
                path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""], sep=sep, encoding=encoding
            )
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=columns).to_pandas()
    except UnicodeDecodeError:
        raise _undecodable(path, encoding) from None
    except (OSError, ValueError, EOFError) as exc:
        raise LabelsError(path, "", f"a readable {kind} file ({str(exc)[:200]})") from None


def _open(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is a ``.gz``."""
    import gzip

    return cast("BinaryIO", gzip.open(path, "rb")) if path.name.lower().endswith(".gz") else path.open("rb")


def _undecodable(path: Path, encoding: str) -> LabelsError:
    """The file is not text in ``encoding``: where, and what to do."""
    try:
        with _open(path) as raw:
            at = undecodable_at(raw, encoding)
    except (OSError, EOFError):
        at = None
    return LabelsError(
        path,
        "",
        f"{shown_encoding(encoding)} text, but it is {undecodable(encoding, at)}: " + name_the_encoding("--encoding"),
    )


def _missing(path: Path, column: str, values: pd.Series, what: str) -> None:
    empty = values.isna() | (values.map(lambda v: isinstance(v, str) and not v.strip()))
    if empty.any():
        rows = [i + 1 for i in values.index[empty.to_numpy()]]
        raise LabelsError(path, column, f"{what} on every row; {len(rows)} data rows have none (rows {_shown(rows)})")


def _binary(path: Path, column: str, values: pd.Series, positive_label: str | None) -> pd.Series:
    """1 for the positive label, 0 for the other; anything else is a LabelsError naming the values."""
    # Text labels compare ignoring case: "Yes" and "yes" are one label.
    tokens = values.map(lambda v: _token(v).casefold())
    distinct = sorted(set(tokens))
    if positive_label is None:
        unknown = [t for t in distinct if t not in _POSITIVE | _NEGATIVE]
        if unknown:
            raise LabelsError(
                path,
                column,
                f"binary labels 0/1 or true/false, found {_shown(map(repr, unknown))}; "
                "name the positive label (--positive-label) to import other values",
            )
        return tokens.map(lambda t: int(t in _POSITIVE)).astype("int8")
    positive = _token(positive_label).casefold()
    if len(distinct) > 2:
        raise LabelsError(
            path, column, f"binary labels (two values), found {len(distinct)}: {_shown(map(repr, distinct))}"
        )
    if positive not in distinct and len(distinct) == 2:
        raise LabelsError(
            path, column, f"the positive label {positive!r} among the values, found {_shown(map(repr, distinct))}"
        )
    return (tokens == positive).astype("int8")


class LabelFile(NamedTuple):
    """The checked labels of one file."""

    # One row per entity: entity_id (text), label (0/1).
    frame: pd.DataFrame
    # Rows left out because a later row had the same entity id, and how many ids that concerns.
    duplicate_rows: int
    duplicated_ids: int


def load_label_file(
    path: Path,
    *,
    entity_column: str,
    label_column: str,
    positive_label: str | None = None,
    encoding: str = "utf-8",
) -> LabelFile:
    """The checked labels of ``path``: ``(entity_id, label)`` rows, one per entity.

    Every row needs an entity id and a label. Labels are 0/1 or true/false (any case), or any
    two values when ``positive_label`` names the one encoded as 1. An entity id given on several
    rows keeps its last row. ``encoding``: a CSV's text encoding (any codec Python knows; a UTF-8
    file may start with a byte-order mark). Raises :class:`~mlops.errors.LabelsError` naming the
    file and column.
    """
    import pandas as pd

    path = Path(path)
    if entity_column == label_column:
        raise LabelsError(path, label_column, "a label column other than the entity column")
    try:
        encoding = codec_name(encoding)
    except LookupError:
        expected = f"an encoding Python knows as text, not {encoding!r} (utf-8, cp1252, ...)"
        raise LabelsError(path, "", expected) from None
    raw = _read(path, [entity_column, label_column], encoding).reset_index(drop=True)
    if raw.empty:
        raise LabelsError(path, "", "at least one labelled row")
    _missing(path, entity_column, raw[entity_column], "an entity id")
    _missing(path, label_column, raw[label_column], "a label")
    frame = pd.DataFrame(
        {
            ENTITY_COLUMN: entity_keys(raw[entity_column]),
            LABEL_COLUMN: _binary(path, label_column, raw[label_column], positive_label),
        }
    )
    repeated = frame[ENTITY_COLUMN].duplicated(keep=False)
    unique = frame.drop_duplicates(ENTITY_COLUMN, keep="last").reset_index(drop=True)
    return LabelFile(unique, len(frame) - len(unique), int(frame.loc[repeated, ENTITY_COLUMN].nunique()))


def import_labels(
    path: Path,
    root: str | Path,
    model: str,
    *,
    entity_column: str,
    label_column: str,
    positive_label: str | None = None,
    encoding: str = "utf-8",
    now: datetime | None = None,
    filesystem: pafs.FileSystem | None = None,
) -> LabelImport:
    """Check the labels of ``path`` (see :func:`load_label_file`) and store them for ``model`` under ``root``."""
    import pyarrow as pa

    try:
        check_model_name(model)
    except ValueError as exc:
        raise MonitoringError(str(exc)) from None
    path = Path(path)
    loaded = load_label_file(
        path, entity_column=entity_column, label_column=label_column, positive_label=positive_label, encoding=encoding
    )
    frame = loaded.frame
    when = datetime.now(UTC) if now is None else now if now.tzinfo else now.replace(tzinfo=UTC)
    table = pa.table(
        {
            ENTITY_COLUMN: pa.array(frame[ENTITY_COLUMN].tolist(), pa.string()),
            LABEL_COLUMN: pa.array(frame[LABEL_COLUMN].to_numpy(), pa.int8()),
            IMPORTED_AT_COLUMN: pa.array([when] * len(frame), pa.timestamp("us", tz="UTC")),
            SOURCE_COLUMN: pa.array([path.name] * len(frame), pa.string()),
        }
    )
    fs, base = resolve_filesystem(root, filesystem)
    name = f"labels-{when.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.parquet"
    written = write_parquet_atomically(table, fs, f"{base}/model={model}", name)
    return LabelImport(
        model=model,
        source=str(path),
        path=written,
        rows=len(frame),
        positives=int(frame[LABEL_COLUMN].sum()),
        duplicates=loaded.duplicate_rows,
        duplicated_ids=loaded.duplicated_ids,
    )


def _empty_labels() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            ENTITY_COLUMN: pd.Series([], dtype=object),
            LABEL_COLUMN: pd.Series([], dtype="int8"),
            IMPORTED_AT_COLUMN: pd.Series([], dtype="datetime64[us, UTC]"),
            SOURCE_COLUMN: pd.Series([], dtype=object),
        }
    )


def read_labels(root: str | Path, model: str, *, filesystem: pafs.FileSystem | None = None) -> pd.DataFrame:
    """Every imported label of ``model``, one per entity (the latest import wins); empty when none."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    fs, base = resolve_filesystem(root, filesystem)
    folder = f"{base}/model={model}"
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return _empty_labels()
    table = ds.dataset(folder, filesystem=fs, format="parquet").to_table()
    if table.num_rows == 0:
        return _empty_labels()
    frame = table.to_pandas()
    frame = frame.sort_values(IMPORTED_AT_COLUMN, kind="stable")
    return frame.drop_duplicates(ENTITY_COLUMN, keep="last").reset_index(drop=True)


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    entity_column: str,
    *,
    how: Literal["inner", "left"] = "inner",
) -> pd.DataFrame:
    """``predictions`` with the ``label`` of their entity (``predictions[entity_column]``).

    ``inner``: only the labelled predictions; ``left``: every prediction, ``label`` missing where
    none is known yet. Every prediction of an entity gets its label. ``labels`` as
    :func:`read_labels` returns them; an entity given twice keeps its last label.
    """
    if entity_column not in predictions.columns:
        raise MonitoringError(
            f"the predictions have no column {entity_column!r} to join labels on "
            f"(columns: {_shown(predictions.columns)}); the prediction log writes entity ids under "
            "the entity column it was given"
        )
    for column in (ENTITY_COLUMN, LABEL_COLUMN):
        if column not in labels.columns:
            raise MonitoringError(f"the labels have no column {column!r} (columns: {_shown(labels.columns)})")
    if LABEL_COLUMN in predictions.columns:
        raise MonitoringError(f"the predictions already have a column {LABEL_COLUMN!r}; rename it before joining")
    key = "__entity_key"
    known = labels.drop_duplicates(ENTITY_COLUMN, keep="last")
    right = known[[ENTITY_COLUMN, LABEL_COLUMN]].rename(columns={ENTITY_COLUMN: key})
    right[key] = entity_keys(right[key])
    left = predictions.assign(**{key: entity_keys(predictions[entity_column])})
    joined = left.merge(right, on=key, how=how, validate="many_to_one", sort=False)
    if how == "left":
        joined[LABEL_COLUMN] = joined[LABEL_COLUMN].astype("Int8")
    return joined.drop(columns=key).reset_index(drop=True)


__all__ = [
    "ENTITY_COLUMN",
    "IMPORTED_AT_COLUMN",
    "LABEL_COLUMN",
    "SOURCE_COLUMN",
    "LabelFile",
    "LabelImport",
    "entity_keys",
    "import_labels",
    "join_labels",
    "labels_root",
    "load_label_file",
    "read_labels",
]
