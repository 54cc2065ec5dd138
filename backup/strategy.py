"""Backup strategies: ``backup/strategies/<name>.yaml``, typed and checked at load.

A strategy names its schedule (five-field cron, for the cluster's CronJobs), its retention
(restic's ``--keep-*`` counts, applied by ``mlops backup prune``) and its targets (names from
:data:`backup.targets.TARGETS`). A bad file fails with the file, the key and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from backup.targets import TARGETS
from mlops.config import StrictModel, load_model
from mlops.errors import ConfigError

STRATEGIES_DIR = Path(__file__).resolve().parent / "strategies"


class Retention(StrictModel):
    keep_last: int | None = Field(default=None, ge=1)
    keep_hourly: int | None = Field(default=None, ge=1)
    keep_daily: int | None = Field(default=None, ge=1)
    keep_weekly: int | None = Field(default=None, ge=1)
    keep_monthly: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not self.forget_flags():
            raise ValueError("at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly")
        return self

    def forget_flags(self) -> list[str]:
        """restic forget's flags: keep_daily: 7 -> --keep-daily 7."""
        flags: list[str] = []
        for key, value in self.model_dump().items():
            if value is not None:
                flags += [f"--{key.replace('_', '-')}", str(value)]
        return flags


class Strategy(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    schedule: str
    retention: Retention
    targets: list[str] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(f"a five-field cron expression such as '30 1 * * *', not {v!r}")
        return v

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        if len(set(v)) != len(v):
            raise ValueError("a target is listed twice")
        return v


def load_strategy(name_or_path: str | Path, folder: Path = STRATEGIES_DIR) -> Strategy:
    """A strategy by name (``nightly`` -> ``<folder>/nightly.yaml``) or by file path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = folder / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
            raise ConfigError(path, "", f"no strategy named {name_or_path!r} (known: {known})")
    strategy = load_model(path, Strategy)
    if strategy.name != path.stem:
        raise ConfigError(path, "name", f"the file's name, {path.stem!r} (found {strategy.name!r})")
    return strategy


def load_strategies(folder: Path = STRATEGIES_DIR) -> dict[str, Strategy]:
    return {p.stem: load_strategy(p, folder) for p in sorted(folder.glob("*.yaml"))}


__all__ = ["STRATEGIES_DIR", "Retention", "Strategy", "load_strategies", "load_strategy"]
