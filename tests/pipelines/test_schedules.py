"""The schedule sync (:mod:`pipelines.schedules`, ``mlops pipelines sync-schedules``) against a
fake of the KFP API.

KFP's backend cannot run here, so ``kfp.Client`` talks to :mod:`tests.pipelines.fake_kfp`, a small
HTTP server that answers at that boundary with the v2beta1 REST shapes of KFP's API server
(``/apis/v2beta1/pipelines``, ``/pipelines/{id}/versions``, ``/experiments``, ``/recurringruns``).
The pipeline served is the chart's compiled batch-inference IR. Covered: a first sync creates the
recurring run with the exact request body; a re-sync changes nothing; a changed spec replaces the
run; ``enabled`` alone only switches the mode; duplicates are removed and other recurring runs left
alone; an unknown pipeline and a parameter of the wrong type fail naming the schedule (and key)
before anything changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.errors import ConfigError, PipelineError
from mlops_cli.schedules import kfp_client
from pipelines.schedules import (
    RecurringRunRequest,
    ScheduleSpec,
    SchedulesSpec,
    encode_parameters,
    input_definitions,
    load_spec,
    recurring_run_request,
    sync_schedules,
)
from tests.pipelines.fake_kfp import FakeKfp, serving

ROOT = Path(__file__).resolve().parents[2]
IR = yaml.safe_load((ROOT / "infrastructure/helm/pipelines/files/pipelines/batch-inference.yaml").read_text())
VERSION = "batch-inference-0.1.0"
NIGHTLY = "batch-inference-nightly"
PLATFORM = {"environment": "prod", "state_dir": ".mlops"}


def schedule(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pipeline": "batch-inference",
        "pipeline_version": VERSION,
        "experiment": "batch-inference",
        "cron": "0 0 2 * * *",
        "enabled": True,
        "max_concurrency": 1,
        "no_catchup": True,
        "service_account": "pipeline-runner",
        "parameters": {
            "model_name": "credit_risk",
            "input_path": "s3://mlops-prod-artifacts/batch/input.parquet",
            "output_root": "s3://mlops-prod-artifacts/batch/scores",
            "platform_config": PLATFORM,
            "chunk_rows": 20000,
        },
    }
    return {**base, **changes}


def spec(**schedules: dict[str, Any]) -> SchedulesSpec:
    return SchedulesSpec.model_validate({"namespace": "kubeflow", "schedules": schedules or {NIGHTLY: schedule()}})


@pytest.fixture
def kfp() -> Iterator[FakeKfp]:
    fake = FakeKfp()
    fake.add_pipeline("batch-inference", VERSION, IR)
    fake.add_pipeline("training", "training-0.1.0", {"root": {"inputDefinitions": {"parameters": {}}}})
    with serving(fake):
        yield fake


def sync(fake: FakeKfp, the_spec: SchedulesSpec, **kwargs: Any) -> list[Any]:
    return sync_schedules(kfp_client(fake.url), the_spec, host=fake.url, **kwargs)


# --------------------------------------------------------------------------- the sync
def test_first_sync_creates_the_recurring_run_with_the_exact_request(kfp: FakeKfp) -> None:
    [action] = sync(kfp, spec())
    assert action.verb == "created"
    [experiment] = kfp.experiments
    assert experiment["display_name"] == "batch-inference"
    [post] = kfp.calls("POST")
    pipeline = next(p for p in kfp.pipelines if p["name"] == "batch-inference")
    [version] = kfp.versions[pipeline["pipeline_id"]]
    expected = recurring_run_request(
        NIGHTLY,
        ScheduleSpec.model_validate(schedule()),
        pipeline_spec=IR,
        experiment_id=experiment["experiment_id"],
        pipeline_id=pipeline["pipeline_id"],
        pipeline_version_id=version["pipeline_version_id"],
    )
    assert post.body == expected.body()
    parameters = post.body["runtime_config"]["parameters"]
    # A STRING input gets a structured value as its JSON text; an integer input a JSON number.
    assert json.loads(parameters["platform_config"]) == PLATFORM
    assert parameters["chunk_rows"] == 20000
    assert post.body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert post.body["mode"] == "ENABLE"
    assert action.recurring_run_id == kfp.recurring_runs[0]["recurring_run_id"]


def test_a_resync_changes_nothing(kfp: FakeKfp) -> None:
    sync(kfp, spec())
    before = list(kfp.recurring_runs)
    requests = len(kfp.requests)
    [action] = sync(kfp, spec())
    assert action.verb == "unchanged"
    assert kfp.recurring_runs == before
    changes = [r for r in kfp.requests[requests:] if r.method in ("POST", "DELETE")]
    assert changes == []
    # Still one experiment: it is looked up by name, not created again.
    assert len(kfp.experiments) == 1


def test_a_changed_schedule_is_replaced(kfp: FakeKfp) -> None:
    sync(kfp, spec())
    [old] = kfp.recurring_runs
    [action] = sync(kfp, spec(**{NIGHTLY: schedule(cron="0 30 3 * * *")}))
    assert action.verb == "replaced"
    assert action.deleted == (old["recurring_run_id"],)
    [new] = kfp.recurring_runs
    assert new["trigger"]["cron_schedule"]["cron"] == "0 30 3 * * *"
    # Created before the old one went: a failed create would have left the old one running.
    posts, deletes = kfp.calls("POST"), kfp.calls("DELETE")
    assert kfp.requests.index(posts[-1]) < kfp.requests.index(deletes[-1])
    # A changed parameter is a change too.
    changed = schedule(parameters={**schedule()["parameters"], "chunk_rows": 1000})
    [action] = sync(kfp, spec(**{NIGHTLY: changed}))
    assert action.verb == "replaced"
    assert kfp.recurring_runs[0]["runtime_config"]["parameters"]["chunk_rows"] == 1000


def test_enabled_alone_switches_the_mode(kfp: FakeKfp) -> None:
    sync(kfp, spec())
    [run] = kfp.recurring_runs
    [action] = sync(kfp, spec(**{NIGHTLY: schedule(enabled=False)}))
    assert (action.verb, action.recurring_run_id) == ("disabled", run["recurring_run_id"])
    assert kfp.recurring_runs == [run]
    assert run["mode"] == "DISABLE"
    [action] = sync(kfp, spec(**{NIGHTLY: schedule(enabled=False)}))
    assert action.verb == "unchanged"
    [action] = sync(kfp, spec(**{NIGHTLY: schedule()}))
    assert action.verb == "enabled"
    assert run["mode"] == "ENABLE"


def test_duplicates_go_and_other_recurring_runs_stay(kfp: FakeKfp) -> None:
    sync(kfp, spec())
    [first] = kfp.recurring_runs
    experiment_id = first["experiment_id"]
    # A copy left by an interrupted sync, and somebody's own recurring run in the same experiment
    # (more than one page of them: the fake serves two per page).
    copy = kfp.add_recurring_run({k: v for k, v in first.items() if k != "recurring_run_id"})
    others = [kfp.add_recurring_run({**first, "display_name": f"adhoc-{i}"}) for i in range(3)]
    [action] = sync(kfp, spec())
    assert action.verb == "unchanged"
    assert action.deleted == (copy["recurring_run_id"],)
    assert [r["recurring_run_id"] for r in kfp.recurring_runs] == [first["recurring_run_id"]] + [
        o["recurring_run_id"] for o in others
    ]
    assert all(r["experiment_id"] == experiment_id for r in kfp.recurring_runs)


def test_a_dry_run_changes_nothing(kfp: FakeKfp) -> None:
    [action] = sync(kfp, spec(), dry_run=True)
    assert action.verb == "created"
    assert kfp.recurring_runs == []
    assert kfp.experiments == []
    assert [r for r in kfp.requests if r.method in ("POST", "DELETE")] == []


def test_an_unknown_pipeline_fails_before_anything_changes(kfp: FakeKfp) -> None:
    good = schedule()
    bad = schedule(pipeline="batch-inferense")
    with pytest.raises(PipelineError) as caught:
        sync(kfp, spec(a=good, b=bad))
    message = str(caught.value)
    assert message.startswith("schedules.b.pipeline: no pipeline 'batch-inferense' on http://127.0.0.1:")
    assert "pipelines there: batch-inference, training" in message
    assert kfp.recurring_runs == []
    with pytest.raises(PipelineError, match=r"schedules\.a: pipeline batch-inference has no version 'x-9' .*"):
        sync(kfp, spec(a=schedule(pipeline_version="x-9")))


def test_a_parameter_of_the_wrong_type_names_the_schedule_and_key(kfp: FakeKfp) -> None:
    bad = schedule(parameters={**schedule()["parameters"], "chunk_rows": "20000"})
    with pytest.raises(PipelineError) as caught:
        sync(kfp, spec(**{"a-good-one": schedule(), NIGHTLY: bad}))
    assert str(caught.value) == (
        f"schedules.{NIGHTLY}.parameters.chunk_rows: input type NUMBER_INTEGER: expected an integer, got str '20000'"
    )
    assert kfp.recurring_runs == []


def test_multi_user_kfp_is_asked_in_the_profile_namespace(kfp: FakeKfp) -> None:
    kfp.multi_user = True
    the_spec = SchedulesSpec.model_validate({"namespace": "team-ml", "schedules": {NIGHTLY: schedule()}})
    sync(kfp, the_spec)
    lists = [r for r in kfp.requests if r.method == "GET" and r.path in ("/apis/v2beta1/pipelines",)]
    assert lists
    assert all(r.query.get("namespace") == "team-ml" for r in lists)
    [created] = kfp.calls("POST", "/apis/v2beta1/experiments")
    assert created.body["namespace"] == "team-ml"


def test_the_pods_projected_token_is_sent(kfp: FakeKfp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("projected-token")  # pragma: allowlist secret
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    sync(kfp, spec())
    assert {r.authorization for r in kfp.requests} == {"Bearer projected-token"}


# --------------------------------------------------------------------------- the command
def test_the_command_syncs_and_says_what_it_did(kfp: FakeKfp, tmp_path: Path) -> None:
    spec_file = tmp_path / "schedules.json"
    spec_file.write_text(json.dumps({"namespace": "kubeflow", "schedules": {NIGHTLY: schedule()}}))
    command = [sys.executable, "-m", "mlops_cli", "pipelines", "sync-schedules", f"--spec={spec_file}"]
    done = subprocess.run([*command, f"--kfp-host={kfp.url}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{NIGHTLY}: created (recurring run ")
    again = subprocess.run([*command, f"--kfp-host={kfp.url}"], capture_output=True, text=True, timeout=120)
    assert again.stdout.startswith(f"{NIGHTLY}: unchanged")
    spec_file.write_text(json.dumps({"schedules": {NIGHTLY: schedule(pipeline="nope")}}))
    failed = subprocess.run([*command, f"--kfp-host={kfp.url}"], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"error: schedules.{NIGHTLY}.pipeline: no pipeline 'nope'")
    assert failed.stderr.count("\n") == 1


def test_a_bad_spec_file_names_the_file_and_key(tmp_path: Path) -> None:
    spec_file = tmp_path / "schedules.json"
    spec_file.write_text(json.dumps({"schedules": {NIGHTLY: {**schedule(), "cron": "0 2 * * *"}}}))
    with pytest.raises(ConfigError) as caught:
        load_spec(spec_file)
    assert f"schedules.{NIGHTLY}.cron" in str(caught.value)
    assert str(spec_file) in str(caught.value)


# --------------------------------------------------------------------------- encoding
INPUTS: dict[str, dict[str, Any]] = {
    "text": {"parameterType": "STRING"},
    "count": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1.0, "isOptional": True},
    "ratio": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.5, "isOptional": True},
    "flag": {"parameterType": "BOOLEAN", "defaultValue": False, "isOptional": True},
    "options": {"parameterType": "STRUCT", "isOptional": True},
    "names": {"parameterType": "LIST", "isOptional": True},
}


def test_parameters_are_encoded_by_input_type() -> None:
    given = {"text": {"a": [1, 2]}, "count": 3, "ratio": 1, "flag": True, "options": {"k": "v"}, "names": ["x"]}
    assert encode_parameters("s", given, INPUTS) == {
        "text": '{"a":[1,2]}',
        "count": 3,
        "ratio": 1.0,
        "flag": True,
        "options": {"k": "v"},
        "names": ["x"],
    }
    assert encode_parameters("s", {"text": "already a string"}, INPUTS) == {"text": "already a string"}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("text", 5, "expected a string, got int 5 (quote it in YAML)"),
        ("count", True, "expected an integer, got bool True"),
        ("count", 2.5, "expected an integer, got float 2.5"),
        ("ratio", "0.5", "expected a finite number, got str '0.5'"),
        ("flag", "true", "expected true or false, got str 'true'"),
        ("options", ["k"], "expected a mapping, got list"),
        ("names", "x", "expected a list, got str"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(key: str, value: Any, expected: str) -> None:
    with pytest.raises(PipelineError) as caught:
        encode_parameters("nightly", {"text": "t", key: value}, INPUTS)
    kind = INPUTS[key]["parameterType"]
    assert str(caught.value) == f"schedules.nightly.parameters.{key}: input type {kind}: {expected}"


def test_unknown_and_missing_inputs_are_refused() -> None:
    with pytest.raises(PipelineError, match=r"schedules\.s\.parameters\.txet: the pipeline has no such input"):
        encode_parameters("s", {"text": "t", "txet": "t"}, INPUTS)
    with pytest.raises(PipelineError, match=r"schedules\.s\.parameters: the pipeline requires text, which"):
        encode_parameters("s", {}, INPUTS)


def test_the_inputs_come_from_the_ir_or_the_apis_wrapper() -> None:
    assert input_definitions(IR) == input_definitions({"pipeline_spec": IR, "platform_spec": {}})
    assert input_definitions(IR)["platform_config"]["parameterType"] == "STRING"
    with pytest.raises(PipelineError, match="no root component"):
        input_definitions({"components": {}})


def test_the_request_body_omits_an_empty_service_account() -> None:
    request = RecurringRunRequest(
        name="n",
        experiment_id="e",
        pipeline_id="p",
        pipeline_version_id="v",
        cron="0 0 2 * * *",
        enabled=False,
        max_concurrency=2,
        no_catchup=False,
        service_account="",
        parameters={},
    )
    assert "service_account" not in request.body()
    assert request.body()["mode"] == "DISABLE"
