"""The privacy room's section of the platform config: ``privacy``."""

from __future__ import annotations

from pydantic import field_validator

from mlops.config import StrictModel, check_secret_ref


class PrivacyConfig(StrictModel):
    hash_key: str = "env://MLOPS_PII_HASH_KEY"

    @field_validator("hash_key")
    @classmethod
    def _is_reference(cls, v: str) -> str:
        return check_secret_ref(v)


__all__ = ["PrivacyConfig"]
