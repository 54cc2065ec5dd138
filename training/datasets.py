"""Reading a dataset as its config describes it (ingest), its content hash, and column roles.

Any user's file comes through here, so nothing assumes the bundled sample's shape: ids and
event times may be absent (generated, and remembered as generated), the target may carry any
two labels, sensitive attributes may be numeric (grouped into bins), and columns that would
only add noise or cost as features (per-row identifiers, codes, free text with a value per
row, empty columns) are left out with the reason named.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlops.config import DatasetConfig
from mlops.delimited import delimiter_of, name_the_encoding, undecodable, undecodable_at
from mlops.errors import DatasetError, ObjectStoreError
from mlops.hashing import frame_hash
from mlops.object_store import ObjectStore
from mlops.roles import Label, Roles, group_labels_of

GENERATED_ID = "row_id"
GENERATED_TS = "ingested_at"
# Default number of quantile groups for a numeric sensitive attribute without `bins:`.
DEFAULT_QUANTILE_BINS = 4
# A numeric sensitive attribute with at most this many distinct values is grouped by value.
MAX_VALUE_GROUPS = 10
# Identifier heuristics: at least this many values before "unique per row" means anything.
_MIN_ROWS_FOR_UNIQUENESS = 20
_NEAR_UNIQUE = 0.9
_CODE_SHARE = 0.9
_CODE_DISTINCT = 0.5
_CODE_RE = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9._@+\-/:#]{5,}$|^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_TRUE_WORDS = {"true", "yes", "y", "1"}
_FALSE_WORDS = {"false", "no", "n", "0"}


def ensure_synthetic(cfg: DatasetConfig, store: ObjectStore | None = None) -> bool:
    """Generate the dataset file when the config asks for a synthetic one and it is missing
    (an ``s3://`` path is written through ``store``)."""
    if cfg.synthetic is None or dataset_exists(cfg, store):
        return False
    from training.sample_data import generate_credit_risk, write_sample

    if isinstance(cfg.path, Path):
        write_sample(cfg.path, rows=cfg.synthetic.rows, seed=cfg.synthetic.seed)
        return True
    df = generate_credit_risk(cfg.synthetic.rows, cfg.synthetic.seed)
    filesystem, key = _remote(cfg, store)
    try:
        with filesystem.open_output_stream(key) as out:
            if cfg.file_format == "csv":
                out.write(df.to_csv(index=False).encode())
            else:
                df.to_parquet(out, index=False)
    except OSError as exc:
        raise _store_error(cfg, store, exc) from None
    return True


def _remote(cfg: DatasetConfig, store: ObjectStore | None) -> tuple[Any, str]:
    """The pyarrow filesystem and ``bucket/key`` of an ``s3://`` dataset."""
    from mlops.object_store import split_uri

    bucket, key = split_uri(str(cfg.path))
    return (store or ObjectStore()).filesystem(), f"{bucket}/{key}"


def _store_error(cfg: DatasetConfig, store: ObjectStore | None, exc: BaseException) -> ObjectStoreError:
    return ObjectStoreError(f"dataset {cfg.name!r} (key `path`): {(store or ObjectStore()).error(str(cfg.path), exc)}")


def dataset_exists(cfg: DatasetConfig, store: ObjectStore | None = None) -> bool:
    """Whether the file (or object) at ``path`` exists; a store that cannot answer raises
    :class:`~mlops.errors.ObjectStoreError` naming the URI."""
    if isinstance(cfg.path, Path):
        return cfg.path.exists()
    from pyarrow import fs

    filesystem, key = _remote(cfg, store)
    try:
        return bool(filesystem.get_file_info(key).type == fs.FileType.File)
    except OSError as exc:
        raise _store_error(cfg, store, exc) from None


def csv_delimiter(cfg: DatasetConfig, store: ObjectStore | None = None) -> str:
    """The dataset CSV's field delimiter: the config's, else told from the file's header line.
    Parser errors propagate for :func:`_unreadable`."""
    if cfg.delimiter is not None:
        return cfg.delimiter
    # The first line as it is written: one field (a separator no header holds), quotes kept.
    first: dict[str, Any] = {"header": None, "nrows": 1, "sep": "\x1f", "quoting": csv.QUOTE_NONE, "dtype": str}
    if isinstance(cfg.path, Path):
        line = pd.read_csv(cfg.path, keep_default_na=False, encoding=cfg.encoding, **first)
    else:
        filesystem, key = _remote(cfg, store)
        with filesystem.open_input_stream(key) as stream:
            line = pd.read_csv(stream, keep_default_na=False, encoding=cfg.encoding, **first)
    sep = delimiter_of(str(line.iloc[0, 0])) if line.size else ","
    if sep == cfg.decimal:
        raise DatasetError(
            f"dataset {cfg.name!r} (key `decimal`): {cfg.path} splits its fields at {sep!r}, its decimal mark: "
            'name the delimiter it uses (`delimiter: ";"`)'
        )
    return sep


def _read_frame(cfg: DatasetConfig, store: ObjectStore | None, columns: list[str] | None = None) -> pd.DataFrame:
    """The data (or ``columns`` of it); parser errors propagate for :func:`_unreadable`."""
    if isinstance(cfg.path, Path):
        if cfg.file_format == "csv":
            return _read_csv(cfg.path, cfg, columns, csv_delimiter(cfg))
        return pd.read_parquet(cfg.path, columns=columns)
    filesystem, key = _remote(cfg, store)
    if cfg.file_format == "csv":
        sep = csv_delimiter(cfg, store)
        with filesystem.open_input_stream(key) as stream:
            return _read_csv(stream, cfg, columns, sep)
    import pyarrow.parquet as pq

    return pq.read_table(key, filesystem=filesystem, columns=columns).to_pandas()


def _read_csv(source: Any, cfg: DatasetConfig, columns: list[str] | None, sep: str) -> pd.DataFrame:
    """A CSV read as the config says it is written (``na_values`` added to pandas' defaults)."""
    na_values = cfg.na_values or None
    return pd.read_csv(
        source, usecols=columns, sep=sep, na_values=na_values, encoding=cfg.encoding, decimal=cfg.decimal
    )


def named_columns(cfg: DatasetConfig) -> dict[str, list[str]]:
    """Every column the config names, by the key that names it."""
    return {
        "target": [cfg.target],
        "entity_id": [cfg.entity_id] if cfg.entity_id else [],
        "event_timestamp": [cfg.event_timestamp] if cfg.event_timestamp else [],
        "pii": list(cfg.pii),
        "sensitive_attributes": cfg.sensitive_columns,
        "categorical": cfg.categorical or [],
        "exclude": cfg.exclude,
        "include": cfg.include,
    }


# A header is file content too: an error lists at most this many column names, each cut to
# this length (a file that is not the dataset may have a whole line as its "column").
_NAMES_SHOWN = 20
_NAME_CHARS = 40


def _cut(name: object, limit: int = _NAME_CHARS) -> str:
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(columns: list[str]) -> str:
    """Column names for an error message: bounded in count and length."""
    shown = ", ".join(_cut(c) for c in columns[:_NAMES_SHOWN])
    return shown + (f" … ({len(columns) - _NAMES_SHOWN} more)" if len(columns) > _NAMES_SHOWN else "")


def _unreadable(cfg: DatasetConfig, exc: BaseException, store: ObjectStore | None = None) -> DatasetError:
    """The file cannot be read as its format: the kind of problem, never the file's content.

    Parser messages can quote the file (the offending line, an undecodable byte), so only the
    exception's kind and line numbers are kept.
    """
    fmt = cfg.file_format
    if isinstance(exc, UnicodeDecodeError):
        return _not_in_encoding(cfg, _undecodable_at(cfg, store))
    if isinstance(exc, pd.errors.EmptyDataError):
        kind = "empty (no header line)"
    elif isinstance(exc, pd.errors.ParserError):
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        kind = "malformed CSV" + (
            f" (line {found[2]} has {found[3]} fields, the header has {found[1]})"
            if found
            else f" ({type(exc).__name__})"
        )
    elif fmt == "parquet":
        kind = f"not a parquet file, or a damaged one ({type(exc).__name__})"
    else:
        kind = f"unreadable ({type(exc).__name__})"
    return DatasetError(f"dataset {cfg.name!r} (key `path`): cannot read {cfg.path} as {fmt}: {kind}")


def _not_in_encoding(cfg: DatasetConfig, at: tuple[int, int | None] | None) -> DatasetError:
    """The file is not text in the config's encoding: where (when known), and what to do."""
    return DatasetError(
        f"dataset {cfg.name!r} (key `encoding`): {cfg.path} is {undecodable(cfg.encoding, at)}: "
        + name_the_encoding("encoding:")
    )


def _undecodable_at(cfg: DatasetConfig, store: ObjectStore | None) -> tuple[int, int | None] | None:
    """Where the dataset's encoding first fails to decode its file (None: not known)."""
    try:
        if isinstance(cfg.path, Path):
            opener: Any = gzip.open if cfg.path.name.lower().endswith(".gz") else open  # as pandas infers
            with opener(cfg.path, "rb") as f:
                return undecodable_at(f, cfg.encoding)
        filesystem, key = _remote(cfg, store)
        with filesystem.open_input_stream(key) as stream:  # decompressed by its suffix
            return undecodable_at(stream, cfg.encoding)
    except (OSError, ObjectStoreError):
        return None


def check_named_columns(cfg: DatasetConfig, columns: list[str]) -> None:
    """Every column the config names exists in the file (DatasetError naming key and columns).

    A file with none of them is not the dataset at all (a wrong ``path``): its "columns" are
    not listed, as they may be any line of any file.
    """
    present = set(columns)
    named = named_columns(cfg)
    if not any(c in present for cols in named.values() for c in cols):
        raise DatasetError(
            f"dataset {cfg.name!r} (key `path`): {cfg.path} is not the dataset the config describes: "
            f"none of the columns the config names (such as the target {_cut(cfg.target)!r}) is among the "
            f"{len(columns)} columns of its {cfg.file_format} header"
        )
    for key, wanted in named.items():
        missing = [c for c in wanted if c not in present]
        if missing:
            raise DatasetError(
                f"dataset {cfg.name!r}: {key} names columns not in {cfg.file_name}: {_names(missing)} "
                f"(columns are: {_names(columns)})"
            )


def read_dataset(cfg: DatasetConfig, store: ObjectStore | None = None) -> pd.DataFrame:
    """Read the file and check every column the config names exists (and no name repeats).

    An ``s3://`` path is read through ``store`` (the platform's ``object_store``)."""
    cfg, _ = _header(cfg, store)  # header checks (named columns, duplicates) before reading the data
    try:
        df = _read_frame(cfg, store)
    except ObjectStoreError:
        raise
    except OSError as exc:
        raise _store_error(cfg, store, exc) if cfg.remote else _unreadable(cfg, exc, store) from None
    except Exception as exc:  # parser errors differ by engine; all mean "unreadable"
        raise _unreadable(cfg, exc, store) from None
    if df.empty:
        raise DatasetError(f"dataset {cfg.name!r}: {cfg.path} has no rows")
    return df


def _refuse_duplicates(cfg: DatasetConfig, names: list[str]) -> None:
    """Repeated column names are an error: pandas would rename one (``income.1``) into a feature."""
    counts: dict[str, int] = {}
    for name in names:
        if name != "":
            counts[name] = counts.get(name, 0) + 1
    repeated = [f"{_cut(n)!r} ({k} times)" for n, k in counts.items() if k > 1]
    if repeated:
        raise DatasetError(
            f"dataset {cfg.name!r}: {cfg.path} has duplicated column names: {', '.join(repeated[:_NAMES_SHOWN])}; "
            "each column needs its own name"
        )


def file_columns(cfg: DatasetConfig, store: ObjectStore | None = None) -> list[str]:
    """The file's column names, from the parquet footer or the CSV header (no data read).

    The names as written are checked first: a repeated name is an error, never renamed.
    """
    return _header(cfg, store)[1]


def _header(cfg: DatasetConfig, store: ObjectStore | None) -> tuple[DatasetConfig, list[str]]:
    """:func:`file_columns`, and ``cfg`` with a CSV's delimiter told once, for the reads that follow."""
    ensure_synthetic(cfg, store)
    if not dataset_exists(cfg, store):
        what = "file" if isinstance(cfg.path, Path) else "object"
        raise DatasetError(f"dataset {cfg.name!r} (key `path`): {what} {cfg.path} does not exist")
    if not isinstance(cfg.path, Path):
        return _remote_columns(cfg, store)
    try:
        if cfg.file_format == "csv":
            # The header as a data row: pandas' own parser (quoting, compression), no renaming.
            sep = csv_delimiter(cfg)
            cfg = cfg.model_copy(update={"delimiter": sep})
            raw = pd.read_csv(
                cfg.path, header=None, nrows=1, dtype=str, keep_default_na=False, sep=sep, encoding=cfg.encoding
            )
            _refuse_duplicates(cfg, [str(v) for v in raw.iloc[0]] if len(raw) else [])
            columns = [str(c) for c in pd.read_csv(cfg.path, nrows=0, sep=sep, encoding=cfg.encoding).columns]
        else:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(cfg.path).names)
            _refuse_duplicates(cfg, columns)
    except DatasetError:
        raise
    except Exception as exc:  # parser errors differ by engine; all mean "unreadable"
        raise _unreadable(cfg, exc, store) from None
    check_named_columns(cfg, columns)
    return cfg, columns


