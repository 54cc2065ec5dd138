from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def build_features(
    config: str, dataset: Input[Dataset], training_set: Output[Dataset], metrics: Output[Metrics]
) -> int:
    """Feast: apply definitions, materialise, point-in-time training set (row counts checked).
    Returns the training set's rows; its contract lists the feature references."""
    from pathlib import Path

    from feature_store.step import build_features_step
    from mlops.contracts import DataContract, publish, read_contract
    from platform_config import RunConfig

    platform = RunConfig.parse(config).platform
    data = build_features_step(
        read_contract(dataset.metadata, DataContract, artifact="dataset"),
        Path(dataset.path),
        Path(training_set.path),
        config=platform.features,
        state_dir=platform.state_dir,
        metrics=metrics.log_metric,
        environment=platform.environment,
        vault=platform.vault,
    )
    publish(training_set.metadata, data)
    return data.rows
