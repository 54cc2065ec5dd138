"""Rebuild the online store from the offline sources: what to do when the online store is lost.

Every feature view in the registry is materialised again over the same window a build uses
(its offline source's newest rows, ``features.online_window_days`` back), so after a rebuild
the online store answers exactly as it did after the builds. The offline sources and the
registry are the truth; the online store is a cache of them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from feature_store.config import FeatureConfig
from feature_store.offline import offline_source_for
from feature_store.store import materialization_window, open_store
from mlops.errors import FeatureStoreError
from mlops.state import StateLayout

if TYPE_CHECKING:
    from feast import FeatureStore


@dataclass(frozen=True)
class RebuiltView:
    view: str
    source: str
    start: datetime
    end: datetime
    seconds: float


def _views(store: FeatureStore, names: list[str] | None) -> list[Any]:
    views = store.list_feature_views()
    if names is None:
        return list(views)
    known = {v.name: v for v in views}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise FeatureStoreError(
            f"no feature view {', '.join(unknown)} in the registry (known: {', '.join(sorted(known)) or 'none'})"
        )
    return [known[n] for n in names]


def rebuild_online(
    state_dir: Path,
    config: FeatureConfig | None = None,
    *,
    environment: str = "dev",
    views: list[str] | None = None,
) -> list[RebuiltView]:
    """Materialise every feature view (or ``views``) of the platform state folder's store again."""
    config = config or FeatureConfig()
    feast_dir = StateLayout(state_dir).feast
    store = open_store(feast_dir, config, environment=environment)
    offline = offline_source_for(feast_dir, store.config)
    chosen = _views(store, views)
    # Applying the registry's own views again recreates their online tables (a lost store has none).
    store.apply(chosen)
    rebuilt: list[RebuiltView] = []
    for view in chosen:
        # The offline store of the environment must be able to read the view's source.
        source = offline.check_kind(view.batch_source, view.name)
        where = offline.location(source)
        begun = time.perf_counter()
        start, end = materialization_window(pd.Series(offline.timestamp_range(source)), config)
        # Feast prints its progress: to stderr, so a caller's stdout (e.g. --json) stays clean.
        with contextlib.redirect_stdout(sys.stderr):
            store.materialize(start_date=start, end_date=end, feature_views=[view.name])
        rebuilt.append(RebuiltView(view.name, where, start, end, time.perf_counter() - begun))
    return rebuilt


__all__ = ["RebuiltView", "rebuild_online"]