def _remote_columns(cfg: DatasetConfig, store: ObjectStore | None) -> tuple[DatasetConfig, list[str]]:
    filesystem, key = _remote(cfg, store)
    try:
        if cfg.file_format == "csv":
            sep = csv_delimiter(cfg, store)
            cfg = cfg.model_copy(update={"delimiter": sep})
            with filesystem.open_input_stream(key) as stream:
                raw = pd.read_csv(
                    stream, header=None, nrows=1, dtype=str, keep_default_na=False, sep=sep, encoding=cfg.encoding
                )
            columns = [str(v) for v in raw.iloc[0]] if len(raw) else []
        else:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(key, filesystem=filesystem).names)
    except DatasetError:
        raise
    except OSError as exc:
        raise _store_error(cfg, store, exc) from None
    except Exception as exc:  # parser errors differ by engine; all mean "unreadable"
        raise _unreadable(cfg, exc, store) from None
    _refuse_duplicates(cfg, columns)
    check_named_columns(cfg, columns)
    return cfg, columns


def check_dataset(cfg: DatasetConfig, store: ObjectStore | None = None) -> list[str]:
    """What ``mlops config validate --dataset`` checks before any run: the file is readable,
    every column the config names exists, and the target is a usable binary label.

    Parses the header, the target and the sensitive attributes only; a CSV is also decoded
    whole, as ingest will (pandas decodes only the columns it keeps, so a byte the encoding
    cannot decode in another column would otherwise first fail at ingest). Raises
    DatasetError naming the key at fault; returns lines describing what was found.
    """
    cfg, columns = _header(cfg, store)
    wanted = [cfg.target, *cfg.sensitive_columns]
    try:
        data = _read_frame(cfg, store, wanted)
    except OSError as exc:
        raise _store_error(cfg, store, exc) if cfg.remote else _unreadable(cfg, exc, store) from None
    except Exception as exc:  # parser errors differ by engine; all mean "unreadable"
        raise _unreadable(cfg, exc, store) from None
    if cfg.file_format == "csv" and (at := _undecodable_at(cfg, store)) is not None:
        raise _not_in_encoding(cfg, at)
    positive, negative = target_labels(data[cfg.target], cfg)
    empty = int(data[cfg.target].isna().sum())
    share = float((binary_target(data[cfg.target].dropna(), positive, cfg.target) == 1).mean())
    bins = decide_sensitive_bins(cfg, data)
    split = ""
    if cfg.delimiter not in (None, ","):
        split = f", fields split at {cfg.delimiter!r}"  # told from the header: shown, so a wrong guess is seen
    if cfg.file_format == "csv" and cfg.encoding != "utf-8":
        split += f", {cfg.encoding} text"
    if cfg.decimal != ".":
        split += f", decimal mark {cfg.decimal!r}"
    lines = [
        f"{cfg.path} ({cfg.file_format}{split}): {len(data)} rows, {len(columns)} columns",
        f"target {cfg.target!r}: positive label {positive!r} ({share:.1%} of labelled rows), negative {negative!r}"
        + (f"; {empty} rows without a label will be quarantined or refused" if empty else ""),
        f"entity id: {cfg.entity_id or 'none (generated per row)'}; event time: "
        + (cfg.event_timestamp or "none (holdout: seeded stratified random split)"),
    ]
    if cfg.pii:
        lines.append(f"PII (anonymised as read): {', '.join(f'{c}={p.action}' for c, p in cfg.pii.items())}")
    if bins:
        groups = [
            c if b is None else f"{c} (groups: {', '.join(map(str, group_labels_of(b)))})" for c, b in bins.items()
        ]
        lines.append(f"sensitive attributes: {', '.join(groups)}")
    return lines


