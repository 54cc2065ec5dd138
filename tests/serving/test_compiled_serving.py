"""Serving with a version's compiled scorer: the loaded models use it for rows and frames, the
shadow challenger's child process gets it (pickled as its graph), and a stored graph this
runtime cannot load leaves the version served by its fitted model, logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.schema import ServingSchema
from model_registry.compiled import TOLERANCE, compile_and_verify
from model_registry.registry import COMPILED_ARTIFACT, ModelRegistry
from serving.models import load_models
from serving.shadow.process import ProcessChallenger
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk


def _register(
    registry: ModelRegistry, name: str, model: Any, schema: ServingSchema, frame: pd.DataFrame, folder: Path
) -> None:
    """As the register step does: the fitted model, and its verified graph when it has one."""
    result = compile_and_verify(model, schema, frame, threshold=0.5)
    artifacts = {}
    if result.onnx_bytes is not None:
        graph = folder / "model.onnx"
        graph.write_bytes(result.onnx_bytes)
        artifacts[COMPILED_ARTIFACT.rpartition("/")[0]] = graph
    registry.register(
        name,
        model,
        serving_schema=schema,
        schema_hash="s1",
        training_fingerprint="f1",
        params={},
        metrics={},
        gates={"evaluation": True},
        lineage={"scorer": result.record},
        artifacts=artifacts,
        extra_tags=result.tags,
    )


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sample_schema: FeatureSchema
) -> tuple[ModelRegistry, pd.DataFrame]:
    base = tmp_path_factory.mktemp("compiled")
    registry = ModelRegistry.local(base / "registry")
    training = generate_credit_risk(2_000, seed=5)
    schema = ServingSchema.coerce(sample_schema.to_dict())
    for family, params in (("hist_gradient_boosting", {"max_iter": 30}), ("logistic_regression", {})):
        model = build_pipeline(ModelConfig(family=family, params=params), sample_schema).fit(
            training[sample_schema.columns], training["defaulted"]
        )
        _register(registry, "credit_risk", model, schema, training, base)
    registry.set_alias("credit_risk", "1.0.0", "champion")
    registry.set_alias("credit_risk", "1.0.1", "challenger")
    frame = generate_credit_risk(300, seed=9)[sample_schema.columns]
    frame.loc[frame.index % 7 == 0, "income"] = np.nan
    return registry, frame


def test_loaded_versions_score_rows_and_frames_with_their_compiled_scorer(
    served: tuple[ModelRegistry, pd.DataFrame],
) -> None:
    registry, frame = served
    loaded = load_models(registry, "credit_risk", shadow=True)
    assert loaded.challenger is not None
    for model in (loaded.champion, loaded.challenger):
        assert model.scorer == "onnx"
        fitted = model.model.predict_proba(frame)[:, 1]
        np.testing.assert_allclose(model.predict(frame), fitted, atol=TOLERANCE, rtol=0)
        rows = [{k: (None if v != v else v) for k, v in r.items()} for r in frame.to_dict("records")]
        np.testing.assert_allclose(model.score_rows(rows), fitted, atol=TOLERANCE, rtol=0)


def test_the_shadow_child_scores_with_the_challengers_compiled_scorer(
    served: tuple[ModelRegistry, pd.DataFrame],
) -> None:
    registry, frame = served
    challenger = load_models(registry, "credit_risk", shadow=True).challenger
    assert challenger is not None
    with ProcessChallenger(challenger) as child:
        scores = child(frame.head(50))
    np.testing.assert_array_equal(scores, challenger.compiled.score_frame(frame.head(50)))  # type: ignore[union-attr]


def test_a_graph_this_runtime_cannot_load_leaves_the_fitted_model_serving(
    served: tuple[ModelRegistry, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry, frame = served
    monkeypatch.setattr(ModelRegistry, "load_compiled", lambda self, info: b"not an onnx graph")
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        champion = load_models(registry, "credit_risk", shadow=False).champion
    assert champion.scorer == "sklearn"
    assert "compiled scorer not used" in caplog.text
    assert "onnxruntime cannot load the graph" in caplog.text
    np.testing.assert_array_equal(champion.predict(frame), champion.model.predict_proba(frame)[:, 1])
