"""Where a build's offline source lives, chosen by the Feast offline store of the environment.

One class per Feast offline store type, found through the explicit :data:`OFFLINE_SOURCES`
dict (the ``offline_store.type`` of the environment's feature_store.yaml template):

- ``file`` (dev): a parquet file under the state folder, read through a ``FileSource``.
- ``postgres`` (local-stack, staging, prod): a table ``<db_schema>.<view name>`` in the offline
  store's database, read through a ``PostgreSQLSource``, so the point-in-time join and
  materialisation run inside PostgreSQL.

Each writes a build's prepared frame (entity, UTC event time, coerced features) so a reader
never sees half of it, builds the Feast data source on it, and reads an existing source's
event-time range (what a rebuild of the online store materialises).
Feast and psycopg are imported inside the methods: importing them costs seconds.
"""

from __future__ import annotations

import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from feature_store.transformations import write_offline_source
from mlops.errors import FeatureStoreError

if TYPE_CHECKING:
    from feast import FeatureStore, RepoConfig
    from feast.data_source import DataSource

# Column types of an offline table, by the feature type names of feature_store.definitions.
POSTGRES_TYPES: dict[str, str] = {
    "int64": "bigint",
    "float64": "double precision",
    "string": "text",
    "bool": "boolean",
}
# PostgreSQL truncates longer identifiers, which could make two views share a table.
POSTGRES_MAX_IDENTIFIER = 63