# --------------------------------------------------------------------------- target
def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _same_label(value: Any, wanted: Label) -> bool:
    """``value`` (from the data) is the configured label (YAML may type it differently)."""
    if isinstance(wanted, bool):
        if isinstance(value, bool | np.bool_):
            return bool(value) is wanted
        return str(value).strip().lower() in (_TRUE_WORDS if wanted else _FALSE_WORDS)
    if value == wanted:
        return True
    if isinstance(value, int | float | np.number) and isinstance(wanted, int | float):
        return float(value) == float(wanted)
    return str(value).strip() == str(wanted).strip()


def _shown(labels: list[Any]) -> str:
    return ", ".join(sorted(_cut(repr(v)) for v in labels))


def target_labels(values: pd.Series, cfg: DatasetConfig) -> tuple[Label, Label]:
    """``(positive, negative)`` labels of a binary target, as they appear in the data.

    0/1 and false/true targets need no configuration; any other two labels need
    ``positive_label``. Multiclass and regression targets are refused naming the key.
    """
    present = _present_labels(values, cfg)
    if _has_variants(cfg):
        return _first_labels(cfg, *_variant_groups(present, cfg))
    if len(present) > 2:
        numeric = ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)
        integral = numeric and bool(np.all(np.mod(values.dropna().to_numpy(dtype=float), 1) == 0))
        kind = "regression (a continuous target)" if numeric and not integral else "multiclass"
        shown = ", ".join(_cut(repr(v)) for v in sorted(present, key=str)[:6])
        raise DatasetError(
            f"dataset {cfg.name!r} (key `target`): column {cfg.target!r} has {len(present)} distinct values "
            f"({shown}{' …' if len(present) > 6 else ''}): "
            f"{kind} targets are not supported yet, only binary ones (two labels; see positive_label)"
        )
    if cfg.positive_label is not None:
        wanted = cfg.label_variants[0][0]
        chosen = [v for v in present if _same_label(v, wanted)]
        if len(chosen) != 1:
            raise DatasetError(
                f"dataset {cfg.name!r} (key `positive_label`): {wanted!r} is not one of the "
                f"target's labels {_shown(present)}"
            )
        positive = chosen[0]
    else:
        if all(isinstance(v, bool) for v in present):
            positive = True
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in present) and set(present) == {0, 1}:
            positive = next(v for v in present if v == 1)
        else:
            raise DatasetError(
                f"dataset {cfg.name!r} (key `positive_label`): target {cfg.target!r} has the labels "
                f"{_shown(present)}; set positive_label to the one the model should predict"
            )
    negative = next(v for v in present if v is not positive and not _same_label(v, positive))
    return positive, negative


