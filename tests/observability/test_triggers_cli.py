"""``mlops monitor triggers``: the table, the one launch and its reason, dry runs and the guards as
the command shows them (launcher and inputs put in place through the Click context object), the
real inputs on a real registry, prediction log, labels and dataset file, and the KFP launcher's
calls to a fake client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mlops.errors import ConfigError, NoPredictionsError, PipelineError
from mlops.state import write_run_meta
from mlops_cli.main import app
from mlops_cli.monitor_triggers import KfpLauncher, TriggerOverrides, run_triggers
from observability.triggers import (
    ChampionVersion,
    DatasetSnapshot,
    Launched,
    LaunchRequest,
    load_triggers_config,
    read_history,
    read_state,
    running_local_runs,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = "loans"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FEATURES = {"income": "number", "age": "number", "region": "string"}


def project(tmp_path: Path, triggers: dict[str, Any] | None = None) -> Path:
    """A config folder: platform.yaml with its own state folder, a dataset config, the triggers file."""
    config = tmp_path / "config"
    (config / "environments").mkdir(parents=True)
    (config / "datasets").mkdir()
    (config / "platform.yaml").write_text(f"state_dir: {tmp_path / 'state'}\n")
    (config / "environments" / "dev.yaml").write_text("{}\n")
    dataset = {"name": MODEL, "path": "../../loans.csv", "target": "defaulted", "entity_id": "applicant_id"}
    (config / "datasets" / "loans.yaml").write_text(yaml.safe_dump(dataset))
    default = {
        "schedule": "0 3 * * 1",
        "new_data": {"min_new_rows": 100},
        "schema_change": {},
        "min_hours_between_runs": 24,
        "models": [{"model": MODEL, "dataset": "datasets/loans.yaml"}],
    }
    (config / "retraining_triggers.yaml").write_text(yaml.safe_dump(triggers or default))
    return config


@dataclass
class FakeInputs:
    rows: int = 1_300
    features: dict[str, str] = field(default_factory=lambda: dict(FEATURES))

    def champion(self) -> ChampionVersion:
        return ChampionVersion(MODEL, "1.2.0", NOW - timedelta(days=1), FEATURES)

    def lineage(self, version: str) -> Mapping[str, Any]:
        return {"training_rows": 1_000, "dataset_hash": "old"}

    def reference(self, version: str) -> Any:
        raise AssertionError("drift is off here")

    def predictions(self, version: str, window: timedelta, *, labels: bool) -> pd.DataFrame:
        raise NoPredictionsError("none")

    def dataset(self) -> DatasetSnapshot:
        return DatasetSnapshot(MODEL, "loans.csv", self.rows, "new", self.features)


@dataclass
class FakeLauncher:
    state_dir: Path
    target: str = "local"
    requests: list[LaunchRequest] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    exit_code: int = 0

    def running(self, dataset: str) -> list[str]:
        return running_local_runs(self.state_dir, dataset)

    def launch(self, request: LaunchRequest) -> Launched:
        self.requests.append(request)
        return Launched(run_id=f"run-{len(self.requests)}", target=self.target)

    def follow(self, launched: Launched) -> int:
        self.followed.append(launched.run_id)
        return self.exit_code


def invoke(config: Path, *args: str, launcher: FakeLauncher, inputs: FakeInputs | None = None) -> Any:
    overrides = TriggerOverrides(launcher=launcher, inputs=lambda settings, ds: inputs or FakeInputs(), now=NOW)
    return CliRunner().invoke(
        app, ["monitor", "triggers", "--config-dir", str(config), *args], obj=overrides, env={"COLUMNS": "250"}
    )


# --------------------------------------------------------------------------- the command, seams in place
def test_fired_triggers_print_the_table_and_start_one_followed_run(tmp_path: Path) -> None:
    config = project(tmp_path)
    launcher = FakeLauncher(tmp_path / "state")
    features = {**FEATURES, "employer": "string"}
    result = invoke(config, launcher=launcher, inputs=FakeInputs(features=features))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Retraining triggers of loans, champion 1.2.0" in out
    for trigger in ("schedule", "new_data", "schema_change"):
        assert trigger in out
    assert "300 new rows in loans since loans 1.2.0 was trained (1300 now, 1000 then; +30%) ≥ 100" in out
    assert "launched: started training run run-1 (local)" in out
    [request] = launcher.requests
    assert request.reason == (
        "retraining triggers new_data, schema_change: 300 new rows in loans since loans 1.2.0 was trained "
        "(1300 now, 1000 then; +30%) ≥ 100; feature schema of loans changed against loans 1.2.0: new employer"
    )
    assert f"reason: {request.reason}" in out
    assert request.dataset_file == config / "datasets" / "loans.yaml"
    assert launcher.followed == ["run-1"]
    assert read_state(tmp_path / "state", MODEL).last_launch["run_id"] == "run-1"  # type: ignore[index]


def test_a_second_call_within_the_cool_down_is_skipped_and_says_why(tmp_path: Path) -> None:
    config = project(tmp_path)
    launcher = FakeLauncher(tmp_path / "state")
    assert invoke(config, "--no-wait", launcher=launcher).exit_code == 0
    again = invoke(config, launcher=launcher)
    assert again.exit_code == 0, again.output
    assert "skipped: cool-down: the last trigger-started run of loans (run-1) started 0.0 h ago" in again.output
    assert len(launcher.requests) == 1
    assert launcher.followed == []  # --no-wait the first time; nothing started the second
    assert [e["action"] for e in read_history(tmp_path / "state", MODEL)] == ["launched", "skipped"]


def test_dry_run_shows_the_reason_and_starts_nothing(tmp_path: Path) -> None:
    config = project(tmp_path)
    launcher = FakeLauncher(tmp_path / "state")
    result = invoke(config, "--dry-run", launcher=launcher)
    assert result.exit_code == 0, result.output
    assert "dry run: one training run would start; nothing started" in result.output
    assert "reason: retraining trigger new_data: 300 new rows" in result.output
    assert launcher.requests == []
    assert read_state(tmp_path / "state", MODEL).last_launch is None


def test_a_running_run_of_the_dataset_skips_the_launch(tmp_path: Path) -> None:
    from mlops.state import process_identity

    config = project(tmp_path)
    write_run_meta(
        tmp_path / "state" / "runs" / "20261120-115900-beef",
        {"pipeline": "training", "dataset": MODEL, "started": 0, "runner": {"status": "running", **process_identity()}},
    )
    launcher = FakeLauncher(tmp_path / "state")
    result = invoke(config, launcher=launcher)
    assert result.exit_code == 0, result.output
    assert "skipped: de-duplication: a training run of dataset loans is still running (20261120-115900-beef)" in (
        result.output
    )
    assert launcher.requests == []


def test_nothing_fired_and_a_failed_followed_run_set_the_exit_code(tmp_path: Path) -> None:
    config = project(tmp_path)
    quiet = invoke(config, launcher=FakeLauncher(tmp_path / "state"), inputs=FakeInputs(rows=1_000))
    assert quiet.exit_code == 0, quiet.output
    assert "no run: no trigger fired" in quiet.output
    failing = FakeLauncher(tmp_path / "other", exit_code=3)
    other = project(tmp_path / "b")
    assert invoke(other, launcher=failing).exit_code == 3


def test_a_trigger_that_cannot_be_evaluated_fails_the_command_after_the_others_acted(tmp_path: Path) -> None:
    class Broken(FakeInputs):
        def dataset(self) -> DatasetSnapshot:
            raise OSError("permission denied: loans.csv")

    config = project(tmp_path)
    launcher = FakeLauncher(tmp_path / "state")
    # The schedule fires on its own (the last trigger-started run was two weeks ago).
    state = read_state(tmp_path / "state", MODEL, now=NOW)
    state.last_launch = {"run_id": "old", "launched_at": (NOW - timedelta(days=14)).timestamp(), "target": "local"}
    from observability.triggers import write_state

    write_state(tmp_path / "state", state)
    result = invoke(config, "--no-wait", launcher=launcher, inputs=Broken())
    assert result.exit_code == 1
    assert len(launcher.requests) == 1
    assert launcher.requests[0].triggers == ["schedule"]
    assert "2 trigger(s) could not be evaluated: loans new_data: cannot evaluate: OSError: permission denied" in (
        result.output
    )


def test_model_option_and_a_dataset_of_another_name_are_errors(tmp_path: Path) -> None:
    config = project(tmp_path)
    launcher = FakeLauncher(tmp_path / "state")
    unknown = invoke(config, "--model", "churn", launcher=launcher)
    assert unknown.exit_code != 0
    assert "--model churn: not watched by" in str(unknown.exception)
    (config / "datasets" / "loans.yaml").write_text("name: credit\npath: x.csv\ntarget: y\n")
    mismatch = invoke(config, launcher=launcher)
    assert isinstance(mismatch.exception, ConfigError)
    assert mismatch.exception.file == str(config / "retraining_triggers.yaml")
    assert mismatch.exception.key == "models.0.dataset"
    assert "is dataset 'credit'" in mismatch.exception.expected
    assert launcher.requests == []


def test_a_bad_triggers_file_is_one_error_line_naming_file_and_key(tmp_path: Path) -> None:
    config = project(tmp_path, {"performance": {"metric": "auc", "min_value": 0.7}, "models": [{"model": MODEL}]})
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "monitor", "triggers", "--dry-run", "--config-dir", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {config / 'retraining_triggers.yaml'}: performance.metric: Input should be")


# --------------------------------------------------------------------------- the real inputs
def loans(rows: int, seed: int, *, shift: float = 0.0, employer: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "applicant_id": [f"a{seed}-{i}" for i in range(rows)],
            "income": rng.normal(50 + shift, 10, rows),
            "age": rng.normal(40 + shift, 12, rows).round(),
            "region": rng.choice(["north", "south", "east"], rows),
            "defaulted": rng.integers(0, 2, rows),
        }
    )
    if employer:
        frame["employer"] = rng.choice(["small", "large"], rows)
    return frame


@pytest.fixture(scope="module")
def real_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registered champion (lineage: 1000 rows), its drift reference, a drifted prediction log
    with labels that the scores do not rank, and a dataset file that grew and gained a column."""
    from sklearn.dummy import DummyClassifier

    from model_registry.registry import ModelRegistry
    from observability.drift import build_reference, reference_dir, save_reference
    from observability.labels import import_labels, labels_root
    from observability.prediction_log import PredictionLogger

    tmp = tmp_path_factory.mktemp("real")
    state = tmp / "state"
    training = loans(1_000, seed=1)
    registry = ModelRegistry.local(state / "registry")
    schema = {"features": {c: {"type": k} for c, k in FEATURES.items()}}
    info = registry.register(
        MODEL,
        DummyClassifier().fit(training[["income"]], training["defaulted"]),
        serving_schema=schema,
        schema_hash="h1",
        training_fingerprint="f1",
        params={},
        metrics={"roc_auc": 0.8},
        gates={"evaluation": True},
        lineage={
            "dataset": MODEL,
            "dataset_hash": "old",
            "training_rows": 1_000,
            "data_quality": {"quarantined_rows": 0},
        },
    )
    registry.set_alias(MODEL, info.semver, "champion")
    scores = np.random.default_rng(2).random(len(training))
    reference = build_reference(
        training, numeric=["income", "age"], categorical=["region"], prediction=pd.Series(scores, name="score")
    )
    save_reference(reference, reference_dir(state, MODEL, info.semver))
    current = loans(600, seed=3, shift=15)
    logger = PredictionLogger(state / "predictions", entity_column="entity_id")
    logger.record(
        current[["income", "age", "region"]],
        np.random.default_rng(4).random(len(current)),
        model=MODEL,
        version=info.semver,
        request_ids=[f"r{i}" for i in range(len(current))],
        entity_ids=current["applicant_id"].tolist(),
        ts=datetime.now(UTC) - timedelta(hours=2),
    )
    assert logger.close()
    labels = tmp / "outcomes.csv"
    current[["applicant_id", "defaulted"]].to_csv(labels, index=False)
    import_labels(labels, labels_root(state), MODEL, entity_column="applicant_id", label_column="defaulted")
    loans(1_250, seed=5, employer=True).to_csv(tmp / "loans.csv", index=False)
    return tmp


