"""Shadow mode: mirror primary requests to the challenger and log both predictions.

``mirror``  :class:`ShadowMirror` — bounded queue, drops counted, per-call timeout, off the hot path
``process`` :class:`ProcessChallenger` — the challenger scoring in a child process (no GIL shared)
``store``   :class:`ComparisonStore` — the ``shadow_pairs`` table (SQLite, WAL) the report reads

The report over that table, for ``mlops shadow report`` (not imported here: only the command needs it):

``analysis`` :class:`~serving.shadow.analysis.ShadowReport`, ``analyse`` — the comparison and the
             promote / keep-shadowing / reject decision (no I/O)
``html``     ``render_html`` — the report as one self-contained page
``report``   ``report_from_store``, ``write_report`` — store in, ``shadow_report.json`` / ``.html`` out
"""

from serving.shadow.mirror import ShadowMirror
from serving.shadow.process import ProcessChallenger
from serving.shadow.store import ComparisonStore, ShadowPair, comparison_store_path

__all__ = ["ComparisonStore", "ProcessChallenger", "ShadowMirror", "ShadowPair", "comparison_store_path"]