def _present_labels(values: pd.Series, cfg: DatasetConfig) -> list[Any]:
    """The target's distinct labels (plain Python values); fewer than two is an error naming the key."""
    present = [_plain(v) for v in pd.unique(values.dropna())]
    where = f"dataset {cfg.name!r} (key `target`): column {cfg.target!r}"
    if not present:
        raise DatasetError(f"{where} has no values")
    if len(present) == 1:
        raise DatasetError(f"{where} has a single label {_cut(repr(present[0]))}; a binary target needs two")
    return present


def _has_variants(cfg: DatasetConfig) -> bool:
    """Whether a class is configured as several labels (a list, or a negative_label)."""
    positives, negatives = cfg.label_variants
    return len(positives) > 1 or bool(negatives)


def _variant_groups(present: list[Any], cfg: DatasetConfig) -> tuple[list[Any], list[Any]]:
    """The present labels of the positive and of the negative class; every label must be in one."""
    positives, negatives = cfg.label_variants
    pos = [v for v in present if any(_same_label(v, w) for w in positives)]
    rest = [v for v in present if v not in pos]
    neg = [v for v in rest if any(_same_label(v, w) for w in negatives)] if negatives else rest
    if not pos:
        raise DatasetError(
            f"dataset {cfg.name!r} (key `positive_label`): none of {positives!r} is one of the target's "
            f"labels {_shown(present)}"
        )
    if not neg:
        key = "negative_label" if negatives else "target"
        raise DatasetError(
            f"dataset {cfg.name!r} (key `{key}`): target {cfg.target!r} has no negative label: every label "
            f"({_shown(present)}) is a positive_label"
        )
    if not negatives and len(neg) > 1:
        raise DatasetError(
            f"dataset {cfg.name!r} (key `negative_label`): target {cfg.target!r} has {len(neg)} labels besides "
            f"the positive ones ({_shown(neg)}): list the negative class's labels in negative_label"
        )
    unknown = [v for v in rest if v not in neg]
    if unknown:
        raise DatasetError(
            f"dataset {cfg.name!r} (key `negative_label`): target {cfg.target!r} has labels in neither "
            f"positive_label nor negative_label: {_shown(unknown)}"
        )
    return pos, neg


