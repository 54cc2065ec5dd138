"""Every pipeline compiles to KFP IR that loads back, with the platform image and gates."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.image import PLATFORM_IMAGE
from mlops import __version__
from pipelines import TRAINING_STEPS


@pytest.fixture(scope="module")
def ir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from pipelines.submit import compile_training

    path = compile_training(tmp_path_factory.mktemp("ir") / "training.yaml")
    return dict(yaml.safe_load(path.read_text()))


def test_ir_loads_back_with_kfp(tmp_path: Path) -> None:
    from kfp import components

    from pipelines.submit import compile_training

    path = compile_training(tmp_path / "t.yaml")
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "training"
    # One serialised config; the run folder (a local concern) is not a pipeline parameter.
    assert set(loaded.component_spec.inputs or {}) == {"config"}


# What each step takes and hands on: the run's config and typed artifacts (their contracts
# ride on the artifacts' metadata), plus its figures as KFP metrics.
STEP_INTERFACES = {
    "ingest": ({"config"}, set(), {"dataset", "metrics"}),
    "validate-data": ({"config"}, {"dataset"}, {"clean", "quarantine", "report", "metrics"}),
    "build-features": ({"config"}, {"dataset"}, {"training_set", "metrics"}),
    "train": ({"config"}, {"training_set"}, {"model", "holdout", "metrics"}),
    "evaluate": ({"config"}, {"model", "holdout"}, {"evaluation", "metrics"}),
    "govern": ({"config"}, {"model", "training_set", "holdout"}, {"governance", "metrics"}),
    "register": (
        {"config"},
        {"model", "training_set", "holdout", "quality_report", "evaluation", "governance"},
        {"registration", "metrics"},
    ),
    "model-card": ({"config"}, {"governance", "registration", "evaluation"}, {"card_markdown", "card_html", "metrics"}),
    "promote": ({"config"}, {"registration"}, {"metrics"}),
}


@pytest.mark.parametrize("step", sorted(STEP_INTERFACES))
def test_each_step_takes_the_config_and_typed_artifacts(ir: dict[str, Any], step: str) -> None:
    parameters, inputs, outputs = STEP_INTERFACES[step]
    component = ir["components"][f"comp-{step}"]
    declared = component["inputDefinitions"]
    assert set(declared.get("parameters", {})) == parameters
    assert set(declared.get("artifacts", {})) == inputs
    assert set(component["outputDefinitions"]["artifacts"]) == outputs
    assert component["outputDefinitions"]["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"


def test_register_takes_seven_inputs(ir: dict[str, Any]) -> None:
    declared = ir["components"]["comp-register"]["inputDefinitions"]
    assert len(declared.get("parameters", {})) + len(declared.get("artifacts", {})) == 7


def test_every_step_uses_the_platform_image_without_installs(ir: dict[str, Any]) -> None:
    executors = ir["deploymentSpec"]["executors"]
    assert len(executors) == len(TRAINING_STEPS)
    for spec in executors.values():
        container = spec["container"]
        assert container["image"] == PLATFORM_IMAGE
        assert PLATFORM_IMAGE.endswith(f":{__version__}")
        script = " ".join(container["command"])
        assert "pip install" not in script


def test_gates_are_conditions_in_the_ir(ir: dict[str, Any]) -> None:
    text = yaml.safe_dump(ir)
    assert "condition-data-quality-gate" in text or "data-quality-gate" in text
    assert "triggerPolicy" in text
    tasks = ir["root"]["dag"]["tasks"]
    assert {"ingest", "validate-data"} <= set(tasks)


def test_submit_builds_the_client_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No KFP API server can run here: check the call the client receives instead."""
    import kfp

    from pipelines.submit import submit_training

    calls: dict[str, Any] = {}

    class FakeClient:
        def __init__(self, host: str, namespace: str | None = None) -> None:
            calls["host"] = host

        def create_run_from_pipeline_package(self, package: str, **kwargs: Any) -> str:
            calls["package"] = package
            calls.update(kwargs)
            return "run-123"

    monkeypatch.setattr(kfp, "Client", FakeClient)
    out = submit_training(
        "https://kfp.example.internal",
        config='{"platform": {}, "dataset": {"name": "x"}}',
        run_name="training-x",
        package_dir=tmp_path,
    )
    assert out == "run-123"
    assert calls["host"] == "https://kfp.example.internal"
    assert Path(calls["package"]).exists()
    # One parameter: the run's config; no local-only parameter (the run folder) reaches a cluster.
    assert calls["arguments"] == {"config": '{"platform": {}, "dataset": {"name": "x"}}'}
    assert calls["run_name"] == "training-x"


def test_submit_failure_is_a_pipeline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kfp

    from mlops.errors import PipelineError
    from pipelines.submit import submit_training

    class Refusing:
        def __init__(self, host: str, namespace: str | None = None) -> None:
            raise ConnectionError("connection refused")

    monkeypatch.setattr(kfp, "Client", Refusing)
    with pytest.raises(PipelineError, match="could not submit to http://127.0.0.1:9"):
        submit_training("http://127.0.0.1:9", config="{}", run_name="r", package_dir=tmp_path)