class OfflineSource(ABC):
    """The offline source of one environment: write a build's frame, define and read its source."""

    store_type: ClassVar[str]  # the offline_store.type it serves

    def __init__(self, state_dir: Path, config: RepoConfig) -> None:
        self.state_dir = state_dir.resolve()
        self.config = config

    @abstractmethod
    def write(
        self,
        frame: pd.DataFrame,
        *,
        view: str,
        entity_column: str,
        entity_type: str,
        timestamp_column: str,
        features: Mapping[str, str],
    ) -> str:
        """Replace the offline data of ``view`` with ``frame`` wholesale; where it now lives."""

    @abstractmethod
    def data_source(self, *, name: str, view: str, timestamp_column: str, description: str) -> DataSource:
        """The Feast data source reading what :meth:`write` wrote for ``view``."""

    @abstractmethod
    def historical(self, store: FeatureStore, entity_df: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
        """Feast's point-in-time join of ``refs`` onto ``entity_df`` (entity id, ``event_timestamp``
        and a row number), run by this offline store."""

    @abstractmethod
    def location(self, source: DataSource) -> str:
        """Where ``source`` (one of this store's kind) reads from, for messages and records."""

    @abstractmethod
    def timestamp_range(self, source: DataSource) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The oldest and newest event time of ``source`` (UTC); an empty source is an error."""

    def check_kind(self, source: DataSource | None, view: str) -> DataSource:
        """``source`` when this store can read it; else a :class:`FeatureStoreError` naming both."""
        kind = self.source_class()
        if source is None or not isinstance(source, kind):
            got = type(source).__name__ if source is not None else "no source"
            raise FeatureStoreError(
                f"feature view {view}: its source is a {got}, but the environment's offline store is "
                f"{self.store_type!r} (reads {kind.__name__}); rebuild it from its own store or build the dataset again"
            )
        return source

    @staticmethod
    @abstractmethod
    def source_class() -> type[DataSource]: ...


def parquet_path(state_dir: Path, view: str) -> Path:
    """The parquet offline source of ``view`` in the Feast repo folder ``state_dir``."""
    return state_dir.resolve() / "offline" / f"{view}.parquet"


class ParquetOfflineSource(OfflineSource):
    """``file``: ``<state>/offline/<view>.parquet``, replaced atomically (write, then rename)."""

    store_type = "file"

    def path(self, view: str) -> Path:
        return parquet_path(self.state_dir, view)

    def write(
        self,
        frame: pd.DataFrame,
        *,
        view: str,
        entity_column: str,
        entity_type: str,
        timestamp_column: str,
        features: Mapping[str, str],
    ) -> str:
        return str(write_offline_source(frame, self.path(view)))

    def data_source(self, *, name: str, view: str, timestamp_column: str, description: str) -> DataSource:
        from feast import FileSource

        return FileSource(
            name=name, path=str(self.path(view)), timestamp_field=timestamp_column, description=description
        )

    def location(self, source: DataSource) -> str:
        return str(getattr(source, "path", ""))

    def historical(self, store: FeatureStore, entity_df: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
        return store.get_historical_features(entity_df=entity_df, features=refs).to_df()

    def timestamp_range(self, source: DataSource) -> tuple[pd.Timestamp, pd.Timestamp]:
        import pyarrow.parquet as pq

        path, column = self.location(source), source.timestamp_field
        try:
            table = pq.read_table(path, columns=[column])
        except (OSError, ValueError) as exc:  # missing file, unreachable bucket, column not there
            raise FeatureStoreError(f"offline source {path}: cannot read {column!r}: {exc}") from exc
        stamps = pd.to_datetime(table.column(column).to_pandas(), utc=True)
        if stamps.empty:
            raise FeatureStoreError(f"offline source {path} is empty: nothing to put online")
        return stamps.min(), stamps.max()

    @staticmethod
    def source_class() -> type[DataSource]:
        from feast import FileSource

        return FileSource


def _quote(identifier: str) -> str:
    """A PostgreSQL quoted identifier (Feast pastes the source's table string into its SQL)."""
    return '"' + identifier.replace('"', '""') + '"'


def _postgres_type(series: pd.Series) -> str:
    """The column type of an entity-rows column: ids, event times and row numbers."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    return "bigint" if pd.api.types.is_integer_dtype(series.dtype) else "text"


def _python_column(series: pd.Series) -> list[Any]:
    """A column as Python values with ``None`` for missing, as COPY writes them (NULL)."""
    values: list[Any] = series.astype(object).tolist()
    missing = series.isna().tolist()
    return [None if gone else value for value, gone in zip(values, missing, strict=True)]


def _load_table(cur: Any, table: Any, columns: list[tuple[str, str, bool]], frame: pd.DataFrame) -> None:
    """Create ``table`` with ``columns`` (name, type, NOT NULL?), bulk-load ``frame``'s rows into
    it with ``COPY`` and refresh its statistics (the planner of the join then knows its size)."""
    from psycopg import sql

    names = [name for name, _, _ in columns]
    definitions = [
        sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(kind), sql.SQL(" NOT NULL" if required else ""))
        for name, kind, required in columns
    ]
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(definitions)))
    values = [_python_column(frame[name]) for name in names]
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(map(sql.Identifier, names)))
    with cur.copy(copy_sql) as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)
    cur.execute(sql.SQL("ANALYZE {}").format(table))


class PostgresOfflineSource(OfflineSource):
    """``postgres``: one table per view in the offline store's ``db_schema``.

    A build drops and re-creates its table and bulk-loads it with ``COPY`` in one transaction:
    a reader sees the previous build or this one, never a mix. Column types follow the feature
    types (:data:`POSTGRES_TYPES`), missing values are NULLs and the event time is
    ``timestamptz`` (microseconds: PostgreSQL's resolution).
    """

    store_type = "postgres"

    @property
    def schema(self) -> str:
        return str(self.config.offline_store.db_schema)

    def _table(self, view: str) -> Any:
        from psycopg import sql

        if len(view) > POSTGRES_MAX_IDENTIFIER:
            raise FeatureStoreError(
                f"feature view {view!r} is {len(view)} characters long; a PostgreSQL offline table name may "
                f"have at most {POSTGRES_MAX_IDENTIFIER}: use a shorter dataset name"
            )
        return sql.Identifier(self.schema, view)

    @contextmanager
    def connect(self, what: str) -> Iterator[Any]:
        """A connection to the offline store's database (one transaction, committed on success)."""
        import psycopg

        store = self.config.offline_store
        try:
            with psycopg.connect(
                host=store.host,
                port=int(store.port),
                dbname=store.database,
                user=store.user,
                password=store.password,
                sslmode=store.sslmode,
                sslkey=store.sslkey_path,
                sslcert=store.sslcert_path,
                sslrootcert=store.sslrootcert_path,
                connect_timeout=10,
            ) as conn:
                yield conn
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FeatureStoreError(
                f"offline store postgresql://{store.host}:{store.port}/{store.database}: {what}: {detail}"
            ) from exc

    def write(
        self,
        frame: pd.DataFrame,
        *,
        view: str,
        entity_column: str,
        entity_type: str,
        timestamp_column: str,
        features: Mapping[str, str],
    ) -> str:
        from psycopg import sql

        table = self._table(view)
        columns = [
            (entity_column, POSTGRES_TYPES[entity_type], True),
            (timestamp_column, "timestamptz", True),
            *((column, POSTGRES_TYPES[kind], False) for column, kind in features.items()),
        ]
        with self.connect(f"writing {self.schema}.{view}") as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            _load_table(cur, table, columns, frame)
        return self.uri(view)

    def erase(
        self, views: Mapping[str, list[str]], select: Callable[[Iterable[str]], set[str]], *, dry_run: bool
    ) -> dict[str, int]:
        """Delete the rows whose entity value ``select`` picks from each view's table (views: their
        join keys), in one transaction; rows removed per view (counted only, when ``dry_run``)."""
        from psycopg import sql

        removed: dict[str, int] = {}
        with self.connect("erasing entities") as conn, conn.cursor() as cur:
            for view, keys in views.items():
                table = self._table(view)
                cur.execute("SELECT to_regclass(%s)", (f"{_quote(self.schema)}.{_quote(view)}",))
                if cur.fetchone()[0] is None:
                    continue
                count = 0
                for key in keys:
                    column = sql.Identifier(key)
                    cur.execute(sql.SQL("SELECT DISTINCT {}::text FROM {}").format(column, table))
                    chosen = sorted(select(r[0] for r in cur.fetchall() if r[0] is not None))
                    if not chosen:
                        continue
                    verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
                    query = sql.SQL(verb + " {} WHERE {}::text = ANY(%s)")
                    cur.execute(query.format(table, column), (chosen,))
                    count += int(cur.fetchone()[0]) if dry_run else cur.rowcount
                if count:
                    removed[view] = count
        return removed

    def uri(self, view: str) -> str:
        store = self.config.offline_store
        return f"postgresql://{store.host}:{store.port}/{store.database}/{self.schema}.{view}"

    def data_source(self, *, name: str, view: str, timestamp_column: str, description: str) -> DataSource:
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

        self._table(view)  # the length check
        table = f"{_quote(self.schema)}.{_quote(view)}"
        return PostgreSQLSource(name=name, table=table, timestamp_field=timestamp_column, description=description)

    def location(self, source: DataSource) -> str:
        return str(source.get_table_query_string())

    def historical(self, store: FeatureStore, entity_df: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
        """The entity rows are bulk-loaded (COPY) into a table of their own and analysed; Feast
        writes its point-in-time query over them (``entity_select_mode: embed_query``), and the
        query runs here with nested loops off: its CTEs carry no statistics, so PostgreSQL
        guesses a handful of rows and picks a nested loop that is quadratic in the entity rows
        (50k rows: minutes instead of a second)."""
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import EntitySelectMode
        from psycopg import sql

        mode = self.config.offline_store.entity_select_mode
        if mode != EntitySelectMode.embed_query:
            raise FeatureStoreError(
                f"feature_store.yaml: offline_store.entity_select_mode is {mode.value!r}; the PostgreSQL offline "
                "source needs 'embed_query' (the entity rows are loaded into a table of their own)"
            )
        name = f"entity_rows_{uuid.uuid4().hex[:16]}"
        table = sql.Identifier(self.schema, name)
        columns = [(column, _postgres_type(entity_df[column]), True) for column in entity_df.columns]
        with self.connect("loading the entity rows") as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            _load_table(cur, table, columns, entity_df)
            quoted = table.as_string(conn)
        try:
            with warnings.catch_warnings():
                # Feast reads the entity query's columns with pandas.read_sql on a psycopg connection.
                warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy", category=UserWarning)
                job = store.get_historical_features(entity_df=f"SELECT * FROM {quoted}", features=refs)
                query = job.to_sql()
            with self.connect("the point-in-time join") as conn, conn.cursor() as cur:
                cur.execute("SET LOCAL enable_nestloop = off")
                cur.execute(query)
                names = [d.name for d in cur.description or []]
                return pd.DataFrame(cur.fetchall(), columns=names)
        finally:
            with self.connect(f"dropping {quoted}") as conn:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    def timestamp_range(self, source: DataSource) -> tuple[pd.Timestamp, pd.Timestamp]:
        from psycopg import sql

        table, column = self.location(source), source.timestamp_field
        query = sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(c=sql.Identifier(column), t=sql.SQL(table))
        with self.connect(f"reading the event times of {table}") as conn:
            row = conn.execute(query).fetchone()
        if row is None or row[0] is None:
            raise FeatureStoreError(f"offline source {table} is empty: nothing to put online")
        return pd.Timestamp(row[0]).tz_convert("UTC"), pd.Timestamp(row[1]).tz_convert("UTC")

    @staticmethod
    def source_class() -> type[DataSource]:
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

        return PostgreSQLSource


# The explicit registry: Feast offline store type -> where a build puts its offline source.
OFFLINE_SOURCES: dict[str, type[OfflineSource]] = {
    cls.store_type: cls for cls in (ParquetOfflineSource, PostgresOfflineSource)
}


def offline_source_for(state_dir: Path, config: RepoConfig) -> OfflineSource:
    """The offline source of the store ``config`` describes (its ``offline_store.type``)."""
    kind = str(config.offline_store.type)
    try:
        cls = OFFLINE_SOURCES[kind]
    except KeyError:
        raise FeatureStoreError(
            f"feature_store.yaml: offline_store.type {kind!r} has no offline source here "
            f"(expected one of {', '.join(OFFLINE_SOURCES)})"
        ) from None
    return cls(state_dir, config)


__all__ = [
    "OFFLINE_SOURCES",
    "POSTGRES_TYPES",
    "OfflineSource",
    "ParquetOfflineSource",
    "PostgresOfflineSource",
    "offline_source_for",
    "parquet_path",
]