def _first_labels(cfg: DatasetConfig, pos: list[Any], neg: list[Any]) -> tuple[Label, Label]:
    """Each class's first configured label found in the data (its groups from :func:`_variant_groups`)."""
    positives, negatives = cfg.label_variants

    def first(wanted: list[Any], among: list[Any]) -> Any:
        return next((v for w in wanted for v in among if _same_label(v, w)), among[0])

    return first(positives, pos), first(negatives, neg)


def unify_labels(values: pd.Series, cfg: DatasetConfig) -> pd.Series:
    """The target with each class written as one label (:func:`target_labels`' pair): what a
    configured label variant (">50K." for ">50K") becomes before anything reads the target.
    Without variants configured it is returned as it is."""
    if not _has_variants(cfg):
        return values
    pos, neg = _variant_groups(_present_labels(values, cfg), cfg)
    positive, negative = _first_labels(cfg, pos, neg)
    is_positive = values.isin(pos)
    return values.where(~is_positive, positive).where(is_positive | values.isna(), negative)


def binary_target(values: pd.Series, positive: Label, column: str) -> np.ndarray:
    """The target as 0/1 (1 = ``positive``); empty labels are an error naming their count."""
    empty = int(values.isna().sum())
    if empty:
        raise DatasetError(
            f"target {column!r} has {empty} empty values: rows without a label cannot train or evaluate "
            "(a suite with expect_column_values_to_not_be_null on the target quarantines them)"
        )
    hits = np.asarray(values == positive, dtype=bool)
    if not hits.any():  # a label typed differently by YAML/JSON than in the column ("1" vs 1)
        hits = np.asarray([_same_label(v, positive) for v in values], dtype=bool)
    return hits.astype(int)


