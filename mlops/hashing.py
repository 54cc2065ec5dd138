"""Content hashes shared by every room: of JSON payloads (schemas, fingerprints), frames and files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def fingerprint(payload: Any) -> str:
    """Stable short hash of a JSON-able payload (sorted keys)."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def frame_hash(df: pd.DataFrame) -> str:
    """Content hash of a frame (values and column names, order-sensitive)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """The file's full sha256 (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hash(path: Path) -> str:
    """A short id of the file's content (the first 16 hex digits of its sha256)."""
    return file_sha256(path)[:16]


__all__ = ["file_hash", "file_sha256", "fingerprint", "frame_hash"]
