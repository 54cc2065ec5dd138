"""The ``govern`` and ``model_card`` steps called in-process as their components call them: the
fairness gate (passing and blocked), the saved assessment, the card rendered for the registered
version and attached to it in the registry (fixtures from :mod:`tests.steps`)."""

from __future__ import annotations

import json
from pathlib import Path

from mlops.contracts import DataContract, GateResult, Registration, TrainedModel
from model_governance.config import FairnessGate
from model_governance.step import govern_step
from tests.steps import HOLDOUT, MODEL, SAMPLE_ROWS, TRAINING_SET, StepRun, recorded


def test_govern_passes_the_fairness_gate_and_saves_the_assessment(
    sample_run: StepRun, featured: DataContract, governed: GateResult
) -> None:
    roles = featured.roles
    assert governed.passed, governed.reasons
    assert governed.reasons == []

    saved = json.loads(sample_run.artifact("govern", "governance").read_text())
    fairness = saved["assessment"]["fairness"]
    assert fairness["passed"] is True
    assert list(fairness["per_attribute"]) == roles.sensitive
    # sex has two groups of ~200 holdout rows each: assessed, so it decides the gate.
    assert fairness["per_attribute"]["sex"]["status"] == "passed"
    assert set(saved["assessment"]["importance"]) == set(roles.features)
    training = saved["training_data"]
    assert (training["dataset_name"], training["target"], training["rows"]) == (roles.name, roles.target, SAMPLE_ROWS)
    assert training["features"] == roles.features

    rec = recorded(sample_run, "govern")
    assert rec["figures"]["fairness"].startswith("pass (sex: passed")
    top = rec["figures"]["top_features"].split(", ")
    assert len(top) == 3
    assert set(top) <= set(roles.features)
    assert sample_run.received("govern") == {}  # text figures only: nothing for KFP metrics


def test_an_attribute_that_cannot_be_assessed_blocks_the_gate_when_configured_to(
    sample_run: StepRun, featured: DataContract, trained: TrainedModel, governed: GateResult
) -> None:
    run = sample_run.variant("fairness-blocked", fairness=FairnessGate(min_group_size=10_000, not_assessed="fail"))
    inputs = (MODEL, TRAINING_SET, HOLDOUT)
    gate = run.step(
        "govern",
        govern_step,
        run.platform.fairness,
        featured,
        trained,
        inputs=inputs,
        outputs=("governance",),
        source=sample_run,
    )
    assert not gate.passed
    assert gate.reasons == [
        "sex: not assessed: fewer than two groups with at least 10000 rows (0 of 2)",
        "age_band: not assessed: fewer than two groups with at least 10000 rows (0 of 6)",
    ]
    rec = recorded(run, "govern", status="blocked")
    assert rec["message"] == "fairness gate: " + "; ".join(gate.reasons)
    assert rec["figures"]["fairness"] == "fail (sex: not assessed, age_band: not assessed)"


def test_the_model_card_is_rendered_for_the_registered_version_and_attached(
    sample_run: StepRun, featured: DataContract, registered: Registration, carded: str
) -> None:
    assert carded == registered.version == "1.0.0"
    markdown = sample_run.artifact("model_card", "card_markdown").read_text()
    assert "credit_risk" in markdown
    assert "1.0.0" in markdown
    assert sample_run.config.dataset.description in markdown
    assert featured.dataset_hash in markdown  # lineage, read back from the registry
    assert "latest 20% by event time" in markdown

    rec = recorded(sample_run, "model_card")
    assert rec["figures"] == {"model": "credit_risk", "version": "1.0.0", "verdict": "passed"}
    for name in ("model_card.html", "model_card.md"):
        copied = Path(rec["reports"][name])
        assert copied == sample_run.run_dir / "reports" / name
        assert copied.stat().st_size > 0

    registry = sample_run.registry()
    info = registry.get(registered.model, registered.version)
    attached = {Path(f.path).name for f in registry.client.list_artifacts(info.run_id, "reports")}
    assert {"model_card.md", "model_card.html"} <= attached
