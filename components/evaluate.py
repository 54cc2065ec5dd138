from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def evaluate(
    config: str,
    model: Input[Model],
    holdout: Input[Dataset],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """Holdout metrics against the gate and the current champion; the ``evaluation`` artifact
    carries the :class:`~mlops.contracts.Evaluation`. Returns whether the gate passed."""
    from pathlib import Path

    from mlops.contracts import DataContract, TrainedModel, publish, read_contract
    from platform_config import RunConfig
    from training.steps import evaluate_step

    platform = RunConfig.parse(config).platform
    result = evaluate_step(
        platform.evaluation,
        platform.open_registry(),
        read_contract(holdout.metadata, DataContract, artifact="holdout"),
        read_contract(model.metadata, TrainedModel, artifact="model"),
        Path(model.path),
        Path(holdout.path),
        metrics=metrics.log_metric,
    )
    Path(evaluation.path).write_text(result.model_dump_json(indent=2))
    publish(evaluation.metadata, result)
    return result.passed
