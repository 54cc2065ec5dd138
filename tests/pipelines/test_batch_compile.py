"""The batch inference pipeline compiles to IR that loads back, on the platform image, with its schedule."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.image import PLATFORM_IMAGE
from pipelines.batch_inference import SCHEDULE, compile_batch_inference, schedule_batch_inference


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_batch_inference(tmp_path_factory.mktemp("ir") / "batch_inference.yaml")


def test_ir_loads_back_with_kfp(package: Path) -> None:
    from kfp import components

    loaded = components.load_component_from_file(str(package))
    assert loaded.name == "batch-inference"
    inputs = loaded.component_spec.inputs or {}
    assert {"input_path", "output_root", "model_name", "platform_config", "model_ref", "engine"} <= set(inputs)
    assert inputs["model_ref"].default == "champion"


def test_the_step_uses_the_platform_image_without_installs(package: Path) -> None:
    ir = yaml.safe_load(package.read_text())
    executors = ir["deploymentSpec"]["executors"]
    assert list(executors) == ["exec-batch-predict"]
    container = executors["exec-batch-predict"]["container"]
    assert container["image"] == PLATFORM_IMAGE
    script = " ".join(container["command"] + container.get("args", []))
    assert "pip install" not in script
    assert "from serving.batch.step import batch_predict_step" in script
    outputs = ir["components"]["comp-batch-predict"]["outputDefinitions"]
    assert set(outputs["parameters"]) == {"model_version", "rows", "output_dir"}
    # The step's figures go to KFP metrics (a cluster run shows them in the UI).
    assert set(outputs["artifacts"]) == {"manifest", "metrics"}
    assert outputs["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert "run_dir" not in ir["components"]["comp-batch-predict"]["inputDefinitions"]["parameters"]


def test_schedule_is_a_six_field_kfp_cron() -> None:
    fields = SCHEDULE.split()
    assert len(fields) == 6
    assert fields[0] == "0"


def test_schedule_builds_the_recurring_run_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No KFP API server can run here: check the calls the client receives instead."""
    import kfp

    calls: dict[str, Any] = {}

    class Experiment:
        experiment_id = "exp-7"

    class FakeClient:
        def __init__(self, host: str, namespace: str | None = None) -> None:
            calls["host"] = host

        def create_experiment(self, name: str, namespace: str | None = None) -> Experiment:
            calls["experiment"] = name
            return Experiment()

        def create_recurring_run(self, **kwargs: Any) -> str:
            calls.update(kwargs)
            return "recurring-1"

    monkeypatch.setattr(kfp, "Client", FakeClient)
    params = {"input_path": "/data/in.parquet", "output_root": "/data/scores", "model_name": "credit_risk"}
    out = schedule_batch_inference(
        "https://kfp.example.internal", params={**params, "platform_config": "{}"}, package_dir=tmp_path
    )
    assert out == "recurring-1"
    assert calls["experiment"] == "batch-inference"
    assert calls["experiment_id"] == "exp-7"
    assert calls["cron_expression"] == SCHEDULE
    assert (calls["max_concurrency"], calls["no_catchup"]) == (1, True)
    assert Path(calls["pipeline_package_path"]).exists()
    assert calls["params"] == {**params, "platform_config": "{}"}


def test_schedule_failure_is_a_pipeline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kfp

    from mlops.errors import PipelineError

    class Refusing:
        def __init__(self, host: str, namespace: str | None = None) -> None:
            raise ConnectionError("connection refused")

    monkeypatch.setattr(kfp, "Client", Refusing)
    with pytest.raises(PipelineError, match="could not schedule batch-inference on http://127.0.0.1:9"):
        schedule_batch_inference("http://127.0.0.1:9", params={}, package_dir=tmp_path)
