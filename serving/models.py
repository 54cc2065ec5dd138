"""The models the online app serves: the ``champion`` always, the ``challenger`` in shadow mode.

A version registered with a compiled scorer (:mod:`model_registry.compiled`, verified equal to
the fitted model on its holdout) scores through it; otherwise the fitted scikit-learn model
does. Both take the same inputs, so nothing above this module knows which one answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.errors import RegistryError
from mlops.schema import ServingSchema

# uvicorn configures this logger, so the line appears beside the server's own.
log = logging.getLogger("uvicorn.error")

if TYPE_CHECKING:
    from model_registry.compiled import CompiledScorer
    from model_registry.registry import ModelRegistry, VersionInfo


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model with the version it came from and the feature columns it reads."""

    name: str
    version: str
    model: Any
    serving_schema: ServingSchema | dict[str, str]
    info: VersionInfo | None = None
    # The version's compiled scorer when it has a verified one (None: the fitted model scores).
    compiled: CompiledScorer | None = None

    @property
    def scorer(self) -> str:
        """What scores: ``onnx`` (the compiled scorer) or ``sklearn`` (the fitted model)."""
        return "sklearn" if self.compiled is None else self.compiled.runtime

    @cached_property
    def schema(self) -> ServingSchema:
        return ServingSchema.coerce(self.serving_schema)

    @cached_property
    def columns(self) -> list[str]:
        return self.schema.columns

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities; ``features`` may carry extra columns (another variant's)."""
        if self.compiled is not None:
            return self.compiled.score_frame(features)
        return np.asarray(self.model.predict_proba(features[self.columns])[:, 1], dtype="float64")

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Positive-class probabilities of rows given as ``{column: value}`` (None: missing).

        The online path: the compiled scorer reads the values straight into its input arrays;
        the fitted model needs a frame typed as in training (float64 numbers, object strings).
        """
        if self.compiled is not None:
            return self.compiled.score_rows(rows)
        return self.predict(typed_frame(rows, self.schema.kinds))


def typed_frame(rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> pd.DataFrame:
    """``{column: value}`` rows (None or absent: missing) as a frame typed as in training:
    float64 for ``number`` columns (missing: NaN), object for the others (missing: None)."""
    return pd.DataFrame(
        {
            column: np.asarray([np.nan if (v := row.get(column)) is None else v for row in rows], dtype="float64")
            if kind == "number"
            else np.asarray([row.get(column) for row in rows], dtype=object)
            for column, kind in kinds.items()
        }
    )


@dataclass(frozen=True)
class LoadedModels:
    champion: LoadedModel
    challenger: LoadedModel | None = None


def load_models(registry: ModelRegistry, name: str, *, shadow: bool) -> LoadedModels:
    """Load ``name``'s champion and, when ``shadow``, its challenger (absent is fine: nothing to mirror).

    The challenger is scored on the features requests give the champion, so it may not need a
    feature outside the champion's serving schema; that, a missing champion or a version
    without a serving schema raises :class:`RegistryError`.
    """
    champion_info = registry.by_alias(name, "champion")
    if champion_info is None:
        raise RegistryError(f"model {name!r} has no champion version to serve; promote one with `mlops models promote`")
    champion = _load(registry, champion_info)
    if not shadow:
        return LoadedModels(champion)
    challenger_info = registry.by_alias(name, "challenger")
    if challenger_info is None:
        return LoadedModels(champion)
    challenger = _load(registry, challenger_info)
    missing = sorted(set(challenger.columns) - set(champion.columns))
    if missing:
        raise RegistryError(
            f"challenger {name} {challenger.version} needs features the champion {champion.version} "
            f"does not accept ({', '.join(missing)}); it cannot be shadowed on the champion's requests"
        )
    return LoadedModels(champion, challenger)


def _load(registry: ModelRegistry, info: VersionInfo) -> LoadedModel:
    schema = info.schema
    if schema is None:
        raise RegistryError(f"{info.name} {info.semver} has no serving schema (tag 'serving_schema')")
    return LoadedModel(info.name, info.semver, registry.load_model(info), schema, info, compiled_scorer(registry, info))


def compiled_scorer(registry: ModelRegistry, info: VersionInfo) -> CompiledScorer | None:
    """The version's verified compiled scorer; None (the fitted model scores) when it has none,
    or when this runtime cannot load the stored graph (logged: the version still serves)."""
    from model_registry.compiled import CompiledScorer, CompileError

    data = registry.load_compiled(info)
    if data is None:
        return None
    try:
        return CompiledScorer(data, ServingSchema.coerce(info.schema or {}))
    except CompileError as exc:
        log.warning("%s %s: compiled scorer not used, the fitted model scores (%s)", info.name, info.semver, exc)
        return None


__all__ = ["LoadedModel", "LoadedModels", "compiled_scorer", "load_models", "typed_frame"]
