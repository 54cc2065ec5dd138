"""Privacy room: the per-column PII policy of a dataset (keyed hash, mask, drop, generalise,
redact), applied at ingest before anything is written.

    anonymization/  policies (anonymize, the actions) and step (anonymize_frame: the policy with
                    the hash key from the secret resolver)
    discovery/      PII discovery (Presidio, offline): what a dataset holds against what its
                    config declares; `mlops privacy scan` and the validation step's gate
    consent/        the consent store and `mlops privacy consent`; training's exclusion
    erasure/        `mlops privacy erase`: a subject out of every store, backup tombstones
    rewrite         replacing a file whole, deleting SQLite rows leaving nothing readable
    retention/      how long each store keeps its data (config/retention.yaml) and
                    `mlops privacy retention apply`
"""

__all__ = ["anonymization", "discovery"]