# --------------------------------------------------------------------------- ingest
@dataclass(frozen=True)
class Ingested:
    """The dataset with an entity id and a UTC event timestamp, ready for the pipeline."""

    frame: pd.DataFrame
    entity: str
    timestamp: str
    # Columns the platform made up (absent from the user's file).
    generated: list[str]
    # Hash of the data as the user gave it (before any generated column).
    dataset_hash: str


def ingest(cfg: DatasetConfig, *, now: datetime | None = None, store: ObjectStore | None = None) -> Ingested:
    """Read the dataset; add an entity id and an event timestamp when the file has none.

    Missing ids are generated (row numbers as strings); a missing timestamp becomes the
    ingestion time, so point-in-time joins still have something to join on. Neither enters
    the dataset hash: the same file gives the same hash on every run.
    """
    df = read_dataset(cfg, store)
    digest = frame_hash(df)
    if cfg.target in df.columns:  # a missing target is named by the roles' checks
        df[cfg.target] = unify_labels(df[cfg.target], cfg)
    entity = cfg.entity_id or GENERATED_ID
    ts = cfg.event_timestamp or GENERATED_TS
    for generated, declared in ((GENERATED_ID, cfg.entity_id), (GENERATED_TS, cfg.event_timestamp)):
        if declared is None and generated in df.columns:
            raise DatasetError(
                f"dataset {cfg.name!r}: has a column {generated!r} but does not declare it; name it as "
                f"{'entity_id' if generated == GENERATED_ID else 'event_timestamp'} or rename it"
            )
    made: list[str] = []
    if cfg.entity_id is None:
        df.insert(0, GENERATED_ID, [f"row-{i}" for i in range(len(df))])
        made.append(GENERATED_ID)
    if cfg.event_timestamp is None:
        df[GENERATED_TS] = pd.Timestamp(now or datetime.now(UTC))
        made.append(GENERATED_TS)
    else:
        try:
            parsed = pd.to_datetime(df[ts], utc=True)
        except (ValueError, TypeError, OverflowError):
            # pandas quotes the value it could not parse: count and locate instead.
            bad = (pd.to_datetime(df[ts], utc=True, errors="coerce").isna() & df[ts].notna()).to_numpy()
            where = f"; the first is in data row {int(np.argmax(bad)) + 1}" if bad.any() else ""
            raise DatasetError(
                f"dataset {cfg.name!r}: event_timestamp column {ts!r} is not a timestamp: "
                f"{int(bad.sum())} of {len(df)} values do not parse as one date/time format{where}"
            ) from None
        if parsed.isna().any():
            raise DatasetError(
                f"dataset {cfg.name!r}: event_timestamp column {ts!r} has {int(parsed.isna().sum())} empty values"
            )
        df[ts] = parsed
    return Ingested(df, entity, ts, made, digest)


