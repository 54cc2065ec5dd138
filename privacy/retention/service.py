"""``apply_retention``: plan every store's deletions, refuse or delete, and record what was done.

Every enabled policy's store plans first; only when all plans stand (no refusal) does any store
delete. One retention run at a time per state folder (a lock file). A run that deletes writes
``<state>/privacy/retention/<time>.json``: per store its period, cutoff, the items deleted with
their bytes and rows, what was kept and why (:meth:`StorePlan.as_dict`). A dry run plans the same and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops.state import file_lock
from privacy.retention.policies import RetentionConfig
from privacy.retention.stores import STORES, RetentionContext, StorePlan


@dataclass
class RetentionRecord:
    environment: str
    dry_run: bool
    started: str
    seconds: float = 0.0
    stores: list[StorePlan] = field(default_factory=list)
    record: str = ""  # where the record was written ("" for a dry run)

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "dry_run": self.dry_run,
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "stores": [s.as_dict() for s in self.stores],
        }


def records_dir(state_dir: Path) -> Path:
    return state_dir / "privacy" / "retention"


def apply_retention(
    config: RetentionConfig, context: RetentionContext, *, dry_run: bool = False, now: datetime | None = None
) -> RetentionRecord:
    """Delete what every enabled policy's period has passed (``dry_run``: only say what)."""
    now = now or datetime.now(UTC)
    record = RetentionRecord(context.environment, dry_run, now.isoformat(timespec="seconds"))
    start = time.perf_counter()
    # A dry run deletes nothing, so it needs no lock (and creates no lock file).
    lock = records_dir(context.state_dir).parent / "retention.lock"
    with contextlib.nullcontext() if dry_run else file_lock(lock):
        planned: list[tuple[Any, StorePlan, float]] = []
        for policy in config.enabled():
            began = time.perf_counter()
            store = STORES[str(getattr(policy, "type", ""))](policy, context)
            # A refusal raises here, before any store has deleted anything.
            planned.append((store, store.plan(now - timedelta(days=policy.days)), time.perf_counter() - began))
        for store, plan, plan_s in planned:
            began = time.perf_counter()
            if not dry_run:
                plan.items = store.delete(plan)
            plan.seconds = plan_s + time.perf_counter() - began
            record.stores.append(plan)
    record.seconds = time.perf_counter() - start
    if not dry_run:
        folder = records_dir(context.state_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
        path.write_text(json.dumps(record.as_dict(), indent=2) + "\n")
        record.record = str(path)
    return record


__all__ = ["RetentionRecord", "apply_retention", "records_dir"]
