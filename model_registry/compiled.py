"""Compiled scorers: a registered version's whole fitted pipeline as one ONNX graph, scored by onnxruntime.

A fitted ``Pipeline([("prep", ColumnTransformer), ("model", estimator)])`` costs ~3 ms per
single-row call in scikit-learn, nearly all of it per-call overhead (column selection,
validation, pandas), and ~4 µs per row on large frames. The same pipeline converted by
skl2onnx and run by onnxruntime costs tens of microseconds per call. So every version gets a
compiled scorer at register time, *verified* before anything uses it:

    compile_model(model, schema) ─▶ ONNX bytes (one graph input per column: float32 numbers,
                                    strings; the positive-class probability as output)
    verify(model, scorer, holdout) ─▶ scores the holdout and probe rows with both; passes when
                                    max |difference| <= 1e-5 and no label flips at the threshold

Probe rows are holdout rows with one column at a time made missing, and each categorical
column in turn set to a category never seen in training: a batch file or a request may hold
gaps and values a clean holdout never had, and the compiled scorer must treat them exactly as
the fitted model does. A version whose conversion fails or disagrees is registered without one
and served by the fitted model; the reason is recorded (``scorer_reason`` tag, lineage).

Where skl2onnx 1.20 and scikit-learn 1.9 disagree, this module fills the gap instead of giving up:

- ``SimpleImputer(add_indicator=True)`` (the imputed families): skl2onnx converts the
  imputation but not the missing-indicator columns, so the graph is one column short. A
  converter for ``SimpleImputer`` adds them (``IsNaN`` of the indicator's features).
- Random forests learn where a split sends missing values (``tree_.missing_go_to_left``);
  skl2onnx's forest converter ignores it, so NaN always went right. The graph's
  ``nodes_missing_value_tracks_true`` is filled from the trees after conversion.
- A forest's probability is a vote share; skl2onnx sums leaf values already divided by the
  number of trees in float32, so a tie (15 of 30 trees) came out 0.49999997 where scikit-learn
  says 0.5, a label flip. The leaves hold undivided values, and one division ends the graph.
- A missing category: the one-hot encoder's categories become strings (``None`` -> "None",
  NaN -> "nan"). scikit-learn tells the two apart: a None where training had NaN (or the
  reverse) is an unknown category, all zeros. So each string input records the token for a
  None and the token for a NaN, each matching the category the encoder learned or none; any
  other value the encoder never saw matches no category, as ``handle_unknown="ignore"`` does.

Numbers enter the graph as float32, as scikit-learn's trees read them; onnxruntime's float64
tree ensemble does not load in this build. :class:`CompiledScorer` pickles as its ONNX bytes
(the shadow challenger runs in a spawned child process) and builds its session again there.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.schema import ServingSchema

if TYPE_CHECKING:
    import onnxruntime

RUNTIME = "onnx"
# The largest |compiled score - fitted score| a verified scorer may show (probabilities).
TOLERANCE = 1e-5
# Holdout rows copied into probes (one copy per column made missing, one per categorical set
# to an unseen value): enough to reach every tree path a gap can take, bounded for wide data.
PROBE_ROWS = 200
# A categorical value no training set holds: what "unseen" means in the probes.
UNSEEN = "\x00unseen"
# Fed for a non-string categorical value: it matches no category, as an unknown one.
_NO_CATEGORY = "\x00no-category"
_PROBABILITIES = "probabilities"
# The graph's metadata key holding each string input's missing token (see compile_model).
_MISSING_KEY = "mlops.missing_tokens"
# ... and each schema column's graph input: skl2onnx renames a column that is not an identifier
# ("capital-gain" reads input "capital_gain", and a real "capital_gain" then "capital_gain1").
_INPUTS_KEY = "mlops.input_names"
_install_lock = threading.Lock()
_installed = False


class CompileError(Exception):
    """The fitted model could not be compiled; the message says why, in a few words."""


@dataclass(frozen=True)
class Verification:
    """How the compiled scorer compared with the fitted model; what lineage and the card record."""

    rows: int
    probe_rows: int
    max_abs_diff: float
    label_flips: int
    threshold: float
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.label_flips == 0

    @property
    def reason(self) -> str | None:
        """Why the scorer is not used (None when it passed)."""
        if self.passed:
            return None
        return (
            f"disagrees with the fitted model: max |score difference| {self.max_abs_diff:.3g} "
            f"(tolerance {self.tolerance:g}), {self.label_flips} label flip(s) at {self.threshold:g} "
            f"over {self.rows + self.probe_rows} rows"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class CompiledScorer:
    """Positive-class probabilities from a compiled graph, for frames (batch) or row dicts (online)."""

    runtime = RUNTIME

    def __init__(self, onnx_bytes: bytes, schema: ServingSchema) -> None:
        self.onnx_bytes = onnx_bytes
        self.schema = schema
        self.kinds = dict(schema.kinds)
        self._session = _session(onnx_bytes)
        # The binding's own run (same arguments): InferenceSession.run checks the feed's names
        # and values again on every call, ~10 µs of Python that a single row pays in full; the
        # names are checked once, below, and the feed is always built here.
        self._run_graph = getattr(self._session, "_sess", self._session).run
        metadata = self._session.get_modelmeta().custom_metadata_map
        names = {i.name for i in self._session.get_inputs()}
        # Graphs compiled before the map was recorded read each column under its own name.
        inputs: dict[str, str] = json.loads(metadata.get(_INPUTS_KEY, "null")) or {c: c for c in names}
        if set(inputs) != set(self.kinds) or set(inputs.values()) != names:
            raise CompileError(f"the graph reads {sorted(inputs)}, the serving schema names {sorted(self.kinds)}")
        # (schema column, graph input) pairs, by kind.
        self._numbers = [(c, inputs[c]) for c, k in self.kinds.items() if k == "number"]
        self._strings = [(c, inputs[c]) for c, k in self.kinds.items() if k == "string"]
        self._missing = _missing_tokens(json.loads(metadata.get(_MISSING_KEY, "{}")), [c for c, _ in self._strings])

    def __getstate__(self) -> dict[str, Any]:
        return {"onnx_bytes": self.onnx_bytes, "schema": self.schema.to_json()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["onnx_bytes"], ServingSchema.parse(state["schema"]))  # type: ignore[misc]

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (probabilities,) = self._run_graph([_PROBABILITIES], feed, None)
        return np.asarray(probabilities[:, 1], dtype="float64")

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Scores of rows given as ``{column: value}`` (None: missing), without a frame."""
        feed: dict[str, np.ndarray] = {}
        for column, name in self._numbers:
            feed[name] = np.array(
                [math.nan if (v := row[column]) is None else v for row in rows], dtype=np.float32
            ).reshape(-1, 1)
        for column, name in self._strings:
            none = self._missing[column][0]  # JSON has null, never NaN, for a missing string
            feed[name] = np.array(
                [none if (v := row[column]) is None else v if isinstance(v, str) else _NO_CATEGORY for row in rows],
                dtype=object,
            ).reshape(-1, 1)
        return self._run(feed)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """scikit-learn's answer shape (both classes' probabilities): batch engines, Spark tasks
        and anything else that calls ``model.predict_proba`` take the scorer in the model's place."""
        positive = self.score_frame(frame)
        return np.column_stack([1.0 - positive, positive])

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores of a frame holding (at least) the schema's columns, typed as in training."""
        feed: dict[str, np.ndarray] = {}
        for column, name in self._numbers:
            feed[name] = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float32).reshape(-1, 1)
        for column, name in self._strings:
            values = frame[column].to_numpy(dtype=object)
            none, nan = self._missing[column]
            missing = np.flatnonzero(pd.isna(values))
            if pd.api.types.infer_dtype(values, skipna=True) == "string":
                # Strings and gaps (the usual column): checked in C, only the gaps one by one.
                out = values.copy()
            else:  # numbers or other objects among them: those match no category
                out = np.full(len(values), _NO_CATEGORY, dtype=object)
                is_str = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
                out[is_str] = values[is_str]
            out[missing] = [none if values[i] is None else nan for i in missing]
            feed[name] = out.reshape(-1, 1)
        return self._run(feed)


