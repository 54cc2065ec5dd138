"""Observability: what happens to a model once it serves.

    prediction_log  PredictionLogger, read_predictions: what serving and batch scored (sampled,
                    bounded memory, written off the hot path, never a PII column)
    labels          import_labels, join_labels: ground truth joined to predictions by entity id
    drift/          references saved at register time; Evidently drift of the log (or a batch
                    file) against them: HTML, drift.json, gauges
    quality         data-quality score and quarantined rows of each run, over time
    status          SloConfig, the SLOs judged by ``mlops monitor status``
    triggers/       retraining triggers (schedule, drift, decay, new data, schema change)
    costs/          step usage priced by config/cost_optimization.yaml, budgets, right-sizing
    metrics         the gauge names, written for scraping or pushed to a Pushgateway
    runbooks/       one page per alert rule (the Helm charts' PrometheusRules link to them)

Heavy libraries (evidently, pyarrow, pandas) are imported inside the functions that use them.
"""

__all__ = ["costs", "drift", "labels", "metrics", "prediction_log", "quality", "status", "triggers"]
