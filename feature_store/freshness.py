"""How old the newest online value of each feature view is.

Feast's registry records two things about materialisation: each view's materialisation
intervals (``FeatureView.most_recent_end_time`` is the end of the latest: the event time up to
which the view was materialised) and ``last_updated_timestamp`` (wall clock, set by every
materialisation and by every apply). Neither is the age of the data itself: ``feast
materialize-incremental`` (the cluster's CronJob) ends its interval at the moment it runs, so a
source that stopped receiving rows would still look fresh from the registry alone.

So the figure reported is read back from the data. The view's latest materialisation interval
(the whole materialised span when that interval holds no rows) is pulled from the offline
store with the query materialisation itself runs (``pull_latest_from_table_or_query``: the
latest row per entity); the ``sample`` entities with the newest event times are then read
from the online store with their event timestamps (``to_dict(include_event_timestamps=True)``),
and the newest timestamp found online is the view's newest value. Its age is ``now`` minus it.
When the read-back is impossible (the offline source is gone or unreachable), the registry's
``most_recent_end_time`` stands in and ``basis`` says so. A view never materialised is
reported as such, with no age.

Feast is imported inside the functions: importing it costs seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from feature_store.config import FeatureConfig
from feature_store.registry import repo_config
from mlops.errors import FeatureStoreError
from mlops.state import StateLayout

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.data_source import DataSource

# Entities read back per view: the newest few are enough to find the newest value, and a few
# more show whether the online store lost rows materialisation wrote.
DEFAULT_SAMPLE = 100
FreshnessBasis = Literal["online", "registry", "never"]


@dataclass(frozen=True)
class FreshnessResult:
    """The freshness of one feature view.

    ``newest_value`` is the newest event time found online (basis ``online``) or, when that
    could not be read, the registry's materialised-until time (basis ``registry``); ``age_s``
    is ``now`` minus it. ``materialized_until`` and ``registry_updated`` are what Feast's
    registry records (``registry_updated`` is also bumped by an apply: Feast keeps no separate
    wall-clock time of a materialisation). ``sampled``/``missing_online``: entities read back,
    and how many of them had no online value.
    """

    feature_view: str
    basis: FreshnessBasis
    newest_value: datetime | None
    age_s: float | None
    materialized_until: datetime | None
    registry_updated: datetime | None
    sampled: int = 0
    missing_online: int = 0
    note: str = ""

    @property
    def materialized(self) -> bool:
        return self.basis != "never"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("newest_value", "materialized_until", "registry_updated"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        out["materialized"] = self.materialized
        return out


def _utc(value: datetime | None) -> datetime | None:
    """Feast's registry hands back naive datetimes in UTC (as its own freshness gauge assumes)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _registry_missing(state_dir: Path, config: FeatureConfig | None, environment: str) -> bool:
    """A local file registry that does not exist yet: nothing was ever applied.

    Checked before opening the store, which would create an empty registry file as a side effect.
    """
    registry = repo_config(state_dir, config, environment=environment).registry
    return getattr(registry, "registry_type", "file") == "file" and not Path(str(registry.path)).exists()


def _views(store: FeatureStore) -> list[FeatureView]:
    views: dict[str, FeatureView] = {}
    for view in [*store.list_feature_views(), *store.list_stream_feature_views()]:
        views.setdefault(view.name, view)
    return [views[name] for name in sorted(views)]


def _newest_offline(store: FeatureStore, view: FeatureView, source: DataSource, start: datetime, end: datetime) -> Any:
    """The latest row per entity in ``[start, end]``, as materialisation selects them (a frame)."""
    job = store._get_provider().offline_store.pull_latest_from_table_or_query(
        config=store.config,
        data_source=source,
        join_key_columns=view.join_keys,
        feature_name_columns=[f.name for f in view.features],
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
        start_date=start,
        end_date=end,
    )
    return job.to_df()


