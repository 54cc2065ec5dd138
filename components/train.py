from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def train(
    config: str, training_set: Input[Dataset], model: Output[Model], holdout: Output[Dataset], metrics: Output[Metrics]
) -> str:
    """Fit the configured scikit-learn model on all but the holdout share (the latest by event
    time, or a seeded stratified sample when the data has no event time). The model carries its
    :class:`~mlops.contracts.TrainedModel` (serving schema, hash, fingerprint); returns the hash."""
    from pathlib import Path

    from mlops.contracts import DataContract, publish, read_contract
    from platform_config import RunConfig
    from training.steps import train_step

    data = read_contract(training_set.metadata, DataContract, artifact="training_set")
    trained = train_step(
        RunConfig.parse(config).platform.model,
        data,
        Path(training_set.path),
        Path(model.path),
        Path(holdout.path),
        metrics=metrics.log_metric,
    )
    publish(model.metadata, trained)
    publish(holdout.metadata, data)
    return trained.schema_hash
