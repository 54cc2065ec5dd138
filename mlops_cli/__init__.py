"""The ``mlops`` command: the top layer. It may import every room; nothing imports it.

Rooms are imported inside the commands that use them, so ``mlops --help`` answers at once.
"""

__all__: list[str] = []