def identifier_reason(series: pd.Series, *, max_categories: int) -> str | None:
    """Why a candidate feature column should be left out, or None to keep it.

    Per-row identifiers and codes (ids, e-mails, card or order numbers) carry no signal that
    generalises and, one-hot encoded, cost a column per row; so do categoricals with very many
    values. Empty columns and date-times (other than the event time) cannot be features as is.
    """
    values = series.dropna()
    if values.empty:
        return "no values (empty in every row)"
    if ptypes.is_datetime64_any_dtype(series):
        return "a date/time column other than the event time (derive numeric features from it)"
    distinct = int(values.nunique())
    share = distinct / len(values)
    unique_rows = len(values) >= _MIN_ROWS_FOR_UNIQUENESS and distinct == len(values)
    if ptypes.is_bool_dtype(series):
        return None
    if ptypes.is_numeric_dtype(series):
        integral = ptypes.is_integer_dtype(series) or bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if integral and unique_rows:
            if values.is_monotonic_increasing or values.is_monotonic_decreasing:
                return "identifier-like: a different, ordered integer in every row (a row number or sequence id)"
            if float(values.abs().min()) >= 1e9:
                return "identifier-like: a different 10+ digit number in every row (an account or card number)"
        return None
    text = values.astype(str)
    if len(values) >= _MIN_ROWS_FOR_UNIQUENESS and share >= _NEAR_UNIQUE:
        return f"identifier-like: {share:.0%} of its values are distinct (near-unique per row)"
    sample = text.sample(min(len(text), 2000), random_state=0) if len(text) > 2000 else text
    code_share = float(sample.str.match(_CODE_RE).mean())
    if code_share >= _CODE_SHARE and share >= _CODE_DISTINCT:
        return f"code-shaped values ({code_share:.0%} look like ids, e-mails or order/card numbers)"
    if distinct > max_categories:
        return f"{distinct} distinct values, more than max_categories ({max_categories}): too many to one-hot encode"
    return None


# A text column is "numbers with placeholders" when at least this share of its values are numbers
# and the rest are at most _MAX_PLACEHOLDERS distinct short tokens ("?", "-", "unknown").
_NUMERIC_SHARE = 0.9
_MAX_PLACEHOLDERS = 3
_PLACEHOLDER_CHARS = 20


def numeric_placeholders(series: pd.Series) -> list[str]:
    """The tokens that keep a text column from being numeric (read as text only because of them),
    or [] when it is not such a column: what ``na_values:`` should name to read them as missing."""
    if ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
        return []
    values = series.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.head(1000)):
        return []
    sample = values.sample(2000, random_state=0) if len(values) > 2000 else values
    if pd.to_numeric(sample.str.strip(), errors="coerce").notna().mean() < _NUMERIC_SHARE:
        return []  # text: decided on a sample, the whole column is read only for the rare candidates
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() < _NUMERIC_SHARE:
        return []
    tokens = text[numbers.isna()].unique()
    if not 0 < len(tokens) <= _MAX_PLACEHOLDERS or any(len(t) > _PLACEHOLDER_CHARS for t in tokens):
        return []
    return sorted(str(t) for t in tokens)


# A number written with a decimal comma (1,5 or -,25), as `decimal: ","` reads it.
_DECIMAL_COMMA = r"^[-+]?[0-9]*,[0-9]+$"


def written_with_decimal_comma(series: pd.Series) -> bool:
    """True for a text column of numbers written with a decimal comma (``1,5``), read as text
    because the config's ``decimal`` is ".": what ``decimal: ","`` would read as numbers.
    Decided on a sample of at most 2,000 values (a hint, not a reading)."""
    if ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
        return False
    values = series.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.head(1000)):
        return False
    sample = values.sample(2000, random_state=0) if len(values) > 2000 else values
    text = sample.astype(str).str.strip()
    comma = text.str.match(_DECIMAL_COMMA)
    numbers = comma | pd.to_numeric(text, errors="coerce").notna()
    return bool(comma.any()) and float(numbers.mean()) >= _NUMERIC_SHARE


def quantile_bins(series: pd.Series, bins: int = DEFAULT_QUANTILE_BINS) -> list[float]:
    """Inner edges splitting a numeric column into ``bins`` groups of about equal size."""
    values = series.dropna().astype(float)
    qs = values.quantile([i / bins for i in range(1, bins)]).to_numpy()
    edges: list[float] = []
    for q in qs:
        edge = float(f"{q:.3g}")  # readable group labels; 3 significant digits
        if math.isfinite(edge) and (not edges or edge > edges[-1]) and edge > float(values.min()):
            edges.append(edge)
    return edges


