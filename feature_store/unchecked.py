"""Feast without typeguard's run-time type checks: its import drops from ~7 s of CPU to ~2 s.

Feast decorates its core classes with typeguard's ``@typechecked``. typeguard 4 instruments each
decorated function when its module is imported, by re-reading and recompiling the module's source
(agronholm/typeguard#468): importing ``feast`` costs about 5 s of CPU for it in every process that
reads or writes features (the ``build_features`` step, a server reading features by entity id,
erasure, retention). The checks are a debugging aid that typeguard itself leaves out under
``python -O``; they also slow every online read (featurebyte patched them out for that reason,
featurebyte/featurebyte#2363). Only Feast's own functions are left unchecked: the decorator stays
as it was for any other module.

:func:`install` is called by the ``feature_store`` package before anything imports Feast; it
costs nothing until Feast is imported (typeguard is loaded only then).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType


def _skip_feast(original: Any) -> Any:
    def typechecked(target: Any = None, **options: Any) -> Any:
        if target is None:  # used as @typechecked(...)
            return functools.partial(typechecked, **options)
        module = getattr(getattr(target, "__func__", target), "__module__", None) or ""
        if module == "feast" or module.startswith("feast."):
            return target
        return original(target, **options)

    typechecked.unchecked_feast = True  # type: ignore[attr-defined]
    return typechecked


def _patch_typeguard() -> None:
    import typeguard

    if not getattr(typeguard.typechecked, "unchecked_feast", False):
        typeguard.typechecked = _skip_feast(typeguard.typechecked)


class _BeforeFeast:
    """An import finder (``sys.meta_path``) that patches typeguard when ``feast`` is first
    imported, then steps aside: it finds nothing, the usual finders import Feast."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname == "feast":
            sys.meta_path.remove(self)
            _patch_typeguard()


def install() -> None:
    """Leave Feast's functions unchecked, whenever Feast is imported in this process."""
    if "feast" in sys.modules:  # already imported (and instrumented): nothing left to gain
        return
    if not any(isinstance(finder, _BeforeFeast) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BeforeFeast())
