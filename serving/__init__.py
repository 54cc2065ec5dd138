"""Serving room: the online app, shadow mode, A/B routing and batch inference.

Each module says what it exports in its ``__all__``; in short:

    app         create_app (the FastAPI app around loaded models), REQUEST_ID_HEADER
    server      what ``mlops serve`` runs: ServingApp, build_app, uvicorn_config, run_server,
                serve_command, limit_native_threads
    models      LoadedModel, LoadedModels, load_models (champion and challenger from the registry)
    schemas     request and response models generated from a serving schema: build_request_models,
                RequestModels, PredictResponse, BatchPredictResponse, RowPrediction, MAX_BATCH_ROWS
    scoring     Scorer, Scored: the prediction path (features, model input, variants, shadow offer)
    prediction  add_prediction_routes: POST /predict and /predict/batch; ERROR_RESPONSES
    direct      ServingApi: the app's class, POST /predict past FastAPI's per-request stack
    responses   answer, failure, validation_handler: the request id and every error answer
    probes      add_probe_routes: /healthz, /readyz, /ab, /metrics
    body        OffLoopBodyRoute, parse_body: bodies parsed and validated off the event loop
    limits      RequestLimits, BodyLimitMiddleware, OnRefused, KIB, MIB: what a request may cost
    protocol    GuardedHttpToolsProtocol, BODY_GRACE_S: header and body read deadlines in uvicorn
    metrics     ServingMetrics, LATENCY_BUCKETS: the app's Prometheus registry
    ab          AbRouter, VariantTally, VariantStats, assign_variant, bucket: sticky A/B routing
    config      AbTestingConfig, ShadowPolicyConfig: the schemas of config/ab_testing.yaml, shadow.yaml
    shadow/     ShadowMirror, ProcessChallenger, ComparisonStore, ShadowPair, comparison_store_path;
                shadow.analysis (ShadowReport, analyse), shadow.html (render_html) and
                shadow.report (report_from_store, write_report): ``mlops shadow report``
    batch/      predict_batch and its engines (embedded, Spark), manifests and retention

Nothing is imported here, so importing one module (``serving.batch`` in a pipeline step,
``serving.server`` in the CLI) loads only what that module needs. ``__all__`` lists the modules.
"""

__all__ = [
    "ab",
    "app",
    "batch",
    "body",
    "config",
    "direct",
    "limits",
    "metrics",
    "models",
    "prediction",
    "probes",
    "protocol",
    "responses",
    "schemas",
    "scoring",
    "server",
    "shadow",
]
