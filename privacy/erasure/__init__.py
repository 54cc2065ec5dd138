"""Right to erasure across every store, and the tombstones a restore applies (see :mod:`.service`)."""

from privacy.erasure.files import ERASED
from privacy.erasure.service import (
    PENDING_TAG,
    ErasureScope,
    Receipt,
    StoreResult,
    apply_tombstones,
    erase,
    trained_on,
)
from privacy.erasure.subjects import SubjectMatcher

__all__ = [
    "ERASED",
    "PENDING_TAG",
    "ErasureScope",
    "Receipt",
    "StoreResult",
    "SubjectMatcher",
    "apply_tombstones",
    "erase",
    "trained_on",
]
