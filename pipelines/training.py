"""The training pipeline: ingest → validate (gate) → anonymise → features → train →
evaluate → govern → register → promote to ``challenger`` when every gate passes."""

from kfp import dsl

from components.anonymize import anonymize
from components.build_features import build_features
from components.evaluate import evaluate
from components.govern import govern
from components.ingest import ingest
from components.promote import promote
from components.register import register
from components.train import train
from components.validate_data import validate_data

PIPELINE_NAME = "training"


@dsl.pipeline(name=PIPELINE_NAME, description="Validated, anonymised, governed training with semantic registration.")
def training_pipeline(dataset_config: str, platform_config: str, run_dir: str = "") -> None:
    """``dataset_config`` and ``platform_config`` are the validated configs as JSON.

    ``run_dir`` is where steps record progress for the CLI (local runs); empty on a cluster.
    """
    ing = ingest(dataset_config=dataset_config, run_dir=run_dir)
    val = validate_data(
        dataset=ing.outputs["dataset"],
        roles=ing.outputs["roles"],
        dataset_config=dataset_config,
        platform_config=platform_config,
        run_dir=run_dir,
    )
    with dsl.If(val.outputs["Output"] == True, name="data-quality-gate"):  # noqa: E712 - KFP condition, not a bool
        anon = anonymize(
            dataset=val.outputs["clean"],
            dataset_config=dataset_config,
            platform_config=platform_config,
            run_dir=run_dir,
        )
        feats = build_features(
            dataset=anon.outputs["anonymized"],
            roles=ing.outputs["roles"],
            platform_config=platform_config,
            run_dir=run_dir,
        )
        fit = train(
            training_set=feats.outputs["training_set"],
            roles=ing.outputs["roles"],
            platform_config=platform_config,
            run_dir=run_dir,
        )
        ev = evaluate(
            model=fit.outputs["model"],
            holdout=fit.outputs["holdout"],
            roles=ing.outputs["roles"],
            schema_hash=fit.outputs["schema_hash"],
            platform_config=platform_config,
            run_dir=run_dir,
        )
        gov = govern(
            model=fit.outputs["model"],
            training_set=feats.outputs["training_set"],
            holdout=fit.outputs["holdout"],
            roles=ing.outputs["roles"],
            evaluation=ev.outputs["evaluation"],
            platform_config=platform_config,
            run_dir=run_dir,
        )
        reg = register(
            model=fit.outputs["model"],
            training_set=feats.outputs["training_set"],
            quality_report=val.outputs["report"],
            quality_summary=val.outputs["summary"],
            card_markdown=gov.outputs["card_markdown"],
            card_html=gov.outputs["card_html"],
            roles=ing.outputs["roles"],
            platform_config=platform_config,
            run_dir=run_dir,
            serving_schema=fit.outputs["serving_schema"],
            schema_hash=fit.outputs["schema_hash"],
            training_fingerprint=fit.outputs["training_fingerprint"],
            dataset_hash=ing.outputs["dataset_hash"],
            feature_refs=feats.outputs["feature_refs"],
            evaluation=ev.outputs["evaluation"],
            evaluation_passed=ev.outputs["passed"],
            governance_passed=gov.outputs["passed"],
        )
        with dsl.If(reg.outputs["Output"] == True, name="all-gates-passed"):  # noqa: E712
            promote(
                registration=reg.outputs["registration"],
                platform_config=platform_config,
                run_dir=run_dir,
            )