def _session(onnx_bytes: bytes) -> onnxruntime.InferenceSession:
    """One thread per call, as the serving process runs scikit-learn (serving.server)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings about unused initialisers are not the operator's business
    try:
        return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for graphs it cannot load
        raise CompileError(f"onnxruntime cannot load the graph: {type(exc).__name__}: {_first_line(exc)}") from exc


def _missing_tokens(recorded: Mapping[str, list[str]], columns: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Per string column, the tokens :func:`compile_model` recorded for a None and for a NaN."""
    tokens = {}
    for column in columns:
        learned = recorded.get(column, [])
        tokens[column] = (
            "None" if "None" in learned else _NO_CATEGORY,
            "nan" if "nan" in learned else _NO_CATEGORY,
        )
    return tokens


def _encoder_missing_tokens(model: Any) -> dict[str, list[str]]:
    """Per categorical column, the strings the converter gives the missing categories the
    one-hot encoder learned (``str(None)``, ``str(nan)``); columns without any are absent."""
    from sklearn.preprocessing import OneHotEncoder

    prep = getattr(model, "named_steps", {}).get("prep")
    tokens: dict[str, list[str]] = {}
    for _, transformer, columns in getattr(prep, "transformers_", []):
        encoder = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
        # An encoder of no columns (a dataset without categoricals) is never fitted.
        if not isinstance(encoder, OneHotEncoder) or not isinstance(columns, list | tuple) or not columns:
            continue
        for column, categories in zip(columns, encoder.categories_, strict=True):
            for category in categories:
                if category is None or (isinstance(category, float) and math.isnan(category)):
                    tokens.setdefault(str(column), []).append(str(category))
    return tokens


