"""Observability: the prediction log, drift (Evidently), feature freshness and data quality over
time, retraining triggers, cost tracking, and the alert rules and dashboards that watch them.

Heavy libraries (evidently, pyarrow) are imported inside the functions that use them.
"""

__all__: list[str] = []
