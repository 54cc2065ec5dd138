from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from model_governance.explainability import feature_sources, global_importance, importance_plot_png
from model_governance.explainability import importance as importance_module

if TYPE_CHECKING:
    from conftest import Columns

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # IHDR follows the 8-byte signature
    return width, height


def test_feature_sources_trace_one_hot_columns_to_their_source(credit_frame: pd.DataFrame, columns: Columns) -> None:
    X = credit_frame[[*columns.features, "region"]]
    prep = ColumnTransformer(
        [
            ("num", Pipeline([("scale", StandardScaler())]), columns.numeric),
            ("cat", OneHotEncoder(drop="first", sparse_output=False), columns.categorical),
        ],
        remainder="passthrough",
    ).fit(X)

    sources = feature_sources(prep, list(X.columns))

    assert len(sources) == prep.transform(X.head()).shape[1]
    assert sources[: len(columns.numeric)] == columns.numeric
    # drop="first" leaves one column fewer than the number of categories.
    assert sources.count("loan_purpose") == credit_frame["loan_purpose"].nunique() - 1
    assert sources.count("risk_tier") == credit_frame["risk_tier"].nunique() - 1
    assert sources[-1] == "region"  # the remainder
    assert set(sources) == set(X.columns)


def test_feature_sources_refuse_untraceable_transformers(credit_frame: pd.DataFrame, columns: Columns) -> None:
    X = credit_frame[columns.numeric]
    prep = ColumnTransformer([("pca", PCA(n_components=2), columns.numeric)]).fit(X)
    with pytest.raises(ValueError, match="cannot trace"):
        feature_sources(prep, columns.numeric)


@pytest.mark.parametrize(
    ("fixture", "explainer", "output"),
    [
        ("hgb_pipeline", "tree", "log_odds"),
        ("rf_pipeline", "tree", "probability"),
        ("lr_pipeline", "linear", "log_odds"),
    ],
)
def test_importance_is_per_input_column_and_ranks_the_signal_first(
    fixture: str,
    explainer: str,
    output: str,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    request: pytest.FixtureRequest,
) -> None:
    pipeline = request.getfixturevalue(fixture)
    X = train_test[1][columns.features]

    importance = global_importance(pipeline, X, max_rows=400)

    assert sorted(importance.index) == sorted(columns.features)
    assert importance.index[0] == columns.signal
    assert importance.iloc[0] > 2 * importance.iloc[1]
    assert list(importance) == sorted(importance, reverse=True)
    assert (importance >= 0).all()
    assert importance.attrs == {"explainer": explainer, "output": output, "rows": 400}


def test_deep_forests_are_explained_on_fewer_rows(
    rf_pipeline: Pipeline,
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shrinking the work budget stands in for a forest too deep for the default one.
    monkeypatch.setattr(importance_module, "TREE_WORK_BUDGET", 1.0)

    importance = global_importance(rf_pipeline, train_test[1][columns.features], max_rows=400)

    assert importance.attrs["rows"] == importance_module.TREE_MIN_ROWS
    assert importance.index[0] == columns.signal


def test_other_models_use_the_model_agnostic_explainer(
    train_test: tuple[pd.DataFrame, pd.DataFrame],
    columns: Columns,
    build_pipeline: Callable[[object], Pipeline],
) -> None:
    train, test = train_test
    pipeline = build_pipeline(GaussianNB()).fit(train[columns.features], train["label"])

    importance = global_importance(pipeline, test[columns.features], max_rows=60)

    assert importance.attrs == {"explainer": "kernel", "output": "probability", "rows": 60}
    assert sorted(importance.index) == sorted(columns.features)
    assert importance.index[0] == columns.signal


def test_one_hot_shap_values_are_summed_per_row_before_taking_the_mean_absolute(
    lr_pipeline: Pipeline, train_test: tuple[pd.DataFrame, pd.DataFrame], columns: Columns
) -> None:
    # Interventional linear SHAP has a closed form, coef * (x - mean(x)), so the expected value
    # for a one-hot encoded column can be computed without shap.
    X = train_test[1][columns.features].head(300)
    matrix = lr_pipeline[:-1].transform(X)
    contributions = lr_pipeline[-1].coef_[0] * (matrix - matrix.mean(axis=0))
    names = list(lr_pipeline[:-1].get_feature_names_out())
    tier_columns = [i for i, name in enumerate(names) if name.startswith("cat__risk_tier_")]
    expected = np.abs(contributions[:, tier_columns].sum(axis=1)).mean()
    upper_bound = np.abs(contributions[:, tier_columns]).sum(axis=1).mean()

    importance = global_importance(lr_pipeline, X, max_rows=300)

    assert importance[columns.signal] == pytest.approx(expected, rel=1e-6)
    assert importance[columns.signal] < upper_bound  # summing |.| instead would overstate it


def test_sampling_is_reproducible_and_bounded(
    hgb_pipeline: Pipeline, train_test: tuple[pd.DataFrame, pd.DataFrame], columns: Columns
) -> None:
    X = train_test[1][columns.features]

    first = global_importance(hgb_pipeline, X, max_rows=100, seed=5)
    again = global_importance(hgb_pipeline, X, max_rows=100, seed=5)
    other = global_importance(hgb_pipeline, X, max_rows=100, seed=6)

    assert first.attrs["rows"] == 100
    pd.testing.assert_series_equal(first, again)
    assert not np.allclose(first.sort_index(), other.sort_index())


def test_importance_plot_is_a_png_whose_height_follows_top() -> None:
    series = pd.Series(np.linspace(1.0, 0.05, 20), index=[f"feature_{i}" for i in range(20)])
    series.attrs = {"output": "log_odds"}

    full = importance_plot_png(series)
    small = importance_plot_png(series, top=3)

    assert full.startswith(PNG_SIGNATURE)
    assert small.startswith(PNG_SIGNATURE)
    assert _png_size(small)[1] < _png_size(full)[1]
    with pytest.raises(ValueError, match="top"):
        importance_plot_png(series, top=0)
    with pytest.raises(ValueError, match="no feature"):
        importance_plot_png(pd.Series(dtype=float))
