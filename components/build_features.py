from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def build_features(
    dataset: Input[Dataset], roles: str, platform_config: str, run_dir: str, training_set: Output[Dataset]
) -> NamedTuple("FeatureOutputs", [("feature_refs", str), ("rows", int)]):
    """Feast: apply definitions, materialise, point-in-time training set (row counts checked)."""
    from feature_store.step import build_features_step

    return build_features_step(dataset.path, roles, platform_config, run_dir, training_set.path)
