from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def register(
    config: str,
    model: Input[Model],
    training_set: Input[Dataset],
    holdout: Input[Dataset],
    quality_report: Input[HTML],
    evaluation: Input[Artifact],
    governance: Input[Artifact],
    registration: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """MLflow registry: next semantic version, lineage record, quality report attached.

    Each input carries its contract (model, data, quality gate, evaluation, fairness gate).
    Returns whether every gate passed (the single output the promote condition reads); the
    ``registration`` artifact carries the :class:`~mlops.contracts.Registration`. The version's
    drift reference (training features, its scores, the labels) is saved beside it, and so is
    its compiled scorer when one verifies equal to the model on the ``holdout``.
    """
    from pathlib import Path

    from mlops.contracts import (
        DataContract,
        Evaluation,
        GateResult,
        QualityResult,
        TrainedModel,
        publish,
        read_contract,
    )
    from model_registry.steps import register_step
    from observability.drift import save_training_reference
    from platform_config import RunConfig

    run = RunConfig.parse(config)
    trained = read_contract(model.metadata, TrainedModel, artifact="model")
    data = read_contract(training_set.metadata, DataContract, artifact="training_set")
    registry = run.platform.open_registry()
    registered = register_step(
        registry,
        model=Path(model.path),
        trained=trained,
        training_set=Path(training_set.path),
        data=data,
        quality_report=Path(quality_report.path),
        quality=read_contract(quality_report.metadata, QualityResult, artifact="quality_report"),
        evaluation=read_contract(evaluation.metadata, Evaluation, artifact="evaluation"),
        governance=read_contract(governance.metadata, GateResult, artifact="governance"),
        reason=run.reason,
        metrics=metrics.log_metric,
        holdout=Path(holdout.path),
    )
    reference = save_training_reference(
        Path(model.path),
        Path(training_set.path),
        trained,
        data,
        state_dir=run.platform.state_dir,
        model_name=registered.model,
        version=registered.version,
    )
    # Kept with the version too: a pod elsewhere (the triggers' CronJob) fetches it from there.
    info = registry.get(registered.model, registered.version)
    registry.attach(info, sorted(reference.iterdir()), artifact_path="reference")
    Path(registration.path).write_text(registered.model_dump_json())
    publish(registration.metadata, registered)
    return registered.passed
