"""Consent: who agreed to which use of their data, and training that honours it.

records   ConsentRecord and read_consent_file (CSV or JSON lines, checked whole first)
store     ConsentStore: the records on SQLite (state folder) or PostgreSQL (privacy.consent.url)
training  exclude_without_consent / consent_filter: the rows the ingest step may keep
"""

from privacy.consent.records import ConsentRecord, ConsentStatus, read_consent_file
from privacy.consent.store import ConsentStore, ImportResult, Summary, store_url
from privacy.consent.training import PURPOSE, ConsentFilter, consent_filter, exclude_without_consent

__all__ = [
    "PURPOSE",
    "ConsentFilter",
    "ConsentRecord",
    "ConsentStatus",
    "ConsentStore",
    "ImportResult",
    "Summary",
    "consent_filter",
    "exclude_without_consent",
    "read_consent_file",
    "store_url",
]
