"""The ``govern`` pipeline step: fairness gate, SHAP importance and the model card."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from mlops.config import PlatformConfig
from mlops.datasets import Roles
from mlops.modeling import FeatureSchema
from mlops.state import record_step


def govern_step(
    model_path: str,
    training_set: str,
    holdout: str,
    roles_json: str,
    evaluation: str,
    platform_config: str,
    run_dir: str,
    out_markdown: str,
    out_html: str,
) -> tuple[bool, str]:
    """Write the card; returns (fairness gate passed, fairness report JSON)."""
    from mlops.training import load_model
    from model_governance.cards import ChampionComparison
    from model_governance.govern import govern, training_data_summary

    platform = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    ev = json.loads(evaluation)
    with record_step(run_dir, "govern") as rec:
        model = load_model(Path(model_path))
        test = pd.read_parquet(holdout)
        columns = FeatureSchema.from_roles(roles.features, roles.categorical).columns
        result = govern(
            model,
            test[columns],
            test[roles.target].astype(int),
            test[roles.sensitive],
            gate=platform.fairness,
            model_name=roles.name,
            training_data=training_data_summary(
                pd.read_parquet(training_set),
                dataset_name=roles.name,
                target=roles.target,
                features=columns,
                timestamp_column=roles.timestamp,
            ),
            metrics={k: v for k, v in ev["metrics"].items() if not math.isnan(v)},
            champion=ChampionComparison(
                champion_version=ev["champion"],
                primary_metric=platform.evaluation.metric,
                champion_metrics=ev["champion_metrics"],
                max_regression=platform.evaluation.max_regression,
            ),
            gates={"data_quality": True, "evaluation": bool(ev["passed"])},
            model_family=platform.model.family,
            model_params=dict(platform.model.params),
        )
        Path(out_markdown).write_text(result.card_markdown)
        Path(out_html).write_text(result.card_html)
        rec.attach(run_dir, "model_card.html", out_html)
        rec.attach(run_dir, "model_card.md", out_markdown)
        top = list(result.importance.index[:3])
        rec.figures.update(
            fairness="pass" if result.fairness.passed else "fail",
            attributes=len(result.fairness.per_attribute),
            top_features=", ".join(map(str, top)),
        )
        if not result.fairness.passed:
            rec.block("fairness gate: " + "; ".join(result.fairness.violations))
    return result.fairness.passed, json.dumps(result.fairness.to_dict())
