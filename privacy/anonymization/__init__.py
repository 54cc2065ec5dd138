"""Per-column PII policies: keyed hash, mask, drop, generalise, redact."""

from privacy.anonymization.policies import AnonymizationReport, anonymize, keyed_digest

__all__ = ["AnonymizationReport", "anonymize", "keyed_digest"]
