"""Global feature importance of a fitted scikit-learn pipeline: mean |SHAP| per original column.

The pipeline is split into its preprocessing (every step but the last) and the model. SHAP
values are computed on the preprocessed matrix, then the encoded columns (one-hot indicators)
are summed back, row by row, to the input column they came from: SHAP values are additive, so
the sum is that column's contribution to the row's prediction. Taking |.| before summing would
overstate a column that happens to have many categories.

Which explainer, and the unit of the values (``series.attrs["output"]``):

- HistGradientBoosting / GradientBoosting classifiers: ``TreeExplainer``, log-odds;
- RandomForest / ExtraTrees / DecisionTree classifiers: ``TreeExplainer``, probability;
- LogisticRegression: ``LinearExplainer`` (interventional, background = the sample), log-odds;
- anything else: the model-agnostic ``KernelExplainer`` on ``predict_proba`` (probability),
  on at most ``FALLBACK_MAX_ROWS`` rows because it fits a weighted regression per row.

Deep forests are explained on fewer rows than ``max_rows`` (see ``TREE_WORK_BUDGET``): TreeSHAP
on a default RandomForest costs 40-250 ms per row. ``attrs["rows"]`` says how many were used.

Units differ between model families, so compare rankings across families, not magnitudes.
shap is imported inside the functions: it costs seconds to import.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# TreeSHAP work per row grows with leaves x depth^2 summed over the trees: a 150-iteration
# HistGradientBoosting model is ~1M units (all 2000 rows fit the budget); a default 100-tree
# RandomForest grown on a few thousand rows is ~40M and on 16k rows ~250 ms per row, so deep
# forests get fewer rows, never fewer than TREE_MIN_ROWS. Roughly 1 ns per unit on a 2-core
# development machine; fewer rows keep the mean unbiased, only noisier.
TREE_WORK_BUDGET = 4e9
TREE_MIN_ROWS = 100
# The model-agnostic explainer fits a weighted regression per row (~20 ms): keep its sample small.
FALLBACK_MAX_ROWS = 100
FALLBACK_BACKGROUND_ROWS = 50
LINEAR_BACKGROUND_ROWS = 1000

_BOOSTED_TREES = ("HistGradientBoostingClassifier", "GradientBoostingClassifier")
_FOREST_TREES = ("RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier")


def global_importance(pipeline: Any, X: pd.DataFrame, *, max_rows: int = 2000, seed: int = 0) -> pd.Series:
    """Mean |SHAP| per input column of ``X`` that reaches the model, sorted descending.

    ``pipeline`` is a fitted ``sklearn.pipeline.Pipeline`` whose last step is a binary
    classifier (a bare fitted classifier works too when ``X`` is already numeric). At most
    ``max_rows`` rows of ``X`` are sampled (reproducibly, with ``seed``); deep forests and the
    model-agnostic fallback use fewer. The result is named ``mean_abs_shap``; ``attrs`` holds
    ``explainer`` (tree, linear or kernel), ``output`` (the unit) and ``rows``.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if len(X) == 0:
        raise ValueError("X has no rows")
    sample = X.sample(n=max_rows, random_state=seed) if len(X) > max_rows else X
    prep, model = _split(pipeline)

    if prep is None:
        matrix = _dense(sample.to_numpy())
        sources = [str(c) for c in X.columns]
    else:
        matrix = _dense(prep.transform(sample))
        sources = feature_sources(prep, [str(c) for c in X.columns])
    if len(sources) != matrix.shape[1]:
        raise ValueError(
            f"the preprocessing produced {matrix.shape[1]} columns but {len(sources)} could be "
            "traced back to input columns"
        )

    values, explainer, output = _shap_values(model, matrix.astype(float), seed)
    names = list(dict.fromkeys(sources))
    grouped = np.column_stack([values[:, [i for i, s in enumerate(sources) if s == n]].sum(axis=1) for n in names])
    importance = pd.Series(np.abs(grouped).mean(axis=0), index=names, name="mean_abs_shap", dtype=float)
    importance = importance.sort_values(ascending=False, kind="stable")
    importance.attrs = {"explainer": explainer, "output": output, "rows": int(values.shape[0])}
    return importance


