from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def govern(
    model: Input[Model],
    training_set: Input[Dataset],
    holdout: Input[Dataset],
    roles: str,
    platform_config: str,
    run_dir: str,
    governance: Output[Artifact],
) -> NamedTuple("GovernOutputs", [("passed", bool), ("fairness", str)]):
    """The fairlearn gate per sensitive attribute and SHAP global importance (for the card)."""
    from model_governance.step import govern_step

    return govern_step(model.path, training_set.path, holdout.path, roles, platform_config, run_dir, governance.path)
