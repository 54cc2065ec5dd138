"""Shadow mode: mirror primary requests to the challenger and log both predictions.

``mirror``  :class:`ShadowMirror` — bounded queue, drops counted, per-call timeout, off the hot path
``store``   :class:`ComparisonStore` — the ``shadow_pairs`` table (SQLite, WAL) the report reads
"""

from serving.shadow.mirror import ShadowMirror
from serving.shadow.store import ComparisonStore, ShadowPair, comparison_store_path

__all__ = ["ComparisonStore", "ShadowMirror", "ShadowPair", "comparison_store_path"]
