"""Compiled scorers against the fitted models they stand for: every model family, on datasets
shaped like the ones users bring (nulls in many columns, unseen and missing categories, wide
frames), through both inputs serving and batch use (row dicts and frames), pickled as the
shadow child receives them; and the versions that cannot be compiled, which must say why."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from mlops.schema import ServingSchema
from model_registry.compiled import (
    TOLERANCE,
    CompiledScorer,
    CompileError,
    compile_and_verify,
    compile_model,
    scorer_summary,
    verify,
)
from tests.byod import credit_file, wide_loans_file
from training.config import ModelConfig
from training.modeling import FAMILIES, FeatureSchema, build_pipeline

# Small forests keep the test quick; the converters do not depend on the tree count.
PARAMS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 30},
    "gradient_boosting": {"n_estimators": 40},
    "hist_gradient_boosting": {"max_iter": 60},
    "logistic_regression": {},
}


def _dataset(name: str) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    if name == "credit":
        frame = credit_file(rows=2500)
        y = (frame.pop("Risk") == "bad").to_numpy(int)
        frame = frame.drop(columns=["order_ref"])
    else:
        frame = wide_loans_file(rows=3000)
        y = (frame.pop("loan_status") == "Charged Off").to_numpy(int)
        frame = frame.drop(columns=["loan_id", "issue_d", "borrower_name", "borrower_email", "emp_title"])
    categorical = [c for c in frame.columns if frame[c].dtype == object]
    numeric = [c for c in frame.columns if c not in categorical]
    for column in numeric:
        frame[column] = frame[column].astype("float64")
    nullable = tuple(c for c in frame.columns if frame[c].isna().any())
    return frame, y, FeatureSchema(tuple(numeric), tuple(categorical), nullable)


@pytest.fixture(scope="module", params=["credit", "wide_loans"])
def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame, np.ndarray, FeatureSchema]:
    return (request.param, *_dataset(request.param))


def _serving(schema: FeatureSchema) -> ServingSchema:
    return ServingSchema.coerce(schema.to_dict())


def _as_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What the online app hands the scorer: JSON values, None for missing."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_compiles_to_the_fitted_models_scores(
    family: str, dataset: tuple[str, pd.DataFrame, np.ndarray, FeatureSchema]
) -> None:
    name, frame, y, schema = dataset
    train, holdout = frame.iloc[: len(frame) * 7 // 10], frame.iloc[len(frame) * 7 // 10 :]
    model = build_pipeline(ModelConfig(family=family, params=PARAMS[family]), schema).fit(train, y[: len(train)])
    serving = _serving(schema)
    scorer = pickle.loads(pickle.dumps(CompiledScorer(compile_model(model, serving), serving)))

    # Rows as they come: gaps in every column, a category never seen, a missing category.
    probe = holdout.head(40).copy()
    for i, column in enumerate(frame.columns):
        probe.iloc[i % len(probe), probe.columns.get_loc(column)] = np.nan if column in schema.numeric else None
    for column in schema.categorical:
        probe.iloc[3, probe.columns.get_loc(column)] = "never seen in training"
    fitted = model.predict_proba(probe)[:, 1]
    np.testing.assert_allclose(scorer.score_frame(probe), fitted, atol=TOLERANCE, rtol=0)
    # The online path: JSON null for any gap, given to the fitted model as None (serving's frame).
    rows = _as_rows(probe)
    served = pd.DataFrame(rows, columns=list(probe.columns)).astype(
        {c: "float64" for c in schema.numeric} | {c: object for c in schema.categorical}
    )
    served[list(schema.categorical)] = (
        served[list(schema.categorical)].astype(object).where(served[list(schema.categorical)].notna(), None)
    )
    np.testing.assert_allclose(scorer.score_rows(rows), model.predict_proba(served)[:, 1], atol=TOLERANCE, rtol=0)

    check = verify(model, scorer, holdout)
    assert check.rows == len(holdout)
    assert check.probe_rows == min(200, len(holdout)) * (len(schema.columns) + len(schema.categorical))
    assert check.max_abs_diff <= TOLERANCE, (name, family, check)
    assert check.passed, (name, family, check)
    if family == "random_forest":
        # A forest's probability is a vote share: a tie is 0.5 exactly on both sides, not
        # 0.49999997 (a label flip) as float32 sums of divided votes gave it.
        fitted = model.predict_proba(holdout)[:, 1]
        assert (scorer.score_frame(holdout)[fitted == 0.5] == 0.5).all(), (name, int((fitted == 0.5).sum()))


def test_a_flip_at_the_threshold_registers_without_a_compiled_scorer_and_says_why() -> None:
    frame, y, schema = _dataset("credit")
    model = build_pipeline(ModelConfig(family="logistic_regression"), schema).fit(frame, y)
    serving = _serving(schema)
    fitted = model.predict_proba(frame)[:, 1]
    compiled = CompiledScorer(compile_model(model, serving), serving).score_frame(frame)
    # A threshold between the two scores of the row float32 rounding moved most: it flips there.
    i = int(np.argmax(np.abs(compiled - fitted)))
    assert compiled[i] != fitted[i]
    result = compile_and_verify(model, serving, frame, threshold=float((compiled[i] + fitted[i]) / 2))
    assert result.record["verification"]["label_flips"] >= 1
    assert result.record["verification"]["max_abs_diff"] <= TOLERANCE  # close, and still refused
    assert result.onnx_bytes is None
    assert result.tags["scorer"] == "sklearn"
    assert "label flip" in result.tags["scorer_reason"]
    assert scorer_summary(result.tags).startswith("sklearn: disagrees with the fitted model")


class _Unconvertible(ClassifierMixin, BaseEstimator):
    """An estimator skl2onnx has no converter for (a user's own class)."""

    def fit(self, X: Any, y: Any) -> _Unconvertible:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.full(len(X), 0.3)
        return np.column_stack([1 - p, p])


def test_a_model_skl2onnx_cannot_convert_registers_with_the_reason() -> None:
    frame, y, schema = _dataset("credit")
    pipeline = build_pipeline(ModelConfig(family="logistic_regression"), schema)
    model = Pipeline([("prep", pipeline.named_steps["prep"]), ("model", _Unconvertible())]).fit(frame, y)
    with pytest.raises(CompileError, match="skl2onnx cannot convert it"):
        compile_model(model, _serving(schema))
    result = compile_and_verify(model, _serving(schema), frame, threshold=0.5)
    assert result.onnx_bytes is None
    assert result.record["runtime"] == "sklearn"
    assert result.record["verification"] is None
    assert result.tags == {"scorer": "sklearn", "scorer_reason": result.record["reason"]}
    assert "_Unconvertible" in result.record["reason"]


def test_a_graph_for_other_columns_is_refused() -> None:
    frame, y, schema = _dataset("credit")
    model = build_pipeline(ModelConfig(family="hist_gradient_boosting", params={"max_iter": 10}), schema).fit(frame, y)
    data = compile_model(model, _serving(schema))
    other = ServingSchema.coerce({**schema.to_dict(), "extra_column": "number"})
    with pytest.raises(CompileError, match="extra_column"):
        CompiledScorer(data, other)


def test_versions_without_a_scorer_tag_are_described_as_fitted() -> None:
    assert scorer_summary({}).startswith("sklearn (registered before")
    assert scorer_summary({"scorer": "onnx", "scorer_max_abs_diff": "2e-07", "scorer_label_flips": "0"}) == (
        "onnx: compiled scorer verified on the holdout and probes (max |score difference| 2e-07, label flips 0)"
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_dataset_without_categorical_columns_compiles(family: str) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    frame.loc[::11, "a"] = np.nan
    y = ((frame["a"].fillna(0) + rng.normal(size=600)) > 0).to_numpy(int)
    schema = FeatureSchema(("a", "b"), (), ("a",))
    model = build_pipeline(ModelConfig(family=family, params=PARAMS[family]), schema).fit(frame, y)
    result = compile_and_verify(model, _serving(schema), frame, threshold=0.5)
    assert result.record["verification"] is not None, result.record["reason"]
    assert result.record["verification"]["max_abs_diff"] <= TOLERANCE


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_columns_whose_names_are_not_identifiers_compile(family: str) -> None:
    """Census-style names ("capital-gain", "marital status", "home.own", "1st_lien") that
    skl2onnx renames in the graph, one of them clashing with a real column of the renamed name:
    each value still reaches its own input, in rows and frames, missing values included."""
    rng = np.random.default_rng(3)
    n = 800
    frame = pd.DataFrame(
        {
            "capital-gain": rng.normal(size=n),
            "capital_gain": rng.normal(size=n),  # what skl2onnx calls the column above
            "1st_lien": rng.normal(size=n),
            "marital status": rng.choice(["married", "single", "divorced"], n).astype(object),
            "home.own": rng.choice(["rent", "own"], n).astype(object),
        }
    )
    frame.loc[::13, "capital-gain"] = np.nan
    frame.loc[::17, "marital status"] = None
    y = ((frame["capital-gain"].fillna(0) - frame["capital_gain"] + (frame["home.own"] == "own")) > 0).to_numpy(int)
    schema = FeatureSchema(
        ("capital-gain", "capital_gain", "1st_lien"), ("marital status", "home.own"), ("capital-gain", "marital status")
    )
    model = build_pipeline(ModelConfig(family=family, params=PARAMS[family]), schema).fit(frame, y)
    serving = _serving(schema)
    scorer = pickle.loads(pickle.dumps(CompiledScorer(compile_model(model, serving), serving)))
    probe = frame.head(60)
    fitted = model.predict_proba(probe)[:, 1]
    np.testing.assert_allclose(scorer.score_frame(probe), fitted, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(scorer.score_rows(_as_rows(probe)), fitted, atol=TOLERANCE, rtol=0)
    result = compile_and_verify(model, serving, frame, threshold=0.5)
    assert result.record["verification"] is not None, result.record["reason"]
    assert result.record["verification"]["max_abs_diff"] <= TOLERANCE


@pytest.mark.parametrize("trees", [46, 100])
def test_a_forests_tied_votes_are_one_half_exactly_and_the_version_compiles(trees: int) -> None:
    """With these tree counts float32 sums of pre-divided votes put ties below 0.5 (a label flip
    at the threshold, so the version went uncompiled); the compiled forest divides once, at the end."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = (frame["a"] + rng.normal(size=3000) > 0).astype(int)
    prep = ColumnTransformer([("num", "passthrough", ["a", "b"])])
    model = Pipeline([("prep", prep), ("model", RandomForestClassifier(n_estimators=trees, random_state=1))])
    model.fit(frame.iloc[:2000], y.iloc[:2000])
    serving = ServingSchema.coerce({"a": "number", "b": "number"})
    holdout = frame.iloc[2000:]
    fitted = model.predict_proba(holdout)[:, 1]
    ties = fitted == 0.5
    assert ties.sum() >= 5

    scorer = CompiledScorer(compile_model(model, serving), serving)
    assert (scorer.score_frame(holdout)[ties] == 0.5).all()
    np.testing.assert_allclose(scorer.predict_proba(holdout), model.predict_proba(holdout), atol=TOLERANCE, rtol=0)
    # The holdout's probes (each column made missing) hold more ties: none flips either.
    result = compile_and_verify(model, serving, holdout, threshold=0.5)
    assert result.record["verification"]["label_flips"] == 0
    assert result.tags["scorer"] == "onnx"
