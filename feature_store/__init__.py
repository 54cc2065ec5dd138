"""Feature store room: Feast definitions built from a dataset's schema.

    definitions/      Entity, FileSource, FeatureView, FeatureService from column dtypes
    transformations/  offline-source preparation (dtype coercion, parquet write; pure pandas)
    offline.py        where the offline source goes, by the Feast offline store type: a parquet
                      file (dev) or a PostgreSQL table (local-stack, cluster)
    registry/         feature_store.yaml templates per environment and the RepoConfig loader
    store.py          build_training_set (apply, materialise, point-in-time join, row checks)
                      and online reads
    freshness.py      feature_freshness: age of the newest online value per feature view
    unchecked.py      Feast imported without typeguard's run-time checks (5 s of CPU less)

Importing the package stays cheap: Feast (seconds to import) loads inside the functions.
"""

from feature_store.unchecked import install as _install_unchecked

_install_unchecked()

__all__ = ["config", "definitions", "freshness", "offline", "registry", "step", "store", "transformations", "unchecked"]