def test_the_real_inputs_drive_every_trigger(real_project: Path) -> None:
    from platform_config import load_platform_config

    config = project(
        real_project,
        {
            "schedule": "0 3 * * 1",
            "drift": {"share_of_drifted_columns": 0.5, "window_days": 1},
            "performance": {"metric": "roc_auc", "min_value": 0.65, "window_days": 1, "min_labelled_rows": 200},
            "new_data": {"min_new_rows": 200},
            "schema_change": {},
            "models": [{"model": MODEL, "dataset": "datasets/loans.yaml"}],
        },
    )
    platform = load_platform_config(config, "dev")
    launcher = FakeLauncher(platform.state_dir)
    done = run_triggers(
        platform,
        load_triggers_config(config / "retraining_triggers.yaml"),
        triggers_file=config / "retraining_triggers.yaml",
        launcher=launcher,
    )
    [decision] = done.decisions
    assert decision.evaluation is not None
    results = {r.trigger: r for r in decision.evaluation.results}
    assert {t: r.outcome for t, r in results.items()} == {
        "schedule": "quiet",  # the champion was registered moments ago
        "drift": "fired",
        "performance": "fired",
        "new_data": "fired",
        "schema_change": "fired",
    }, {t: r.reason for t, r in results.items()}
    assert decision.evaluation.champion == "1.0.0"
    assert results["drift"].details["rows"] == 600
    assert results["performance"].details["labelled_rows"] == 600
    assert results["new_data"].reason.startswith("250 new rows in loans since loans 1.0.0 was trained (1250 now")
    assert results["schema_change"].reason.endswith("new employer")
    [request] = launcher.requests
    assert request.triggers == ["drift", "performance", "new_data", "schema_change"]
    assert request.reason.startswith("retraining triggers drift, performance, new_data, schema_change: drift share")


