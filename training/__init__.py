"""Training: datasets (ingest, column roles, the bundled sample), model families, and the
ingest / train / evaluate pipeline steps.

    config       ModelConfig, EvaluationGate: this room's sections of the platform config
    datasets     ingest, decide_roles, prepare_features, target_labels
    modeling     the model families (build_pipeline)
    fit          train, evaluate (the evaluation gate against the champion)
    sample_data  the bundled credit-risk sample and its feature schema
    steps        ingest_step, train_step, evaluate_step (the pipeline steps)

Nothing is imported here: scikit-learn and pandas load with the modules that use them.
"""

__all__ = ["config", "datasets", "fit", "modeling", "sample_data", "steps"]
