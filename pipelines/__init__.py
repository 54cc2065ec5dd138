"""KFP pipelines composed from the components (training; batch inference and retraining later)."""

# Step order as the CLI shows it; each name is the one its step records under the run folder.
TRAINING_STEPS = [
    "ingest",
    "validate_data",
    "anonymize",
    "build_features",
    "train",
    "evaluate",
    "govern",
    "register",
    "promote",
]