def feature_sources(prep: Any, input_columns: Sequence[str]) -> list[str]:
    """For each output column of the fitted transformer ``prep``, the input column it came from.

    Understands ``ColumnTransformer`` (by its fitted ``transformers_`` and ``output_indices_``),
    ``OneHotEncoder``, ``"passthrough"``, nested ``Pipeline`` steps and any transformer that
    keeps one output per input. Raises ``ValueError`` for a transformer whose outputs cannot be
    traced (e.g. PCA), rather than guessing.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    columns = list(input_columns)
    if prep is None or (isinstance(prep, str) and prep == "passthrough"):
        return columns
    if isinstance(prep, Pipeline):
        for _, step in prep.steps:
            columns = feature_sources(step, columns)
        return columns
    if isinstance(prep, ColumnTransformer):
        return _column_transformer_sources(prep, columns)
    if isinstance(prep, OneHotEncoder):
        widths = _one_hot_widths(prep)
        if len(widths) != len(columns):
            raise ValueError(f"OneHotEncoder saw {len(widths)} columns, expected {len(columns)}")
        return [col for col, width in zip(columns, widths, strict=True) for _ in range(width)]
    n_out = _output_width(prep, len(columns))
    if n_out == len(columns):
        return columns
    raise ValueError(
        f"cannot trace the {n_out} outputs of {type(prep).__name__} back to its {len(columns)} input columns"
    )


def _column_transformer_sources(ct: Any, columns: list[str]) -> list[str]:
    by_name = {str(name): i for i, name in enumerate(getattr(ct, "feature_names_in_", columns))}
    total = max((s.stop for s in ct.output_indices_.values()), default=0)
    sources: list[str | None] = [None] * total
    for name, transformer, selection in ct.transformers_:
        block = ct.output_indices_[name]
        if block.stop == block.start or (isinstance(transformer, str) and transformer == "drop"):
            continue
        inputs = [columns[i] for i in _selected_positions(selection, by_name, len(columns))]
        traced = feature_sources(transformer, inputs)
        if len(traced) != block.stop - block.start:
            raise ValueError(f"transformer {name!r}: {len(traced)} traced columns for a block of {block}")
        sources[block] = traced
    missing = [i for i, s in enumerate(sources) if s is None]
    if missing:
        raise ValueError(f"output columns {missing[:5]} of the ColumnTransformer have no source")
    return [s for s in sources if s is not None]


def _selected_positions(selection: Any, by_name: dict[str, int], n_columns: int) -> list[int]:
    """Positions of a fitted ColumnTransformer column selection (names, ints, slice or mask)."""
    if isinstance(selection, str):
        return [by_name[selection]]
    if isinstance(selection, slice):
        return list(range(n_columns))[selection]
    items = list(np.asarray(selection).ravel())
    if not items:
        return []
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return [i for i, keep in enumerate(items) if keep]
    if all(isinstance(v, (int, np.integer)) for v in items):
        return [int(v) for v in items]
    return [by_name[str(v)] for v in items]


def _one_hot_widths(encoder: Any) -> list[int]:
    # scikit-learn's own per-column count already accounts for drop= and infrequent categories;
    # the categories_/drop_idx_ fallback covers versions without it.
    widths = getattr(encoder, "_n_features_outs", None)
    if widths is not None:
        return [int(w) for w in widths]
    drops = encoder.drop_idx_ if encoder.drop_idx_ is not None else [None] * len(encoder.categories_)
    return [len(cats) - (drop is not None) for cats, drop in zip(encoder.categories_, drops, strict=True)]


def _output_width(transformer: Any, n_inputs: int) -> int:
    if hasattr(transformer, "get_feature_names_out"):
        try:
            return len(transformer.get_feature_names_out())
        except (AttributeError, ValueError, TypeError):
            pass
    return n_inputs if hasattr(transformer, "transform") else -1


def _split(pipeline: Any) -> tuple[Any, Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(pipeline, Pipeline):
        if len(pipeline) == 1:
            return None, pipeline[-1]
        return pipeline[:-1], pipeline[-1]
    return None, pipeline


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):  # scipy sparse; the sample is small enough to densify
        matrix = matrix.toarray()
    return np.asarray(matrix)


def _shap_values(model: Any, matrix: np.ndarray, seed: int) -> tuple[np.ndarray, str, str]:
    """SHAP values for the positive class as an (n_rows, n_features) array, explainer, unit."""
    from sklearn.linear_model import LogisticRegression

    shap = _import_shap()

    kind = type(model).__name__
    if kind in _BOOSTED_TREES or kind in _FOREST_TREES:
        tree_explainer = shap.TreeExplainer(model)
        rows = _tree_row_budget(tree_explainer, len(matrix))
        values = tree_explainer.shap_values(_rows(matrix, rows, seed))
        return _positive_class(values), "tree", "log_odds" if kind in _BOOSTED_TREES else "probability"
    if isinstance(model, LogisticRegression):
        background = _rows(matrix, LINEAR_BACKGROUND_ROWS, seed)
        masker = shap.maskers.Independent(background, max_samples=len(background))
        values = shap.LinearExplainer(model, masker).shap_values(matrix)
        return _positive_class(values), "linear", "log_odds"

    if hasattr(model, "predict_proba"):

        def score(rows: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_proba(rows))[:, 1]

        output = "probability"
    else:

        def score(rows: np.ndarray) -> np.ndarray:
            return np.asarray(model.decision_function(rows))

        output = "decision_function"
    background = _rows(matrix, FALLBACK_BACKGROUND_ROWS, seed)
    explained = _rows(matrix, FALLBACK_MAX_ROWS, seed)
    # KernelExplainer rather than PermutationExplainer: the latter JIT-compiles numba code for
    # 10-20 s in every fresh process (each pipeline step is one). Kernel draws its coalitions
    # from numpy's global generator, so seed it for reproducibility and restore it afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        explainer = shap.KernelExplainer(score, background)
        values = explainer.shap_values(explained, nsamples=max(200, 4 * matrix.shape[1]), l1_reg=False, silent=True)
    finally:
        np.random.set_state(state)
    return _positive_class(values), "kernel", output


def _import_shap() -> Any:
    # shap's import builds its plot colormaps with calls matplotlib has marked for deprecation;
    # the warnings say nothing about our use and would land in every pipeline step's log.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
        import shap
    return shap


def _tree_row_budget(explainer: Any, n_rows: int) -> int:
    """How many rows TREE_WORK_BUDGET allows for this ensemble (all of them when unknown)."""
    try:
        trees = explainer.model.trees  # shap's parsed ensemble: the same view for every model type
        work = sum(int((t.children_left == -1).sum()) * (int(t.max_depth) + 1) ** 2 for t in trees)
    except (AttributeError, TypeError):
        return n_rows
    if work <= 0:
        return n_rows
    return min(n_rows, max(TREE_MIN_ROWS, int(TREE_WORK_BUDGET // work)))


def _positive_class(values: Any) -> np.ndarray:
    """Normalise shap's per-class layouts (list of arrays, or a trailing class axis)."""
    if isinstance(values, list):
        values = values[-1]
    array = np.asarray(values, dtype=float)
    if array.ndim == 3:
        array = array[:, :, -1]
    return array


def _rows(matrix: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(matrix) <= limit:
        return matrix
    picked = np.random.default_rng(seed).choice(len(matrix), size=limit, replace=False)
    return matrix[np.sort(picked)]
