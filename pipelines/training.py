"""The training pipeline: ingest (PII anonymised as it is read) → validate (gate) → features →
train → evaluate → govern → register → model card → promote to ``challenger`` when every gate
passes.

One parameter, ``config``: the run's :class:`~platform_config.RunConfig` as JSON (platform and
dataset config), validated once by each step. Everything else a step needs rides on its input
artifacts as typed contracts; the local run folder comes from the runner's environment.
"""

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
def training_pipeline(config: str) -> None:
    ing = ingest(config=config)
    val = validate_data(config=config, dataset=ing.outputs["dataset"])
    with dsl.If(val.outputs["Output"] == True, name="data-quality-gate"):  # noqa: E712 - KFP condition, not a bool
        feats = build_features(config=config, dataset=val.outputs["clean"])
        fit = train(config=config, training_set=feats.outputs["training_set"])
        ev = evaluate(config=config, model=fit.outputs["model"], holdout=fit.outputs["holdout"])
        gov = govern(
            config=config,
            model=fit.outputs["model"],
            training_set=feats.outputs["training_set"],
            holdout=fit.outputs["holdout"],
        )
        reg = register(
            config=config,
            model=fit.outputs["model"],
            training_set=feats.outputs["training_set"],
            holdout=fit.outputs["holdout"],
            quality_report=val.outputs["report"],
            evaluation=ev.outputs["evaluation"],
            governance=gov.outputs["governance"],
        )
        # The card is rendered for the registered version (version, gates, lineage), passing or not.
        card = model_card(
            config=config,
            governance=gov.outputs["governance"],
            registration=reg.outputs["registration"],
            evaluation=ev.outputs["evaluation"],
        )
        with dsl.If(reg.outputs["Output"] == True, name="all-gates-passed"):  # noqa: E712
            promote(config=config, registration=reg.outputs["registration"]).after(card)
