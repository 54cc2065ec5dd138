"""Build a point-in-time training set through Feast, and read features back online.

One Feast project per state folder; each dataset ``name`` owns, per feature schema ``key``,
the objects ``<name>_features_<key>`` / ``<name>_training_<key>`` and the offline source of
that view: ``offline/<name>_features_<key>.parquet`` on the file offline store (dev), the table
``<db_schema>.<name>_features_<key>`` on the PostgreSQL one (:mod:`feature_store.offline`).
A build replaces the view of its own schema (and
its online table) wholesale, so that view holds exactly the entities of its latest build; a
new dataset shape gets a view of its own and needs no migration, and the views of older
shapes stay readable for the registered versions trained on them (the registry records each
version's view).
Feast is imported inside the functions: importing it costs seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from feature_store.config import FeatureConfig
from feature_store.definitions import (
    FeatureDefinitions,
    build_definitions,
    entity_type_name,
    feast_name,
    feature_schema,
    schema_key,
    source_name,
    view_name,
)
from feature_store.offline import offline_source_for, parquet_path
from feature_store.registry import repo_config
from feature_store.transformations import (
    coerce_column,
    coerce_entity,
    duplicate_keys,
    prepare_offline_source,
    to_utc,
)
from mlops.errors import FeatureStoreError
from mlops.state import file_lock

if TYPE_CHECKING:
    from feast import FeatureStore

# Feast picks the entity dataframe's event-time column by this name before guessing from dtypes,
# so naming it explicitly keeps datetime-typed carry columns from confusing the join.
ENTITY_DF_TIMESTAMP = "event_timestamp"
# The entity rows go to the offline store as (entity, event time, row number) only: the carried
# columns (target, sensitive attributes) are put back by row number afterwards, so they keep
# their dtypes exactly and never leave the process (a SQL offline store would round-trip them).
ENTITY_ROW = "entity_row__"


@dataclass(frozen=True)
class TrainingSetResult:
    """The point-in-time training set and what it took to build it."""

    frame: pd.DataFrame
    rows_in: int
    rows_out: int
    dropped: int
    feature_refs: list[str]
    feature_views: list[str]
    feature_service: str
    timings: dict[str, float]
    registry_path: Path
    # Where the offline source was written: a parquet path (file offline store) or
    # postgresql://host:port/database/schema.table (PostgreSQL offline store).
    offline_source: str
    features: dict[str, str] = field(default_factory=dict)

    @property
    def dropped_fraction(self) -> float:
        return self.dropped / self.rows_in if self.rows_in else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures for the run record (no data)."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": self.dropped,
            "dropped_fraction": round(self.dropped_fraction, 6),
            "feature_refs": self.feature_refs,
            "feature_views": self.feature_views,
            "feature_service": self.feature_service,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "registry_path": str(self.registry_path),
            "offline_source": self.offline_source,
        }


def open_store(
    state_dir: Path,
    config: FeatureConfig | None = None,
    *,
    environment: str = "dev",
    resolve: Callable[[str], str] | None = None,
) -> FeatureStore:
    """A Feast ``FeatureStore`` on ``environment``'s template (dev: every file under ``state_dir``;
    local-stack: the stack's PostgreSQL registry and Redis; staging/prod: the cluster's Redis,
    Postgres and SQL registry, secrets from the environment). ``resolve`` reads the secret
    references of ``config.variables`` (default: the process-wide secret resolver)."""
    from feast import FeatureStore

    state_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=repo_config(state_dir, config, environment=environment, resolve=resolve))


def materialization_window(stamps: pd.Series, config: FeatureConfig) -> tuple[datetime, datetime]:
    """``(start, end)`` that puts the newest value of every entity of ``stamps`` online (the
    newest ``config.online_window_days``). The end is padded by a second: the latest row must
    fall inside the window however the offline store treats its upper bound."""
    start = stamps.min()
    if config.online_window_days is not None:
        start = max(start, stamps.max() - pd.Timedelta(days=config.online_window_days))
    return start.to_pydatetime(), (stamps.max() + pd.Timedelta(seconds=1)).to_pydatetime()


def registry_path(state_dir: Path) -> Path:
    return state_dir.resolve() / "registry.db"


def offline_source_path(state_dir: Path, name: str, key: str) -> Path:
    """The parquet offline source of a view (file offline store)."""
    return parquet_path(state_dir, view_name(name, key))


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = time.perf_counter() - start


def _check_columns(
    df: pd.DataFrame,
    *,
    entity_column: str,
    timestamp_column: str,
    feature_timestamp_column: str,
    feature_columns: Sequence[str],
    carry_columns: Sequence[str],
) -> None:
    keys = {entity_column, timestamp_column, feature_timestamp_column}
    missing = [c for c in [*keys, *feature_columns, *carry_columns] if c not in df.columns]
    if missing:
        raise FeatureStoreError(f"columns not in the dataset: {', '.join(sorted(set(missing)))}")
    overlap = (set(feature_columns) & set(carry_columns)) | ((set(feature_columns) | set(carry_columns)) & keys)
    if overlap:
        raise FeatureStoreError(f"columns used in two roles (feature, carried, key): {', '.join(sorted(overlap))}")
    if ENTITY_DF_TIMESTAMP in [*feature_columns, *carry_columns] and timestamp_column != ENTITY_DF_TIMESTAMP:
        raise FeatureStoreError(f"{ENTITY_DF_TIMESTAMP!r} is reserved for the event time; rename that column")
    if ENTITY_ROW in [*keys, *feature_columns]:
        raise FeatureStoreError(f"{ENTITY_ROW!r} is reserved for the entity rows' numbers; rename that column")


def _remove_previous(store: FeatureStore, defs: FeatureDefinitions) -> None:
    """Delete this dataset's earlier view and service, dropping its online table (and its
    offline source's definition when that is of another kind than the new one).

    Re-applying over an existing view keeps the old online rows (other entity keys, other
    feature names); deleting first makes each build's online store match its data exactly.
    """
    from feast.errors import (
        DataSourceObjectNotFoundException,
        FeatureServiceNotFoundException,
        FeatureViewNotFoundException,
    )

    doomed: list[Any] = []
    try:
        old_view = store.get_feature_view(defs.view.name)
    except FeatureViewNotFoundException:
        old_view = None
    if old_view is not None:
        doomed.append(old_view)
        # An entity whose name depended on the old entity column is now orphaned.
        doomed += [store.get_entity(name) for name in old_view.entities if name not in {defs.entity.name, "__dummy"}]
    with suppress(FeatureServiceNotFoundException):
        doomed.append(store.get_feature_service(defs.service.name))
    with suppress(DataSourceObjectNotFoundException):
        # A source of another kind under the same name (the environment's offline store moved,
        # e.g. from parquet files to PostgreSQL): Feast cannot update one kind into the other.
        old_source = store.get_data_source(defs.source.name)
        if type(old_source) is not type(defs.source):
            doomed.append(old_source)
    if doomed:
        store.apply([], objects_to_delete=doomed, partial=False)


def build_training_set(
    df: pd.DataFrame,
    *,
    name: str,
    entity_column: str,
    timestamp_column: str,
    feature_columns: list[str],
    carry_columns: list[str],
    state_dir: Path,
    config: FeatureConfig,
    feature_timestamp_column: str | None = None,
    environment: str = "dev",
    resolve: Callable[[str], str] | None = None,
) -> TrainingSetResult:
    """Store ``df``'s features in Feast and read them back as a point-in-time training set.

    Steps: write the offline source (the environment's offline store: parquet file or
    PostgreSQL table), apply the definitions (replacing any earlier
    shape of this dataset), materialise the data's time range into the online store, then
    join the features onto the entity rows (entity id, event time and ``carry_columns``, e.g.
    the target and sensitive attributes, which are never stored as features).

    ``environment`` picks the feature_store.yaml template (see :func:`open_store`).

    ``feature_timestamp_column`` stamps the feature rows with a different time than the event
    (when the values became known); by default the event time is used for both.

    Feast drops entity rows that have no feature row inside the TTL at or before their event
    time; when the dropped share exceeds ``config.max_dropped_fraction`` this raises
    :class:`FeatureStoreError` naming the counts. The frame is sorted by event time, then entity.
    """
    feature_ts = feature_timestamp_column or timestamp_column
    _check_columns(
        df,
        entity_column=entity_column,
        timestamp_column=timestamp_column,
        feature_timestamp_column=feature_ts,
        feature_columns=feature_columns,
        carry_columns=carry_columns,
    )
    if df.empty:
        raise FeatureStoreError(f"dataset {name!r} has no rows")
    timings: dict[str, float] = {}
    entity_kind = entity_type_name(df[entity_column])
    schema = feature_schema(df, feature_columns)
    key = schema_key(entity_column, entity_kind, dict(schema))

    # One build at a time per feature store: concurrent runs of a dataset share its view, offline
    # source and online table, and a build must read back exactly what it wrote. (A local file
    # lock: on a cluster the SQL registry and Redis are shared by pods, and builds of one dataset
    # must be serialised by the scheduler, e.g. one pipeline run per dataset at a time.)
    with file_lock(state_dir / "build.lock"):
        store = open_store(state_dir, config, environment=environment, resolve=resolve)
        # The environment's offline store decides where the source goes (parquet file or table).
        offline = offline_source_for(state_dir, store.config)
        view = view_name(name, key)
        with _timed(timings, "write_source"):
            source = prepare_offline_source(
                df,
                entity_column=entity_column,
                entity_type=entity_kind,
                timestamp_column=feature_ts,
                features=schema,
            )
            location = offline.write(
                source,
                view=view,
                entity_column=entity_column,
                entity_type=entity_kind,
                timestamp_column=feature_ts,
                features=dict(schema),
            )

        entity_df = _entity_frame(df, entity_column, entity_kind, timestamp_column, carry_columns)
        defs = build_definitions(
            name=name,
            entity_column=entity_column,
            timestamp_column=feature_ts,
            features=dict(schema),
            source=offline.data_source(
                name=source_name(name, key),
                view=view,
                timestamp_column=feature_ts,
                description=f"Offline source of dataset {name}",
            ),
            ttl=timedelta(days=config.ttl_days),
            entity_type=entity_kind,
            key=key,
        )
        refs = defs.feature_refs()

        with _timed(timings, "apply"):
            _remove_previous(store, defs)
            store.apply(defs.objects)
        with _timed(timings, "materialize"):
            start, end = materialization_window(source[feature_ts], config)
            store.materialize(start_date=start, end_date=end, feature_views=[defs.view.name])
        with _timed(timings, "retrieval"):
            keys = entity_df[[entity_column, ENTITY_DF_TIMESTAMP]].assign(**{ENTITY_ROW: range(len(entity_df))})
            joined = offline.historical(store, keys, refs)

    rows_in, rows_out = len(entity_df), len(joined)
    dropped = rows_in - rows_out
    if dropped < 0:
        raise FeatureStoreError(f"dataset {name!r}: retrieval returned {rows_out} rows for {rows_in} entity rows")
    if rows_in and dropped / rows_in > config.max_dropped_fraction:
        raise FeatureStoreError(
            f"dataset {name!r}: {dropped} of {rows_in} entity rows ({dropped / rows_in:.2%}) have no "
            f"feature value inside the {config.ttl_days}-day TTL at or before their event time; "
            f"at most {config.max_dropped_fraction:.2%} may be dropped"
        )
    frame = _finish(joined, entity_df, entity_column, timestamp_column, carry_columns, dict(schema))
    return TrainingSetResult(
        frame=frame,
        rows_in=rows_in,
        rows_out=rows_out,
        dropped=dropped,
        feature_refs=refs,
        feature_views=[defs.view.name],
        feature_service=defs.service.name,
        timings=timings,
        registry_path=registry_path(state_dir),
        offline_source=location,
        features=dict(schema),
    )


def _entity_frame(
    df: pd.DataFrame, entity_column: str, entity_kind: str, timestamp_column: str, carry_columns: list[str]
) -> pd.DataFrame:
    """The rows to label: entity id, event time (under Feast's name) and the carried columns."""
    base = df.reset_index(drop=True)
    entity_df = pd.DataFrame(
        {
            entity_column: coerce_entity(base[entity_column], entity_kind),
            ENTITY_DF_TIMESTAMP: to_utc(base[timestamp_column]),
        }
    )
    for column in carry_columns:
        entity_df[column] = base[column]
    dupes = duplicate_keys(entity_df, entity_column, ENTITY_DF_TIMESTAMP)
    if dupes:
        raise FeatureStoreError(
            f"{dupes} rows repeat an ({entity_column}, {timestamp_column}) pair of another row; "
            "each labelled row needs its own entity and event time"
        )
    return entity_df


def _finish(
    joined: pd.DataFrame,
    entity_df: pd.DataFrame,
    entity_column: str,
    timestamp_column: str,
    carry_columns: list[str],
    features: dict[str, str],
) -> pd.DataFrame:
    """The retrieved features on their entity rows: the entity id, event time and carried
    columns are the rows' own (matched by row number); each feature in its type's dtype (as
    stored: nullable Int64 for integers), whichever store ran the join (PostgreSQL hands back
    integers with NULLs as floats)."""
    rows = joined[ENTITY_ROW].to_numpy(dtype="int64")
    base = entity_df.iloc[rows].reset_index(drop=True).rename(columns={ENTITY_DF_TIMESTAMP: timestamp_column})
    found = pd.DataFrame({c: coerce_column(joined[c], kind).reset_index(drop=True) for c, kind in features.items()})
    frame = pd.concat([base[[entity_column, timestamp_column, *carry_columns]], found], axis=1)
    return frame.sort_values([timestamp_column, entity_column], kind="stable").reset_index(drop=True)


class OnlineFeatureReader:
    """Reads one feature view from the online store; open once, read many times.

    ``view`` is the view a registered version was trained with (its ``feature_view`` tag);
    without one, the dataset's most recently updated view is read. The registry is read when
    the reader is created (``refresh()`` re-reads it after a new build), so each read is only
    the online-store lookup.
    """

    def __init__(
        self,
        *,
        name: str,
        state_dir: Path,
        config: FeatureConfig | None = None,
        environment: str = "dev",
        view: str | None = None,
    ) -> None:
        from feast.errors import FeatureViewNotFoundException

        # The serving pods of staging/prod read the cluster's registry and Redis, not a local file.
        self.store = open_store(state_dir, config, environment=environment)
        views = self.store.list_feature_views()
        if view is None:
            own = [v for v in views if v.tags.get("dataset") == name]
            latest = max(own, key=lambda v: v.last_updated_timestamp or v.created_timestamp or 0, default=None)
            view = latest.name if latest is not None else f"{feast_name(name)}_features"
        self.view_name = view
        try:
            found = self.store.get_feature_view(view)
        except FeatureViewNotFoundException:
            known = sorted(v.name for v in views)
            raise FeatureStoreError(
                f"no feature view {view!r} in {state_dir} (known: {', '.join(known) or 'none'}); "
                "build the training set first"
            ) from None
        self.entity_column = found.entity_columns[0].name
        self.int_ids = found.entity_columns[0].dtype.to_value_type().name == "INT64"
        self.features = [f.name for f in found.features]
        self.refs = [f"{self.view_name}:{f}" for f in self.features]

    def refresh(self) -> None:
        self.store.refresh_registry()

    def _ids(self, entity_ids: Sequence[Any]) -> list[Any]:
        return [int(i) for i in entity_ids] if self.int_ids else [str(i) for i in entity_ids]

    def row(self, entity_id: Any) -> dict[str, Any]:
        """Features of one entity as ``{feature: value}`` (values are None when unknown)."""
        return self.records([entity_id])[0]

    def _read(self, ids: list[Any]) -> dict[str, list[Any]]:
        return self.store.get_online_features(features=self.refs, entity_rows={self.entity_column: ids}).to_dict()

    def frame(self, entity_ids: Sequence[Any]) -> pd.DataFrame:
        """One row per requested id, in request order: the entity column, then the features."""
        ids = self._ids(entity_ids)
        response = self._read(ids)
        return pd.DataFrame({self.entity_column: ids, **{f: response[f] for f in self.features}})

    def records(self, entity_ids: Sequence[Any]) -> list[dict[str, Any]]:
        """One ``{feature: value}`` per requested id, in request order (None: unknown); no frame,
        for the online path."""
        response = self._read(self._ids(entity_ids))
        columns = [response[f] for f in self.features]
        if not columns:
            return [{} for _ in entity_ids]
        return [dict(zip(self.features, values, strict=True)) for values in zip(*columns, strict=True)]


def online_features(
    entity_ids: Sequence[Any],
    *,
    name: str,
    state_dir: Path,
    config: FeatureConfig | None = None,
    view: str | None = None,
) -> pd.DataFrame:
    """The latest materialised features of ``entity_ids`` (missing entities get nulls)."""
    return OnlineFeatureReader(name=name, state_dir=state_dir, config=config, view=view).frame(entity_ids)


__all__ = [
    "ENTITY_DF_TIMESTAMP",
    "OnlineFeatureReader",
    "TrainingSetResult",
    "build_training_set",
    "materialization_window",
    "offline_source_path",
    "online_features",
    "open_store",
    "registry_path",
]
