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
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.config import DatasetConfig
from mlops.contracts import DataContract, Evaluation, GateResult, Registration, TrainedModel, load_model
from mlops.roles import group_labels
from mlops.state import MetricsSink, record_step
from model_governance.config import FairnessGate
from model_registry.compiled import scorer_summary

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry
    from training.config import EvaluationGate


def govern_step(
    gate: FairnessGate,
    data: DataContract,
    trained: TrainedModel,
    model_path: Path,
    training_set: Path,
    holdout: Path,
    out_governance: Path,
    *,
    metrics: MetricsSink | None = None,
) -> GateResult:
    """Write the assessment (and the training data summary) for the card; returns the fairness gate."""
    from model_governance.govern import assess, training_data_summary
    from training.fit import target_of

    roles = data.roles
    with record_step("govern", metrics=metrics) as rec:
        model = load_model(model_path)
        test = pd.read_parquet(holdout)
        sensitive = pd.DataFrame(
            {s: group_labels(test[s], roles.sensitive_bins.get(s)) for s in roles.sensitive}, index=test.index
        )
        assessment = assess(
            model,
            test[roles.features],
            target_of(test, roles),
            sensitive,
            gate=gate,
            model_family=trained.family,
            model_params=dict(trained.params),
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
        out_governance.write_text(
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
    return GateResult(passed=fairness.passed, reasons=list(fairness.violations))


def model_card_step(
    cfg: DatasetConfig,
    evaluation_gate: EvaluationGate,
    registry: ModelRegistry,
    governance: Path,
    registered: Registration,
    evaluation: Evaluation,
    out_markdown: Path,
    out_html: Path,
    *,
    metrics: MetricsSink | None = None,
) -> str:
    """Render the registered version's card, attach it to the version; returns the version."""
    from model_governance.cards import ChampionComparison, TrainingData
    from model_governance.govern import Assessment, build_card

    saved = json.loads(governance.read_text())
    with record_step("model_card", metrics=metrics) as rec:
        info = registry.get(registered.model, registered.version)
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
            metrics={k: v for k, v in evaluation.metrics.items() if not math.isnan(v)},
            champion=ChampionComparison(
                champion_version=evaluation.champion,
                primary_metric=evaluation_gate.metric,
                champion_metrics=evaluation.champion_metrics,
                max_regression=evaluation_gate.max_regression,
            ),
            gates=gates,
            lineage=card_lineage(info.mlflow_version, info.run_id, info.tags.get("bump", ""), lineage, info.tags),
            intended_use=cfg.intended_use,
            limitations=cfg.limitations or None,
        )
        out_markdown.write_text(result.card_markdown)
        out_html.write_text(result.card_html)
        with tempfile.TemporaryDirectory() as tmp:  # artifact paths have no suffix; the registry's files do
            named = [Path(tmp) / "model_card.md", Path(tmp) / "model_card.html"]
            named[0].write_text(result.card_markdown)
            named[1].write_text(result.card_html)
            registry.attach(info, named)
        rec.attach("model_card.html", out_html)
        rec.attach("model_card.md", out_markdown)
        rec.figures.update(model=info.name, version=info.semver, verdict="passed" if result.passed else "failed")
    return info.semver


def card_lineage(
    mlflow_version: str, run_id: str, bump: str, lineage: dict[str, Any], tags: dict[str, str] | None = None
) -> dict[str, str]:
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
        "Scorer": scorer_summary(tags) if tags is not None else None,
        "Run folder": lineage.get("run_dir") or None,
    }
    return {k: str(v) for k, v in rows.items() if v not in (None, "")}


__all__ = ["card_lineage", "govern_step", "model_card_step"]