def decide_sensitive_bins(cfg: DatasetConfig, df: pd.DataFrame) -> dict[str, list[float] | None]:
    """Per sensitive attribute: bin edges when numeric with many values, else None (by value)."""
    decided: dict[str, list[float] | None] = {}
    for column, bins in cfg.sensitive_bins.items():
        series = df[column]
        numeric = ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)
        if not numeric:
            if bins is not None:
                raise DatasetError(
                    f"dataset {cfg.name!r} (key `sensitive_attributes`): {column!r} is not numeric; "
                    "bins apply to numeric attributes only"
                )
            decided[column] = None
        elif isinstance(bins, list):
            decided[column] = [float(b) for b in bins]
        elif bins is None and series.nunique() <= MAX_VALUE_GROUPS:
            decided[column] = None
        else:
            # A column concentrated on one value has no inner quantile edge: grouped by value.
            decided[column] = quantile_bins(series, bins or DEFAULT_QUANTILE_BINS) or None
    return decided


def decide_roles(
    cfg: DatasetConfig,
    df: pd.DataFrame,
    entity: str,
    ts: str,
    *,
    generated: list[str] | None = None,
    labels: tuple[Label, Label] | None = None,
) -> Roles:
    """Features are every column not named for another role (PII never becomes a feature),
    minus the columns :func:`identifier_reason` leaves out (unless the config `include`s them)."""
    sensitive = cfg.sensitive_columns
    reserved = {entity, ts, cfg.target, *cfg.pii, *sensitive, *cfg.exclude}
    left_out = {c: "excluded in the dataset config (exclude)" for c in cfg.exclude}
    forced = set(cfg.categorical or [])
    kept = set(cfg.include)
    features: list[str] = []
    for column in (c for c in df.columns if c not in reserved):
        reason = None if column in kept else identifier_reason(df[column], max_categories=cfg.max_categories)
        if reason is None:
            features.append(column)
        else:
            left_out[column] = reason + " — put it back with `include:`"
    if not features:
        raise DatasetError(
            f"dataset {cfg.name!r}: no feature columns left after removing ids, target, PII, sensitive "
            f"attributes and left-out columns ({_names(list(left_out)) or 'none'})"
        )
    categorical = [
        c for c in features if c in forced or not (ptypes.is_numeric_dtype(df[c]) or ptypes.is_bool_dtype(df[c]))
    ]
    positive, negative = labels if labels is not None else target_labels(df[cfg.target], cfg)
    return Roles(
        name=cfg.name,
        entity=entity,
        timestamp=ts,
        target=cfg.target,
        features=features,
        categorical=categorical,
        sensitive=sensitive,
        positive_label=positive,
        negative_label=negative,
        generated=list(generated or []),
        pii=list(cfg.pii),
        sensitive_bins=decide_sensitive_bins(cfg, df),
        left_out=left_out,
        na_values=list(cfg.na_values),
        encoding=cfg.encoding,
        decimal=cfg.decimal,
    )


def as_category_text(series: pd.Series) -> pd.Series:
    """A categorical feature as text, the way a request sends it (``3``, not ``3.0``).

    Numeric columns named in ``categorical:`` would otherwise reach the model as numbers in
    training and as strings from serving: every served value an unseen category.
    """
    if ptypes.is_string_dtype(series) and not ptypes.is_numeric_dtype(series):
        return series.astype(object).where(series.notna(), None)

    def text(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return series.astype(object).map(text)


def prepare_features(df: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    """Categorical features as text (see :func:`as_category_text`); everything else unchanged."""
    out = df.copy()
    for column in roles.categorical:
        out[column] = as_category_text(out[column])
    return out


__all__ = [
    "GENERATED_ID",
    "GENERATED_TS",
    "Ingested",
    "as_category_text",
    "binary_target",
    "check_dataset",
    "check_named_columns",
    "dataset_exists",
    "decide_roles",
    "decide_sensitive_bins",
    "ensure_synthetic",
    "file_columns",
    "identifier_reason",
    "ingest",
    "named_columns",
    "numeric_placeholders",
    "prepare_features",
    "quantile_bins",
    "read_dataset",
    "target_labels",
    "unify_labels",
]