def compile_model(model: Any, schema: ServingSchema) -> bytes:
    """The fitted pipeline as ONNX bytes: one input per schema column, ``probabilities`` out.

    Raises :class:`CompileError` naming why (an estimator skl2onnx cannot convert, a
    categorical column whose categories are not strings, a graph onnxruntime cannot load).
    """
    _install_converters()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    kinds = schema.kinds
    if not kinds:
        raise CompileError("the serving schema names no features")
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    inputs = [
        (column, FloatTensorType([None, 1]) if kind == "number" else StringTensorType([None, 1]))
        for column, kind in kinds.items()
    ]
    try:
        graph = convert_sklearn(
            model,
            initial_types=inputs,
            target_opset={"": 17, "ai.onnx.ml": 3},
            # Probabilities as a plain tensor, not a list of {label: probability} maps.
            options={id(estimator): {"zipmap": False}},
        )
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert
        raise CompileError(f"skl2onnx cannot convert it: {type(exc).__name__}: {_first_line(exc)}") from exc
    if _PROBABILITIES not in {o.name for o in graph.graph.output}:
        raise CompileError(f"the graph has no {_PROBABILITIES!r} output (is it a classifier?)")
    _set_forest_missing_branches(graph, estimator)
    _count_forest_votes(graph, estimator)
    graph_inputs = [i.name for i in graph.graph.input]
    if len(graph_inputs) != len(kinds):
        raise CompileError(f"the graph has {len(graph_inputs)} inputs for {len(kinds)} schema columns")
    # In the order given (initial_types), whatever names skl2onnx made of the columns.
    for key, value in (
        (_MISSING_KEY, _encoder_missing_tokens(model)),
        (_INPUTS_KEY, dict(zip(kinds, graph_inputs, strict=True))),
    ):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    data: bytes = graph.SerializeToString()
    _session(data)  # loads, or says why not
    return data


def verify(
    model: Any, scorer: CompiledScorer, holdout: pd.DataFrame, *, threshold: float = 0.5, probe_rows: int = PROBE_ROWS
) -> Verification:
    """Both scorers on ``holdout`` and its probes (module docstring); the worst disagreement."""
    # Typed as serving and batch give it to the model: float64 numbers (NaN: missing), object
    # strings (None: missing); a nullable Int64 column from parquet would carry pandas.NA.
    frame = pd.DataFrame(
        {
            column: pd.to_numeric(holdout[column], errors="coerce").astype("float64")
            if kind == "number"
            else holdout[column].astype(object).where(holdout[column].notna(), None)
            for column, kind in scorer.kinds.items()
        }
    ).reset_index(drop=True)
    probes = _probes(frame.head(probe_rows), scorer.kinds)
    both = pd.concat([frame, probes], ignore_index=True)
    fitted = np.asarray(model.predict_proba(both)[:, 1], dtype="float64")
    compiled = scorer.score_frame(both)
    diff = np.abs(compiled - fitted)
    worst = float(np.nanmax(diff)) if len(diff) else 0.0
    if np.isnan(diff).any():  # one side gave NaN where the other did not: not the same model
        worst = math.inf
    flips = int(((compiled >= threshold) != (fitted >= threshold)).sum())
    return Verification(len(frame), len(probes), worst, flips, threshold)


