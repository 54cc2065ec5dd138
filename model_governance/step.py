"""The governance steps of the training pipeline.

``govern``: the fairness gate per sensitive attribute (numeric ones by their groups) and SHAP
importance, on the holdout. ``model_card``: once the registry has numbered the version, its
card, with version, gates and lineage, attached to the version and copied into the run folder.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.config import DatasetConfig, PlatformConfig
from mlops.datasets import Roles, group_labels
from mlops.state import record_step


def govern_step(
    model_path: str,
    training_set: str,
    holdout: str,
    roles_json: str,
    platform_config: str,
    run_dir: str,
    out_governance: str,
) -> tuple[bool, str]:
    """Write the assessment (and the training data summary) for the card; returns (fairness
    gate passed, fairness report JSON)."""
    from mlops.training import load_model, target_of
    from model_governance.govern import assess, training_data_summary

    platform = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    with record_step(run_dir, "govern") as rec:
        model = load_model(Path(model_path))
        test = pd.read_parquet(holdout)
        sensitive = pd.DataFrame(
            {s: group_labels(test[s], roles.sensitive_bins.get(s)) for s in roles.sensitive}, index=test.index
        )
        assessment = assess(
            model,
            test[roles.features],
            target_of(test, roles),
            sensitive,
            gate=platform.fairness,
            model_family=platform.model.family,
            model_params=dict(platform.model.params),
        )
        train_frame = pd.read_parquet(training_set)
        summary = training_data_summary(
            train_frame.assign(**{roles.target: target_of(train_frame, roles)}),
            dataset_name=roles.name,
            target=roles.target,
            features=roles.features,
            timestamp_column=roles.timestamp if roles.has_event_time else None,
            positive_label=roles.positive_label,
            left_out=roles.left_out,
        )
        Path(out_governance).write_text(
            json.dumps(
                {"assessment": json.loads(assessment.to_json()), "training_data": summary.model_dump(mode="json")}
            )
        )
        fairness = assessment.fairness
        top = list(assessment.importance.index[:3])
        verdict = fairness.summary() if roles.sensitive else "not assessed (no sensitive_attributes declared)"
        rec.figures.update(fairness=verdict, top_features=", ".join(map(str, top)))
        rec.notes += [f"fairness: {w}" for w in fairness.warnings]
        if not fairness.passed:
            rec.block("fairness gate: " + "; ".join(fairness.violations))
    return fairness.passed, json.dumps(fairness.to_dict())


def model_card_step(
    governance: str,
    registration: str,
    evaluation: str,
    dataset_config: str,
    platform_config: str,
    run_dir: str,
    out_markdown: str,
    out_html: str,
) -> str:
    """Render the registered version's card, attach it to the version; returns the version."""
    from mlops.steps import registry_for
    from model_governance.cards import ChampionComparison, TrainingData
    from model_governance.govern import Assessment, build_card

    platform = PlatformConfig.model_validate_json(platform_config)
    cfg = DatasetConfig.model_validate_json(dataset_config)
    registered = json.loads(Path(registration).read_text())
    saved = json.loads(Path(governance).read_text())
    ev = json.loads(evaluation)
    with record_step(run_dir, "model_card") as rec:
        registry = registry_for(platform)
        info = registry.get(registered["model"], registered["version"])
        lineage = registry.lineage(info)
        schema = info.schema
        training_data = TrainingData.model_validate(saved["training_data"]).model_copy(
            update={
                "description": cfg.description,
                "holdout": lineage.get("holdout"),
                "nullable_features": schema.nullable if schema is not None else [],
                "dataset_hash": lineage.get("dataset_hash"),
            }
        )
        gates = {k.removeprefix("gate."): v == "pass" for k, v in info.tags.items() if k.startswith("gate.")}
        gates.pop("fairness", None)  # decided by the assessment the card shows
        result = build_card(
            Assessment.from_json(json.dumps(saved["assessment"])),
            model_name=info.name,
            version=info.semver,
            training_data=training_data,
            metrics={k: v for k, v in ev["metrics"].items() if not math.isnan(v)},
            champion=ChampionComparison(
                champion_version=ev["champion"],
                primary_metric=platform.evaluation.metric,
                champion_metrics=ev["champion_metrics"],
                max_regression=platform.evaluation.max_regression,
            ),
            gates=gates,
            lineage=card_lineage(info.mlflow_version, info.run_id, info.tags.get("bump", ""), lineage),
            intended_use=cfg.intended_use,
            limitations=cfg.limitations or None,
        )
        md, html = Path(out_markdown), Path(out_html)
        md.write_text(result.card_markdown)
        html.write_text(result.card_html)
        with tempfile.TemporaryDirectory() as tmp:  # artifact paths have no suffix; the registry's files do
            named = [Path(tmp) / "model_card.md", Path(tmp) / "model_card.html"]
            named[0].write_text(result.card_markdown)
            named[1].write_text(result.card_html)
            registry.attach(info, named)
        rec.attach(run_dir, "model_card.html", out_html)
        rec.attach(run_dir, "model_card.md", out_markdown)
        rec.figures.update(model=info.name, version=info.semver, verdict="passed" if result.passed else "failed")
    return info.semver


def card_lineage(mlflow_version: str, run_id: str, bump: str, lineage: dict[str, Any]) -> dict[str, str]:
    """The lineage a reviewer reads on the card (plain strings; the full record is lineage.json)."""
    quality = lineage.get("data_quality") or {}
    rows: dict[str, Any] = {
        "MLflow model version": mlflow_version,
        "MLflow run": run_id,
        "Version bump": bump,
        "Dataset hash": lineage.get("dataset_hash"),
        "Training rows": lineage.get("training_rows"),
        "Holdout": lineage.get("holdout"),
        "Feature view": lineage.get("feature_view"),
        "Expectation suite": quality.get("suite_path") or quality.get("suite"),
        "Row pass rate": quality.get("row_pass_rate"),
        "Entity ids": lineage.get("entity_ids_artifact"),
        "Code version": lineage.get("code_version"),
        "Run folder": lineage.get("run_dir") or None,
    }
    return {k: str(v) for k, v in rows.items() if v not in (None, "")}


__all__ = ["card_lineage", "govern_step", "model_card_step"]
