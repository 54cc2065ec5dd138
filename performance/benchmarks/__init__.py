"""Benchmarks behind ``make bench``; each writes one JSON report (``--out``).

- :mod:`~performance.benchmarks.gx_gate`: the data-quality gate on a large frame;
- :mod:`~performance.benchmarks.feast_store`: Feast apply / materialise / retrieval / online reads (SQLite, Redis);
- :mod:`~performance.benchmarks.batch`: batch scoring in process, embedded and on Spark;
- :mod:`~performance.benchmarks.online`: online serving at a fixed rate, shadow on/off and faults;
- :mod:`~performance.benchmarks.serving_limits`: ``/healthz`` while oversized bodies arrive;
- :mod:`~performance.benchmarks.pipeline`: ``mlops run training`` on the bundled sample;
- :mod:`~performance.benchmarks.drift`: drift (Evidently) of 100k / 1M rows x 50 columns against a reference;
- :mod:`~performance.benchmarks.prediction_log`: the prediction log's hot-path cost and writer throughput;
- :mod:`~performance.benchmarks.triggers`: from a drift-firing trigger to a started training run.

What they score and send comes from :mod:`~performance.benchmarks.workload`.
"""

__all__ = [
    "batch",
    "drift",
    "feast_store",
    "gx_gate",
    "online",
    "pipeline",
    "prediction_log",
    "report",
    "serving_limits",
    "triggers",
    "workload",
]
