from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def govern(
    config: str,
    model: Input[Model],
    training_set: Input[Dataset],
    holdout: Input[Dataset],
    governance: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """The fairlearn gate per sensitive attribute and SHAP global importance (for the card).
    ``governance`` holds the assessment and carries the gate's
    :class:`~mlops.contracts.GateResult`; returns whether the gate passed."""
    from pathlib import Path

    from mlops.contracts import DataContract, TrainedModel, publish, read_contract
    from model_governance.step import govern_step
    from platform_config import RunConfig

    gate = govern_step(
        RunConfig.parse(config).platform.fairness,
        read_contract(training_set.metadata, DataContract, artifact="training_set"),
        read_contract(model.metadata, TrainedModel, artifact="model"),
        Path(model.path),
        Path(training_set.path),
        Path(holdout.path),
        Path(governance.path),
        metrics=metrics.log_metric,
    )
    publish(governance.metadata, gate)
    return gate.passed
