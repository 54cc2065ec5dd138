"""Column-name hints: which entity a column's name suggests (data: ``hints.yaml`` beside this file)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from pydantic import Field

from mlops.config import StrictModel, load_model

HINTS_FILE = Path(__file__).with_name("hints.yaml")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


class NameHint(StrictModel):
    """One entity and the column-name words that suggest it."""

    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    words: list[str] = Field(min_length=1)
    # Words that cancel the hint (``product_name`` names no person).
    unless: list[str] = Field(default_factory=list)


class NameHints(StrictModel):
    hints: list[NameHint]


def name_words(column: str) -> tuple[str, ...]:
    """``customerEmail_2`` → ``("customer", "email", "2")``."""
    return tuple(w for w in _SEPARATORS.split(_CAMEL.sub("_", str(column)).lower()) if w)


def _contains(words: tuple[str, ...], phrase: str) -> bool:
    wanted = tuple(phrase.split("_"))
    n = len(wanted)
    return any(words[i : i + n] == wanted for i in range(len(words) - n + 1))


@cache
def load_hints(path: Path = HINTS_FILE) -> tuple[NameHint, ...]:
    """The hints file, validated (a bad file is a ConfigError naming file and key)."""
    return tuple(load_model(path, NameHints).hints)


def hinted_entities(column: str, hints: tuple[NameHint, ...] | None = None) -> frozenset[str]:
    """The entities ``column``'s name suggests."""
    words = name_words(column)
    found = set()
    for hint in load_hints() if hints is None else hints:
        if any(_contains(words, w) for w in hint.words) and not any(_contains(words, u) for u in hint.unless):
            found.add(hint.entity)
    return frozenset(found)


__all__ = ["HINTS_FILE", "NameHint", "NameHints", "hinted_entities", "load_hints", "name_words"]
