"""The training pipeline: ingest (PII anonymised as it is read) → validate (gate) → features →
train → evaluate → govern → register → model card → promote to ``challenger`` when every gate
passes."""

from kfp import dsl

from components.build_features import build_features
from components.evaluate import evaluate
from components.govern import govern
from components.ingest import ingest
from components.model_card import model_card
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
    ing = ingest(dataset_config=dataset_config, platform_config=platform_config, run_dir=run_dir)
    val = validate_data(
        dataset=ing.outputs["dataset"],
        roles=ing.outputs["roles"],
        dataset_config=dataset_config,
        platform_config=platform_config,
        run_dir=run_dir,
    )
    with dsl.If(val.outputs["Output"] == True, name="data-quality-gate"):  # noqa: E712 - KFP condition, not a bool
        feats = build_features(
            dataset=val.outputs["clean"],
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
            platform_config=platform_config,
            run_dir=run_dir,
        )
        reg = register(
            model=fit.outputs["model"],
            training_set=feats.outputs["training_set"],
            quality_report=val.outputs["report"],
            quality_summary=val.outputs["summary"],
            roles=ing.outputs["roles"],
            platform_config=platform_config,
            run_dir=run_dir,
            serving_schema=fit.outputs["serving_schema"],
            schema_hash=fit.outputs["schema_hash"],
            training_fingerprint=fit.outputs["training_fingerprint"],
            holdout_description=fit.outputs["holdout_description"],
            dataset_hash=ing.outputs["dataset_hash"],
            feature_refs=feats.outputs["feature_refs"],
            evaluation=ev.outputs["evaluation"],
            evaluation_passed=ev.outputs["passed"],
            governance_passed=gov.outputs["passed"],
        )
        # The card is rendered for the registered version (version, gates, lineage), passing or not.
        card = model_card(
            governance=gov.outputs["governance"],
            registration=reg.outputs["registration"],
            evaluation=ev.outputs["evaluation"],
            dataset_config=dataset_config,
            platform_config=platform_config,
            run_dir=run_dir,
        )
        with dsl.If(reg.outputs["Output"] == True, name="all-gates-passed"):  # noqa: E712
            promote(
                registration=reg.outputs["registration"],
                platform_config=platform_config,
                run_dir=run_dir,
            ).after(card)
