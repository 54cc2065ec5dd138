"""KFP components: each declares a typed interface on the one platform image and calls one
library function of its room. The logic lives (and is unit-tested) in the rooms.

Every training component takes ``config`` (the run's :class:`~platform_config.RunConfig` as
JSON), parses it once, hands each room only its own sections, reads its inputs' contracts
from their artifact metadata, and publishes its outputs' contracts and its figures (an
``Output[Metrics]``).
"""

__all__ = [
    "batch_predict",
    "build_features",
    "evaluate",
    "govern",
    "image",
    "ingest",
    "model_card",
    "promote",
    "register",
    "train",
    "validate_data",
]
