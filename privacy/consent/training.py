"""Training keeps only the rows its subjects' consent allows (``privacy.consent.training``).

One query reads every subject's current status for ``training``; the frame is then filtered by
set membership. The outcome (:class:`~mlops.contracts.ConsentCheck`) travels on the data
contract into the step's figures and the registered version's lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mlops.contracts import ConsentCheck
from mlops.errors import DatasetError, PrivacyError
from privacy.config import ConsentConfig
from privacy.consent.store import ConsentStore

PURPOSE = "training"
# (raw frame, subject column or None) -> (kept rows, what was checked); see ConsentFilter.
ConsentFilter = Callable[[pd.DataFrame, str | None], tuple[pd.DataFrame, ConsentCheck]]


def exclude_without_consent(
    frame: pd.DataFrame,
    subject_column: str | None,
    *,
    config: ConsentConfig,
    store: ConsentStore | None,
    purpose: str = PURPOSE,
) -> tuple[pd.DataFrame, ConsentCheck]:
    """``frame`` without the rows ``config.training`` excludes, and the counts.

    ``opt_out`` drops rows whose subject's latest record is ``withdrawn``; ``opt_in`` keeps only
    rows whose subject's latest record is ``granted``; ``off`` keeps every row. A row with an
    empty subject id has no record. Without a subject column nothing can be checked: that is
    an error under ``opt_in`` (no row could be kept), and recorded as unchecked otherwise.
    """
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    mode = config.training

    def check(excluded: int = 0, subjects: int = 0, without: int = 0, where: str = "") -> ConsentCheck:
        return ConsentCheck(
            purpose=purpose,
            mode=mode,
            subject_column=subject_column,
            rows_read=len(frame),
            excluded_rows=excluded,
            excluded_subjects=subjects,
            rows_without_record=without,
            checked_at=checked_at,
            store=where,
        )

    if mode == "off" or store is None:
        return frame, check()
    if subject_column is None:
        if mode == "opt_in":
            raise PrivacyError(
                "consent for training is opt_in, but the dataset names no subject column "
                "(set subject_id or entity_id in its config): no row can be shown to have consent"
            )
        return frame, check(where=store.where)
    if subject_column not in frame.columns:
        raise DatasetError(f"subject_id column {subject_column!r} is not in the data")
    statuses = store.statuses(purpose)
    granted = {s for s, status in statuses.items() if status == "granted"}
    withdrawn = set(statuses) - granted
    subjects = _as_text(frame[subject_column])
    known = subjects.isin(statuses.keys()).to_numpy()
    drop = ~subjects.isin(granted).to_numpy() if mode == "opt_in" else subjects.isin(withdrawn).to_numpy()
    dropped_subjects = int(subjects[drop].nunique(dropna=False))
    kept = frame.loc[~drop].reset_index(drop=True) if drop.any() else frame
    return kept, check(int(drop.sum()), dropped_subjects, int((~known).sum()), store.where)


def _as_text(ids: pd.Series) -> pd.Series:
    """Ids as the text the store keeps: 123 (also 123.0 in a column with gaps) is "123"; empty stays empty."""
    if pd.api.types.is_float_dtype(ids):
        values = ids.dropna()
        if (values == values.round()).all():
            return ids.astype("Int64").astype("string")
    return ids.astype("string")


def consent_filter(config: ConsentConfig, state_dir: Path, resolve: Callable[[str], str]) -> ConsentFilter:
    """The filter the ingest step applies, reading the store ``config`` names (opened per call)."""

    def apply(frame: pd.DataFrame, subject_column: str | None) -> tuple[pd.DataFrame, ConsentCheck]:
        if config.training == "off":
            return exclude_without_consent(frame, subject_column, config=config, store=None)
        with ConsentStore.open(config, state_dir, resolve) as store:
            return exclude_without_consent(frame, subject_column, config=config, store=store)

    return apply


__all__ = ["PURPOSE", "ConsentFilter", "consent_filter", "exclude_without_consent"]
