"""KFP pipelines composed from the components: training and batch inference."""

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
