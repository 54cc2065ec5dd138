"""The ``register`` and ``promote`` steps called in-process as their components call them: MLflow
on SQLite under the run's state folder, semantic versions, lineage, gates and the
``challenger`` alias (fixtures from :mod:`tests.steps`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pandas as pd
import pytest

from mlops.contracts import DataContract, Evaluation, GateResult, QualityResult, Registration, TrainedModel
from mlops.errors import RegistryError
from mlops.state import StateLayout
from model_registry.registry import ModelRegistry
from model_registry.steps import promote_step
from tests.steps import HOLDOUT, Candidate, StepRun, recorded, register

GATES = {"data_quality": True, "evaluation": True, "fairness": True}


@pytest.fixture(scope="module")
def registry(sample_run: StepRun) -> ModelRegistry:
    return sample_run.registry()


def test_the_first_registration_is_1_0_0_with_its_lineage(
    sample_run: StepRun,
    registry: ModelRegistry,
    featured: DataContract,
    validated: QualityResult,
    trained: TrainedModel,
    evaluated: Evaluation,
    registered: Registration,
) -> None:
    assert registered == Registration(model="credit_risk", version="1.0.0", gates=GATES)
    assert registered.passed
    # The registry is MLflow on SQLite inside the state folder: no server.
    assert registry.sqlite_path == StateLayout(sample_run.state).registry.resolve() / "mlflow.db"

    info = registry.get("credit_risk", "1.0.0")
    assert info.tags["bump"] == "initial"
    assert info.tags["schema_hash"] == trained.schema_hash
    assert info.tags["training_fingerprint"] == trained.training_fingerprint
    assert info.tags["feature_view"] == featured.feature_view
    assert info.gates_passed
    assert info.schema == trained.serving_schema
    assert info.metrics["roc_auc"] == pytest.approx(evaluated.metrics["roc_auc"])

    lineage = registry.lineage(info)
    assert lineage["dataset_hash"] == featured.dataset_hash
    assert lineage["training_rows"] == featured.rows
    assert lineage["feature_refs"] == featured.feature_refs
    assert lineage["data_quality"] == validated.model_dump(mode="json")
    assert lineage["gates"] == GATES
    assert lineage["run_dir"] == str(sample_run.run_dir)
    stored = {Path(f.path).name for f in registry.client.list_artifacts(info.run_id, "reports/quality")}
    assert stored == {"quality.html"}
    assert [Path(f.path).name for f in registry.client.list_artifacts(info.run_id, "lineage")] == ["entity_ids.parquet"]

    # The compiled scorer, verified on the holdout, is stored beside the model and says so.
    assert info.tags["scorer"] == "onnx"
    assert float(info.tags["scorer_max_abs_diff"]) <= 1e-5
    assert info.tags["scorer_label_flips"] == "0"
    check = lineage["scorer"]["verification"]
    assert check["passed"]
    assert check["rows"] == len(pd.read_parquet(sample_run.artifact(*HOLDOUT)))
    assert check["probe_rows"] > 0
    graph = onnx.load_from_string(registry.load_compiled(info))
    assert [i.name for i in graph.graph.input] == list(trained.serving_schema.kinds)

    rec = recorded(sample_run, "register")
    assert rec["figures"] == {
        "model": "credit_risk",
        "version": "1.0.0",
        "bump": "initial",
        **{f"gate_{k}": "pass" for k in GATES},
        "scorer": "onnx",
        "compile_s": rec["figures"]["compile_s"],
    }


def test_promote_points_the_challenger_alias_at_the_version(
    sample_run: StepRun, registry: ModelRegistry, promoted: str
) -> None:
    assert promoted == "1.0.0"
    challenger = registry.by_alias("credit_risk", "challenger")
    assert challenger is not None
    assert challenger.semver == "1.0.0"
    assert challenger.run_status == "complete"  # the registration waited for its promotion
    assert registry.by_alias("credit_risk", "champion") is None
    rec = recorded(sample_run, "promote")
    assert rec["figures"] == {"alias": "challenger", "version": "1.0.0"}


@pytest.fixture(scope="module")
def later_versions(
    sample_run: StepRun, candidate: Candidate, promoted: str
) -> tuple[StepRun, Registration, StepRun, Registration]:
    """After 1.0.0 was promoted: the same model on identical data registered again, then once
    more with a failed fairness gate (each in a run of its own)."""
    same, unfair = sample_run.variant("same-data"), sample_run.variant("unfair")
    again = register(same, sample_run, candidate)
    failed = GateResult(passed=False, reasons=["sex: demographic_parity_difference too large"])
    blocked = register(unfair, sample_run, dataclasses.replace(candidate, governance=failed))
    return same, again, unfair, blocked


def test_identical_data_and_parameters_register_a_patch(
    registry: ModelRegistry, later_versions: tuple[StepRun, Registration, StepRun, Registration]
) -> None:
    run, again, _, _ = later_versions
    assert again == Registration(model="credit_risk", version="1.0.1", gates=GATES)
    assert registry.get("credit_risk", "1.0.1").tags["bump"] == "patch"
    assert recorded(run, "register")["figures"]["bump"] == "patch"


def test_a_failed_gate_is_registered_but_never_promoted(
    registry: ModelRegistry, later_versions: tuple[StepRun, Registration, StepRun, Registration]
) -> None:
    _, _, run, blocked = later_versions
    assert blocked.version == "1.0.2"
    assert blocked.gates == {**GATES, "fairness": False}
    assert not blocked.passed
    info = registry.get("credit_risk", "1.0.2")
    assert not info.gates_passed
    assert info.tags["gate.fairness"] == "fail"
    assert info.run_status == "complete"  # no promotion is due
    assert recorded(run, "register")["figures"]["gate_fairness"] == "fail"

    with pytest.raises(RegistryError, match=r"did not pass every gate \(fairness\)"):
        run.call("promote", promote_step, run.registry(), blocked)
    recorded(run, "promote", status="failed")
    challenger = registry.by_alias("credit_risk", "challenger")
    assert challenger is not None
    assert challenger.semver == "1.0.0"
