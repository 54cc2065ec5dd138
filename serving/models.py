"""The models the online app serves: the ``champion`` always, the ``challenger`` in shadow mode."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.errors import RegistryError
from mlops.schema import ServingSchema

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry, VersionInfo


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model with the version it came from and the feature columns it reads."""

    name: str
    version: str
    model: Any
    serving_schema: ServingSchema | dict[str, str]
    info: VersionInfo | None = None

    @cached_property
    def schema(self) -> ServingSchema:
        return ServingSchema.coerce(self.serving_schema)

    @cached_property
    def columns(self) -> list[str]:
        return self.schema.columns

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities; ``features`` may carry extra columns (another variant's)."""
        return np.asarray(self.model.predict_proba(features[self.columns])[:, 1], dtype="float64")


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
    return LoadedModel(info.name, info.semver, registry.load_model(info), schema, info)


__all__ = ["LoadedModel", "LoadedModels", "load_models"]