def _probes(base: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    parts = []
    for column, kind in kinds.items():
        gap = base.copy()
        gap[column] = np.nan if kind == "number" else None
        parts.append(gap)
        if kind == "string":
            unseen = base.copy()
            unseen[column] = UNSEEN
            parts.append(unseen)
    return pd.concat(parts, ignore_index=True) if parts else base.iloc[:0]


def _set_forest_missing_branches(graph: Any, estimator: Any) -> None:
    """Where each forest split sends a missing value, as scikit-learn learned it (module docstring)."""
    trees = [getattr(t, "tree_", None) for t in getattr(estimator, "estimators_", [])]
    if not trees or any(t is None or not hasattr(t, "missing_go_to_left") for t in trees):
        return
    from onnx import helper

    for node in graph.graph.node:
        if node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
            continue
        attrs = {a.name: a for a in node.attribute}
        tree_ids = helper.get_attribute_value(attrs["nodes_treeids"])
        node_ids = helper.get_attribute_value(attrs["nodes_nodeids"])
        tracks = [int(trees[t].missing_go_to_left[n]) for t, n in zip(tree_ids, node_ids, strict=True)]
        if "nodes_missing_value_tracks_true" in attrs:
            node.attribute.remove(attrs["nodes_missing_value_tracks_true"])
        node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))


def _count_forest_votes(graph: Any, estimator: Any) -> None:
    """A binary forest's probability as scikit-learn computes it: the trees' leaf values summed,
    then divided by the number of trees (module docstring).

    skl2onnx stores each leaf's value already divided (float32 1/30 for a pure leaf of 30 trees),
    so 15 such votes sum to 0.49999997 or 0.50000006 by the order of the trees, where scikit-learn
    says 0.5 exactly: a label flip at the threshold for every tied vote. The leaves hold the
    undivided value here, and one division (correctly rounded) ends the graph: a tie is 0.5 on
    both sides. Only the binary form skl2onnx writes for a forest is rewritten (one class id,
    no base values, no post-transform); any other graph is left as it is.
    """
    trees = getattr(estimator, "estimators_", None)
    if not isinstance(trees, list) or not trees:
        return
    import onnx
    from onnx import helper, numpy_helper

    nodes = [n for n in graph.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(nodes) != 1 or _PROBABILITIES not in nodes[0].output:
        return
    node = nodes[0]
    attrs = {a.name: a for a in node.attribute}
    labels = helper.get_attribute_value(attrs["classlabels_int64s"]) if "classlabels_int64s" in attrs else []
    post = helper.get_attribute_value(attrs["post_transform"]) if "post_transform" in attrs else b"NONE"
    class_ids = set(helper.get_attribute_value(attrs["class_ids"]))
    if len(labels) != 2 or post != b"NONE" or len(class_ids) != 1 or "base_values" in attrs:
        return
    n = float(len(trees))
    weights = np.asarray(helper.get_attribute_value(attrs["class_weights"]), dtype="float64") * n
    node.attribute.remove(attrs["class_weights"])
    node.attribute.append(helper.make_attribute("class_weights", weights.astype(np.float32).tolist()))
    votes = "forest_votes"
    node.output[list(node.output).index(_PROBABILITIES)] = votes
    graph.graph.initializer.extend(
        [
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "forest_positive"),
            numpy_helper.from_array(np.asarray(n, dtype=np.float32), "forest_trees"),
            numpy_helper.from_array(np.asarray(1.0, dtype=np.float32), "forest_one"),
        ]
    )
    graph.graph.node.extend(
        [
            # Binary form: column 1 holds the summed votes (column 0 is derived from it).
            helper.make_node("Gather", [votes, "forest_positive"], ["forest_positive_votes"], axis=1),
            helper.make_node("Div", ["forest_positive_votes", "forest_trees"], ["forest_positive_share"]),
            helper.make_node("Sub", ["forest_one", "forest_positive_share"], ["forest_negative_share"]),
            helper.make_node("Concat", ["forest_negative_share", "forest_positive_share"], [_PROBABILITIES], axis=1),
        ]
    )
    onnx.checker.check_model(graph)


