"""The drift reference of a registered version, made from what it was trained on.

Called once the registry has numbered the version (the register component): the training set's
serving features (never a PII column: only the serving schema's features, minus its ``pii``),
the version's own scores on those rows (the prediction reference), and the labels (the
performance reference).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops.contracts import DataContract, TrainedModel, load_model
from observability.drift.reference import DEFAULT_PREDICTION_NAME, build_reference, reference_dir, save_reference


def save_training_reference(
    model_path: Path,
    training_set_path: Path,
    trained: TrainedModel,
    data: DataContract,
    *,
    state_dir: Path,
    model_name: str,
    version: str,
) -> Path:
    """Build and save the reference of ``model_name`` ``version``; returns its folder."""
    schema, roles = trained.serving_schema, data.roles
    training_set = pd.read_parquet(training_set_path)
    model = load_model(model_path)
    pii = set(schema.pii)
    numeric = [c for c in schema.numeric if c not in pii]
    categorical = [c for c in schema.categorical if c not in pii]
    scores = model.predict_proba(training_set[schema.columns])[:, 1]
    # The scores are stored beside the features under a name of their own: a dataset may well
    # have a feature (a credit score) or its target named "score".
    prediction = DEFAULT_PREDICTION_NAME
    while prediction in {*numeric, *categorical, roles.target}:
        prediction = f"_{prediction}"
    reference = build_reference(
        training_set,
        numeric=numeric,
        categorical=categorical,
        prediction=pd.Series(scores, index=training_set.index, name=prediction),
        target=training_set[roles.target],
        positive_label=roles.positive_label,
    )
    return save_reference(reference, reference_dir(state_dir, model_name, version))


__all__ = ["save_training_reference"]
