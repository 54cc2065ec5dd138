from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    holdout: Input[Dataset],
    roles: str,
    schema_hash: str,
    platform_config: str,
    run_dir: str,
) -> NamedTuple("EvaluateOutputs", [("passed", bool), ("evaluation", str)]):
    """Holdout metrics against the gate and the current champion."""
    from mlops.steps import evaluate_step

    return evaluate_step(model.path, holdout.path, roles, schema_hash, platform_config, run_dir)