def _install_converters() -> None:
    """Once per process: the SimpleImputer converter that also writes the indicator columns."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from skl2onnx import update_registered_converter
        from sklearn.impute import SimpleImputer

        update_registered_converter(
            SimpleImputer, "SklearnSimpleImputer", _imputer_shape, _imputer_converter, overwrite=True
        )
        _installed = True


def _indicator_columns(imputer: Any) -> list[int]:
    indicator = getattr(imputer, "indicator_", None)
    return [] if indicator is None else [int(i) for i in indicator.features_]


def _imputer_shape(operator: Any) -> None:
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes

    calculate_sklearn_imputer_output_shapes(operator)
    n, width = operator.outputs[0].type.shape
    if width is not None:
        operator.outputs[0].type.shape = [n, width + len(_indicator_columns(operator.raw_operator))]


def _imputer_converter(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's imputation, then the missing-indicator columns concatenated after it."""
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.proto import onnx_proto

    imputer = operator.raw_operator
    columns = _indicator_columns(imputer)
    if not columns:
        convert_sklearn_imputer(scope, operator, container)
        return
    if not isinstance(operator.inputs[0].type, FloatTensorType):
        raise RuntimeError("missing indicators are converted for float inputs only")
    # skl2onnx's converter writes to its operator's first output: give it one of our own.
    imputed = scope.declare_local_variable("imputed", FloatTensorType())
    convert_sklearn_imputer(
        scope, SimpleNamespace(raw_operator=imputer, inputs=operator.inputs, outputs=[imputed]), container
    )
    features = concatenate_variables(scope, operator.inputs, container)
    isnan = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [features], [isnan])
    indices = scope.get_unique_variable_name("indicator_columns")
    container.add_initializer(indices, onnx_proto.TensorProto.INT64, [len(columns)], columns)
    picked = scope.get_unique_variable_name("indicator_bool")
    container.add_node("Gather", [isnan, indices], [picked], axis=1)
    flags = scope.get_unique_variable_name("indicator")
    container.add_node("Cast", [picked], [flags], to=onnx_proto.TensorProto.FLOAT)
    container.add_node("Concat", [imputed.full_name, flags], [operator.outputs[0].full_name], axis=1)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


@dataclass(frozen=True)
class CompileResult:
    """What register records: the graph when it is to be used, and why (not)."""

    onnx_bytes: bytes | None
    record: dict[str, Any]

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags: what scores it, and the figures ``mlops models show`` prints."""
        tags = {"scorer": str(self.record["runtime"])}
        if self.record.get("reason"):
            tags["scorer_reason"] = str(self.record["reason"])[:500]
        check = self.record.get("verification") or {}
        if check:
            tags["scorer_max_abs_diff"] = f"{check['max_abs_diff']:.3g}"
            tags["scorer_label_flips"] = str(check["label_flips"])
        return tags


def compile_and_verify(model: Any, schema: ServingSchema, holdout: pd.DataFrame, *, threshold: float) -> CompileResult:
    """Compile ``model`` and verify it on ``holdout``; never raises for a model it cannot compile."""
    import time
    from importlib.metadata import version

    start = time.perf_counter()
    record: dict[str, Any] = {
        "runtime": "sklearn",
        "reason": None,
        "verification": None,
        "libraries": {name: version(name) for name in ("skl2onnx", "onnxruntime", "scikit-learn")},
    }
    data: bytes | None = None
    try:
        data = compile_model(model, schema)
        check = verify(model, CompiledScorer(data, schema), holdout, threshold=threshold)
        record["verification"] = check.to_dict()
        if check.passed:
            record["runtime"] = RUNTIME
        else:
            record["reason"], data = check.reason, None
    except CompileError as exc:
        record["reason"], data = str(exc), None
    record["seconds"] = round(time.perf_counter() - start, 3)
    return CompileResult(data, record)


def scorer_summary(tags: Mapping[str, str]) -> str:
    """One line saying what scores a version and why, from its tags (card, ``mlops models show``)."""
    runtime = tags.get("scorer")
    if runtime is None:
        return "sklearn (registered before compiled scorers)"
    if runtime == RUNTIME:
        return (
            f"{RUNTIME}: compiled scorer verified on the holdout and probes "
            f"(max |score difference| {tags.get('scorer_max_abs_diff', '?')}, "
            f"label flips {tags.get('scorer_label_flips', '?')})"
        )
    return f"sklearn: {tags.get('scorer_reason') or 'no compiled scorer'}"


__all__ = [
    "TOLERANCE",
    "CompileError",
    "CompileResult",
    "CompiledScorer",
    "Verification",
    "compile_and_verify",
    "compile_model",
    "scorer_summary",
    "verify",
]
