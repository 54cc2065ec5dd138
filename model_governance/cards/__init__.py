"""Model cards: the card as typed data (:class:`ModelCard`) and its Markdown/HTML renderings."""

from model_governance.cards.model import (
    DEFAULT_ETHICAL_CONSIDERATIONS,
    DEFAULT_INTENDED_USE,
    DEFAULT_LIMITATIONS,
    FAIRNESS_GATE,
    LIMITATIONS_NOT_STATED,
    PLATFORM_LIMITATIONS,
    ChampionComparison,
    ModelCard,
    ModelDetails,
    TimeRange,
    TrainingData,
)
from model_governance.cards.render import render_html, render_markdown

__all__ = [
    "DEFAULT_ETHICAL_CONSIDERATIONS",
    "DEFAULT_INTENDED_USE",
    "DEFAULT_LIMITATIONS",
    "FAIRNESS_GATE",
    "LIMITATIONS_NOT_STATED",
    "PLATFORM_LIMITATIONS",
    "ChampionComparison",
    "ModelCard",
    "ModelDetails",
    "TimeRange",
    "TrainingData",
    "render_html",
    "render_markdown",
]
