"""Benchmarks behind ``make bench``; each writes one JSON report (``--out``).

- :mod:`~performance.benchmarks.gx_gate`: the data-quality gate on a large frame;
- :mod:`~performance.benchmarks.feast_store`: Feast apply / materialise / retrieval / online reads (SQLite, Redis);
- :mod:`~performance.benchmarks.batch`: batch scoring in process, embedded and on Spark;
- :mod:`~performance.benchmarks.online`: online serving at a fixed rate, shadow on/off and faults;
- :mod:`~performance.benchmarks.serving_limits`: ``/healthz`` while oversized bodies arrive;
- :mod:`~performance.benchmarks.pipeline`: ``mlops run training`` on the bundled sample.

What they score and send comes from :mod:`~performance.benchmarks.workload`.
"""

__all__ = ["batch", "feast_store", "gx_gate", "online", "pipeline", "report", "serving_limits", "workload"]