# --------------------------------------------------------------------------- KFP
@dataclass
class _Run:
    run_id: str
    display_name: str
    state: str


class FakeKfpClient:
    def __init__(self, runs: list[_Run] | None = None, fail: bool = False) -> None:
        self.runs, self.fail, self.calls = runs or [], fail, []

    def list_runs(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.fail:
            raise ConnectionError("connection refused")
        return type("Response", (), {"runs": self.runs})()


def test_kfp_de_duplication_sees_the_datasets_unfinished_runs(tmp_path: Path) -> None:
    from platform_config import load_platform_config

    platform = load_platform_config(project(tmp_path), "dev")
    client = FakeKfpClient(
        [
            _Run("1", "training-loans-20261120-100000-aaaa", "RUNNING"),
            _Run("2", "training-loans-20261119-100000-bbbb", "SUCCEEDED"),
            _Run("3", "training-churn-20261120-100000-cccc", "RUNNING"),
            _Run("4", "training-loans-20261120-110000-dddd", "PENDING"),
        ]
    )
    launcher = KfpLauncher("http://kfp:8888", platform, client=client)
    assert launcher.running(MODEL) == ["1", "4"]
    assert client.calls == [{"page_size": 100, "sort_by": "created_at desc"}]
    with pytest.raises(PipelineError, match="could not list the runs on http://kfp:8888"):
        KfpLauncher("http://kfp:8888", platform, client=FakeKfpClient(fail=True)).running(MODEL)


def test_kfp_launch_submits_the_run_config_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kfp

    from platform_config import RunConfig, load_platform_config

    created: list[dict[str, Any]] = []

    class Client:
        def __init__(self, host: str, namespace: str | None = None) -> None:
            created.append({"host": host})

        def create_run_from_pipeline_package(self, package: str, **kwargs: Any) -> Any:
            created.append({"package": package, **kwargs})
            return type("Run", (), {"run_id": "kfp-run-7"})()

    monkeypatch.setattr(kfp, "Client", Client)
    config = project(tmp_path)
    platform = load_platform_config(config, "dev")
    launched = KfpLauncher("http://kfp:8888", platform).launch(
        LaunchRequest(
            model=MODEL,
            dataset=MODEL,
            reason="retraining trigger drift: drift share 0.42 ≥ 0.30",
            triggers=["drift"],
            dataset_file=config / "datasets" / "loans.yaml",
        )
    )
    assert launched == Launched(run_id="kfp-run-7", target="http://kfp:8888")
    host, call = created
    assert host == {"host": "http://kfp:8888"}
    assert call["run_name"].startswith("training-loans-")
    assert call["experiment_name"] == "training"
    sent = RunConfig.parse(call["arguments"]["config"])
    assert sent.reason == "retraining trigger drift: drift share 0.42 ≥ 0.30"
    assert sent.dataset.name == MODEL
    assert Path(call["package"]).is_file()
    assert json.loads(json.dumps(call["arguments"]))  # plain JSON, as KFP sends it
