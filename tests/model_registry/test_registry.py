"""The MLflow-backed registry (real MLflow on SQLite in a temp folder)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlops.errors import RegistryError
from model_registry.registry import ModelRegistry, VersionInfo

SCHEMA_A = {"income": "number", "region": "string"}
SCHEMA_B = {"income": "number", "region": "string", "age": "number"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry.local(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    return LogisticRegression().fit(rng.random((50, 2)), rng.integers(0, 2, 50))


def _register(
    registry: ModelRegistry, model: LogisticRegression, schema: dict[str, str], fp: str, gates_ok: bool = True
) -> VersionInfo:
    return registry.register(
        "loans",
        model,
        serving_schema=schema,
        schema_hash=str(sorted(schema)),
        training_fingerprint=fp,
        params={"C": 1.0},
        metrics={"roc_auc": 0.71, "nan_metric": float("nan")},
        gates={"evaluation": True, "fairness": gates_ok},
        lineage={"dataset_hash": fp, "feature_refs": ["v:income"]},
    )


def test_semantic_versions_follow_the_change(registry: ModelRegistry, model: LogisticRegression) -> None:
    first = _register(registry, model, SCHEMA_A, "data1")
    assert (first.semver, first.tags["bump"]) == ("1.0.0", "initial")
    assert _register(registry, model, SCHEMA_A, "data1").semver == "1.0.1"  # same model: metadata only
    assert _register(registry, model, SCHEMA_A, "data2").semver == "1.1.0"  # retrain, same schema
    major = _register(registry, model, SCHEMA_B, "data2", gates_ok=False)  # schema change
    assert major.semver == "2.0.0"
    assert [v.semver for v in registry.versions("loans")] == ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    assert registry.latest("loans") is not None
    assert major.metrics["roc_auc"] == pytest.approx(0.71)
    assert major.serving_schema == SCHEMA_B
    assert registry.lineage(major)["dataset_hash"] == "data2"


def test_aliases_are_enforced(registry: ModelRegistry, model: LogisticRegression) -> None:
    if not registry.versions("loans"):
        pytest.skip("needs the versions registered by test_semantic_versions_follow_the_change")
    with pytest.raises(RegistryError, match="did not pass every gate \\(fairness\\)"):
        registry.set_alias("loans", "2.0.0", "challenger")
    with pytest.raises(RegistryError, match="alias must be one of"):
        registry.set_alias("loans", "1.1.0", "production")
    registry.set_alias("loans", "1.0.0", "champion")
    moved = registry.set_alias("loans", "1.1.0", "champion")
    assert "champion" in moved.aliases
    assert moved.tags["previous_champion"] == "1.0.0"
    assert registry.get("loans", "champion").semver == "1.1.0"
    forced = registry.set_alias("loans", "2.0.0", "challenger", force=True)
    assert forced.aliases == ("challenger",)
    loaded = registry.load_model(registry.get("loans", "challenger"))
    assert loaded.predict_proba(np.zeros((1, 2))).shape == (1, 2)
    with pytest.raises(RegistryError, match="no version 9.9.9"):
        registry.get("loans", "9.9.9")


def test_compatibility_matrix(registry: ModelRegistry) -> None:
    if not registry.versions("loans"):
        pytest.skip("needs the versions registered by test_semantic_versions_follow_the_change")
    matrix = registry.compatibility_matrix("loans")
    assert matrix["1.1.0"] == {"schema@1.0.0": True, "schema@2.0.0": False}
    assert matrix["2.0.0"] == {"schema@1.0.0": False, "schema@2.0.0": True}


def test_unknown_model(registry: ModelRegistry) -> None:
    assert "nothing" not in registry.list_models()
    assert registry.versions("nothing") == []
    assert registry.by_alias("nothing", "champion") is None
    with pytest.raises(RegistryError, match="has no champion"):
        registry.get("nothing", "champion")
