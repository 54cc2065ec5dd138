"""KFP pipelines composed from the components, and how they run.

training         training_pipeline (one parameter: the run's config)
batch_inference  batch_inference_pipeline, its compile and schedule arguments
submit           compile_training, submit_training (a KFP API server)
local            the kfp.local runner (``python -m pipelines.local``)
runs             start_local, follow, finish: local runs as the CLI starts and follows them
schedules        sync_schedules: recurring runs on a KFP API server, kept in step with a spec
"""

# Step order as the CLI shows it; each name is the one its step records under the run folder.
TRAINING_STEPS = [
    "ingest",
    "validate_data",
    "build_features",
    "train",
    "evaluate",
    "govern",
    "register",
    "model_card",
    "promote",
]

__all__ = ["TRAINING_STEPS", "batch_inference", "local", "runs", "schedules", "submit", "training"]
