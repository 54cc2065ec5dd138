"""The privacy room's section of the platform config: ``privacy``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

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


# What training does with the consent store (``privacy.consent.training``):
#   off      the store is not read;
#   opt_out  rows of subjects whose latest `training` record is `withdrawn` are dropped; subjects
#            without a record stay (a legal basis other than consent, e.g. the credit contract);
#   opt_in   only rows of subjects whose latest `training` record is `granted` stay.
ConsentMode = Literal["off", "opt_out", "opt_in"]
_PURPOSE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ConsentConfig(StrictModel):
    """The consent store (``mlops privacy consent``) and how training uses it."""

    # SQLAlchemy URL of the store without its password, e.g.
    # postgresql+psycopg://consent@127.0.0.1:5432/consent; None: SQLite at
    # <state folder>/privacy/consent.db.
    url: str | None = Field(default=None, pattern=r"^(sqlite|postgresql(\+psycopg)?)://")
    # Secret reference of the database password, put into `url` when connecting.
    password: str | None = None
    # The purposes a record may name; an import with any other purpose is refused.
    purposes: list[str] = Field(default_factory=lambda: ["training", "monitoring", "analytics", "profiling"])
    training: ConsentMode = "opt_out"

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, v: str | None) -> str | None:
        userinfo = (v or "").partition("://")[2].partition("@")
        if userinfo[1] and ":" in userinfo[0]:
            raise ValueError("a URL without a password (give it as `password`, a secret reference)")
        return v

    @field_validator("password")
    @classmethod
    def _password_is_reference(cls, v: str | None) -> str | None:
        return None if v is None else check_secret_ref(v)

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if not _PURPOSE.match(p)]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError("a non-empty list of distinct lower-case names such as training, monitoring")
        return v

    @model_validator(mode="after")
    def _training_is_a_purpose(self) -> ConsentConfig:
        if self.training != "off" and "training" not in self.purposes:
            raise ValueError(f"purposes must include 'training' when training is {self.training!r}")
        return self


class PrivacyConfig(StrictModel):
    hash_key: str = "env://MLOPS_PII_HASH_KEY"
    discovery: DiscoveryConfig = DiscoveryConfig()
    consent: ConsentConfig = ConsentConfig()
    # The output roots `mlops batch predict --output` and the batch pipeline write to: folders
    # (relative ones under the state folder) or s3:// URIs. Retention and erasure reach them.
    batch_outputs: list[str] = Field(default_factory=list)

    @field_validator("hash_key")
    @classmethod
    def _is_reference(cls, v: str) -> str:
        return check_secret_ref(v)

    @field_validator("batch_outputs")
    @classmethod
    def _locations(cls, v: list[str]) -> list[str]:
        for root in v:
            if not root.strip():
                raise ValueError("a folder or an s3://BUCKET/PREFIX URI, not an empty string")
            if "://" in root and not root.startswith("s3://"):
                raise ValueError(f"a folder or an s3://BUCKET/PREFIX URI, got {root[:80]!r}")
        return v


__all__ = ["ConsentConfig", "ConsentMode", "DiscoveryConfig", "PrivacyConfig"]
