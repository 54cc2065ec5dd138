"""Reading a dataset as its config describes it (ingest), and its content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mlops.config import DatasetConfig
from mlops.errors import DatasetError

GENERATED_ID = "row_id"
GENERATED_TS = "ingested_at"


def ensure_synthetic(cfg: DatasetConfig) -> bool:
    """Generate the dataset file when the config asks for a synthetic one and it is missing."""
    if cfg.synthetic is None or cfg.path.exists():
        return False
    from mlops.sample_data import write_sample

    write_sample(cfg.path, rows=cfg.synthetic.rows, seed=cfg.synthetic.seed)
    return True


def read_dataset(cfg: DatasetConfig) -> pd.DataFrame:
    """Read the file and check every column the config names exists."""
    ensure_synthetic(cfg)
    if not cfg.path.exists():
        raise DatasetError(f"dataset {cfg.name!r}: file {cfg.path} does not exist")
    try:
        df = pd.read_csv(cfg.path) if cfg.file_format == "csv" else pd.read_parquet(cfg.path)
    except Exception as exc:  # parser errors differ by engine; all mean "unreadable"
        raise DatasetError(f"dataset {cfg.name!r}: cannot read {cfg.path} as {cfg.file_format}: {exc}") from exc
    named = {
        "target": [cfg.target],
        "entity_id": [cfg.entity_id] if cfg.entity_id else [],
        "event_timestamp": [cfg.event_timestamp] if cfg.event_timestamp else [],
        "pii": list(cfg.pii),
        "sensitive_attributes": cfg.sensitive_attributes,
        "categorical": cfg.categorical or [],
        "exclude": cfg.exclude,
    }
    for key, columns in named.items():
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DatasetError(
                f"dataset {cfg.name!r}: {key} names columns not in {cfg.path.name}: {', '.join(missing)} "
                f"(columns are: {', '.join(map(str, df.columns[:20]))})"
            )
    if df.empty:
        raise DatasetError(f"dataset {cfg.name!r}: {cfg.path} has no rows")
    return df


def ingest(cfg: DatasetConfig, *, now: datetime | None = None) -> tuple[pd.DataFrame, str, str]:
    """The dataset with an entity id and a UTC event timestamp, plus the two column names.

    Missing ids are generated (row numbers as strings); a missing timestamp becomes the
    ingestion time, so point-in-time joins still have something to join on.
    """
    df = read_dataset(cfg)
    entity = cfg.entity_id or GENERATED_ID
    ts = cfg.event_timestamp or GENERATED_TS
    for generated, declared in ((GENERATED_ID, cfg.entity_id), (GENERATED_TS, cfg.event_timestamp)):
        if declared is None and generated in df.columns:
            raise DatasetError(
                f"dataset {cfg.name!r}: has a column {generated!r} but does not declare it; name it as "
                f"{'entity_id' if generated == GENERATED_ID else 'event_timestamp'} or rename it"
            )
    if cfg.entity_id is None:
        df.insert(0, GENERATED_ID, [f"row-{i}" for i in range(len(df))])
    if cfg.event_timestamp is None:
        df[GENERATED_TS] = pd.Timestamp(now or datetime.now(UTC))
    else:
        try:
            parsed = pd.to_datetime(df[ts], utc=True)
        except (ValueError, TypeError) as exc:
            raise DatasetError(
                f"dataset {cfg.name!r}: event_timestamp column {ts!r} is not a timestamp: {exc}"
            ) from None
        if parsed.isna().any():
            raise DatasetError(
                f"dataset {cfg.name!r}: event_timestamp column {ts!r} has {int(parsed.isna().sum())} empty values"
            )
        df[ts] = parsed
    return df, entity, ts


def frame_hash(df: pd.DataFrame) -> str:
    """Content hash of a frame (values and column names, order-sensitive)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Roles:
    """What each column is for, decided once at ingest and passed to every later step."""

    name: str
    entity: str
    timestamp: str
    target: str
    features: list[str]
    categorical: list[str]
    sensitive: list[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Roles:
        return cls(**json.loads(text))


def decide_roles(cfg: DatasetConfig, df: pd.DataFrame, entity: str, ts: str) -> Roles:
    """Features are every column not named for another role (PII never becomes a feature)."""
    reserved = {entity, ts, cfg.target, *cfg.pii, *cfg.sensitive_attributes, *cfg.exclude}
    features = [c for c in df.columns if c not in reserved]
    if not features:
        raise DatasetError(f"dataset {cfg.name!r}: no feature columns left after removing ids, target and PII")
    forced = set(cfg.categorical or [])
    categorical = [
        c
        for c in features
        if c in forced or not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    return Roles(
        name=cfg.name,
        entity=entity,
        timestamp=ts,
        target=cfg.target,
        features=features,
        categorical=categorical,
        sensitive=list(cfg.sensitive_attributes),
    )
