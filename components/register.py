from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    training_set: Input[Dataset],
    quality_report: Input[HTML],
    quality_summary: Input[Artifact],
    roles: str,
    platform_config: str,
    run_dir: str,
    serving_schema: str,
    schema_hash: str,
    training_fingerprint: str,
    holdout_description: str,
    dataset_hash: str,
    feature_refs: str,
    evaluation: str,
    evaluation_passed: bool,
    governance_passed: bool,
    registration: Output[Artifact],
) -> bool:
    """MLflow registry: next semantic version, lineage record, quality report attached.

    Returns whether every gate passed (the single output the promote condition reads);
    the model name and version go to the ``registration`` artifact.
    """
    from mlops.steps import register_step

    return register_step(
        model=model.path,
        training_set=training_set.path,
        reports={"quality": quality_report.path},
        quality_summary=quality_summary.path,
        roles=roles,
        platform_config=platform_config,
        run_dir=run_dir,
        serving_schema=serving_schema,
        schema_hash=schema_hash,
        training_fingerprint=training_fingerprint,
        holdout_description=holdout_description,
        dataset_hash=dataset_hash,
        feature_refs=feature_refs,
        evaluation=evaluation,
        evaluation_passed=evaluation_passed,
        governance_passed=governance_passed,
        out_registration=registration.path,
    )
