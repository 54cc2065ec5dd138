"""Training: datasets (ingest, column roles, the bundled sample), model families, and the
ingest / train / evaluate pipeline steps."""

from training.steps import Anonymiser, evaluate_step, ingest_step, train_step

__all__ = ["Anonymiser", "evaluate_step", "ingest_step", "train_step"]
