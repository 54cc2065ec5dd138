"""The privacy room's section of the platform config: ``privacy``."""

from __future__ import annotations

from pydantic import Field, field_validator

from mlops.config import StrictModel, check_secret_ref


class DiscoveryConfig(StrictModel):
    """PII discovery (``mlops privacy scan`` and the gate in the validation step)."""

    # Off, undeclared PII no longer stops a run (the scan command still works).
    enabled: bool = True
    # Distinct non-empty values read per column (a seeded sample when there are more).
    sample_size: int = Field(default=1000, ge=10, le=1_000_000)
    seed: int = 0
    # A column is flagged with an entity when at least this share of its sampled values hold it;
    # free-text columns (see free_text_min_words) with the lower free_text_min_share, as one
    # e-mail address in a note is already personal data.
    min_share: float = Field(default=0.5, gt=0, le=1)
    free_text_min_share: float = Field(default=0.02, gt=0, le=1)
    # A text column whose values have at least this many words (median) is free text: its
    # values are searched for spans, not matched as a whole.
    free_text_min_words: int = Field(default=4, ge=2)
    # Presidio score a match needs; in a column whose name hints the entity, any score counts.
    min_score: float = Field(default=0.4, ge=0, le=1)


class PrivacyConfig(StrictModel):
    hash_key: str = "env://MLOPS_PII_HASH_KEY"
    discovery: DiscoveryConfig = DiscoveryConfig()

    @field_validator("hash_key")
    @classmethod
    def _is_reference(cls, v: str) -> str:
        return check_secret_ref(v)


__all__ = ["DiscoveryConfig", "PrivacyConfig"]
