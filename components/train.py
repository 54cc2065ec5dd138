from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def train(
    training_set: Input[Dataset],
    roles: str,
    platform_config: str,
    run_dir: str,
    model: Output[Model],
    holdout: Output[Dataset],
) -> NamedTuple(
    "TrainOutputs",
    [("serving_schema", str), ("schema_hash", str), ("training_fingerprint", str), ("holdout_description", str)],
):
    """Fit the configured scikit-learn model on all but the holdout share (the latest by event
    time, or a seeded stratified sample when the data has no event time)."""
    from mlops.steps import train_step

    return train_step(training_set.path, roles, platform_config, run_dir, model.path, holdout.path)
