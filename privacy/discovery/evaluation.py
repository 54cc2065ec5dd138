"""Measuring discovery on a labelled corpus: per entity type precision, recall and F2.

A corpus row is ``(column, value, entities)``: the value as it would sit in a column of that
name, and the entity types a person labelled in it (none for a hard negative). Rows are
grouped by column, so name hints and the free-text decision work as in a real scan; each
value's predicted types are compared with its labels. F2 weighs recall twice as much as
precision: a missed PII column costs more than a column declared needlessly.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from privacy.config import DiscoveryConfig
from privacy.discovery.hints import hinted_entities
from privacy.discovery.recognizers import ALL_ENTITIES, CHECKSUM_ENTITIES
from privacy.discovery.scan import classify, is_free_text


@dataclass(frozen=True)
class LabelledValue:
    column: str
    value: str
    entities: frozenset[str]
    # What the row stands for (``visa``, ``order number failing Luhn``): for reading errors.
    kind: str = ""


@dataclass(frozen=True)
class TypeScore:
    entity: str
    support: int
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0

    def row(self) -> dict[str, float | int | str | bool]:
        return {
            "entity": self.entity,
            "checksum": self.entity in CHECKSUM_ENTITIES,
            "support": self.support,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f2": round(self.f2, 4),
        }


def read_corpus(path: Path) -> list[LabelledValue]:
    """The corpus CSV (columns: column, value, entities separated by ``;``, kind)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            LabelledValue(r["column"], r["value"], frozenset(e for e in r["entities"].split(";") if e), r["kind"])
            for r in csv.DictReader(fh)
        ]


def predict(items: list[LabelledValue], config: DiscoveryConfig) -> list[frozenset[str]]:
    """The predicted entity types of every item, in order."""
    by_column: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_column.setdefault(item.column, []).append(i)
    predicted: list[frozenset[str]] = [frozenset()] * len(items)
    for column, indices in by_column.items():
        texts = [items[i].value for i in indices]
        found = classify(
            texts,
            hinted=hinted_entities(column),
            free_text=is_free_text(texts, config.free_text_min_words),
            config=config,
        )
        for i, value in zip(indices, found, strict=True):
            predicted[i] = frozenset(value)
    return predicted


def score(
    items: list[LabelledValue], predicted: list[frozenset[str]], entities: Iterable[str] = ALL_ENTITIES
) -> list[TypeScore]:
    """Per entity type: true/false positives and false negatives over the items."""
    out = []
    for entity in entities:
        tp = fp = fn = support = 0
        for item, got in zip(items, predicted, strict=True):
            gold, hit = entity in item.entities, entity in got
            support += gold
            tp += gold and hit
            fp += hit and not gold
            fn += gold and not hit
        out.append(TypeScore(entity, support, tp, fp, fn))
    return out


def misses(items: list[LabelledValue], predicted: list[frozenset[str]]) -> list[dict[str, str]]:
    """The items predicted wrongly (kinds and types only: corpus values are synthetic, but a
    report never needs them)."""
    return [
        {"column": i.column, "kind": i.kind, "labelled": ";".join(sorted(i.entities)), "found": ";".join(sorted(p))}
        for i, p in zip(items, predicted, strict=True)
        if set(i.entities) != set(p)
    ]


__all__ = ["LabelledValue", "TypeScore", "misses", "predict", "read_corpus", "score"]