def _read_back(store: FeatureStore, view: FeatureView, sample: int) -> tuple[datetime | None, int, int, str]:
    """(newest online event time, entities sampled, of them missing online, note)."""
    from feast.online_response import TIMESTAMP_POSTFIX

    if not view.join_keys:
        raise FeatureStoreError("the view has no entity to read back by")
    source = view.batch_source
    if source is None:
        raise FeatureStoreError("the view has no batch source to find its newest rows in")
    intervals = sorted(view.materialization_intervals, key=lambda i: i[1])
    latest_start, end = intervals[-1]
    ts = source.timestamp_field
    rows = _newest_offline(store, view, source, latest_start, end)
    if rows.empty and len(intervals) > 1:
        # The latest run found nothing new (a late source): look over everything materialised.
        rows = _newest_offline(store, view, source, min(i[0] for i in intervals), end)
    if rows.empty:
        return None, 0, 0, "no rows in the materialised interval of the offline source"
    newest = rows.nlargest(sample, ts)
    entity_rows = newest[view.join_keys].to_dict("records")
    feature = view.features[0].name
    got = store.get_online_features(features=[f"{view.name}:{feature}"], entity_rows=entity_rows).to_dict(
        include_event_timestamps=True
    )
    # Online event times are whole seconds; 0 means the entity has no value online.
    stamps = [int(s) for s in got[f"{feature}{TIMESTAMP_POSTFIX}"] if s]
    missing = len(entity_rows) - len(stamps)
    online = datetime.fromtimestamp(max(stamps), UTC) if stamps else None
    offline = _utc(newest[ts].max().to_pydatetime())
    note = ""
    if missing:
        note = f"{missing} of {len(entity_rows)} sampled entities have no online value"
    if online is not None and offline is not None and (offline - online).total_seconds() >= 1:
        note = "; ".join(
            filter(None, [note, f"the online store lags its materialised source (newest there {offline.isoformat()})"])
        )
    return online, len(entity_rows), missing, note


def view_freshness(
    store: FeatureStore, view: FeatureView, now: datetime, *, sample: int = DEFAULT_SAMPLE
) -> FreshnessResult:
    """The freshness of one view of ``store`` at ``now`` (see the module docstring)."""
    until = _utc(view.most_recent_end_time)
    updated = _utc(view.last_updated_timestamp)
    if until is None:
        return FreshnessResult(view.name, "never", None, None, None, updated, note="never materialised: nothing online")
    try:
        online, sampled, missing, note = _read_back(store, view, sample)
    except Exception as exc:  # any store's failure: the registry's figure still says something
        reason = f"read-back failed ({type(exc).__name__}: {exc}); age from the registry's materialised-until"
        return FreshnessResult(view.name, "registry", until, (now - until).total_seconds(), until, updated, note=reason)
    if online is None:
        note = f"{note}; age from the registry's materialised-until" if note else "age from the registry"
        return FreshnessResult(
            view.name, "registry", until, (now - until).total_seconds(), until, updated, sampled, missing, note
        )
    return FreshnessResult(
        view.name, "online", online, (now - online).total_seconds(), until, updated, sampled, missing, note
    )


def feature_freshness(
    state_dir: Path,
    config: FeatureConfig | None = None,
    environment: str = "dev",
    *,
    now: datetime | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> dict[str, FreshnessResult]:
    """Each feature view's freshness, by view name, in the store of the platform state folder
    ``state_dir`` (its Feast repo is ``StateLayout(state_dir).feast``).

    ``now`` (timezone-aware; default: the current time) is what ages are measured against. An
    empty dict when nothing was ever applied. A registry that cannot be read is a
    :class:`FeatureStoreError`.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise FeatureStoreError(f"now must be timezone-aware (got {now.isoformat()})")
    if sample < 1:
        raise FeatureStoreError(f"sample must be at least 1 entity (got {sample})")
    from feature_store.store import open_store

    feast_dir = StateLayout(state_dir).feast
    if _registry_missing(feast_dir, config, environment):
        return {}
    try:
        store = open_store(feast_dir, config, environment=environment)
        views = _views(store)
    except FeatureStoreError:
        raise
    except Exception as exc:  # Redis/Postgres/SQL registry errors alike: one line naming the store
        raise FeatureStoreError(
            f"cannot read the feature registry of {environment!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return {view.name: view_freshness(store, view, now, sample=sample) for view in views}


__all__ = ["DEFAULT_SAMPLE", "FreshnessBasis", "FreshnessResult", "feature_freshness", "view_freshness"]
