"""``config/retention.yaml``: how long each store keeps what it holds.

One policy per store, chosen by its ``type`` (the explicit :data:`POLICIES` dict), each with a
period in days and ``enabled``. A store without a policy keeps everything. Where a store is
(the state folder, the prediction log's root, Feast's offline store, the backup repository)
comes from the environment's platform config, so one file serves every environment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from mlops.config import StrictModel


class Policy(StrictModel):
    """What every store's policy has: its period and whether it applies."""

    # Items older than this many days are deleted (the age each store measures is in its class).
    days: int = Field(ge=1, le=36_500)
    enabled: bool = True


class RawDatasetsPolicy(Policy):
    """Dataset copies the pipeline writes under ``<state>/pipeline_root``: the ingested dataset, the
    validated (clean) rows, the point-in-time training set and the hold-out split."""

    type: Literal["raw_datasets"]


class QuarantinePolicy(Policy):
    """Rows the validation step quarantined: ``runs/<id>/reports/quarantine*.parquet`` and the
    validate step's ``quarantine`` artifact."""

    type: Literal["quarantine"]


class RunFoldersPolicy(Policy):
    """Whole runs: ``runs/<id>`` with the run's ``pipeline_root`` folder, by the time the run ended."""

    type: Literal["run_folders"]


class PredictionLogsPolicy(Policy):
    """The prediction log's hour partitions (``model=/date=/hour=``), locally or on ``s3://``."""

    type: Literal["prediction_logs"]


class ShadowLogsPolicy(Policy):
    """Rows of the shadow comparison logs (``<state>/shadow/*.sqlite``), by the request's time."""

    type: Literal["shadow_logs"]


class BatchOutputsPolicy(Policy):
    """Batch scoring runs (``<root>/run=<id>/``), by the time the run finished."""

    # Where: the platform config's privacy.batch_outputs (per environment).
    type: Literal["batch_outputs"]


class FeastOfflinePolicy(Policy):
    """Rows of Feast's offline sources (parquet files in dev, PostgreSQL tables on the stack and
    the cluster) whose event timestamp is older than the period."""

    type: Literal["feast_offline"]


class BackupsPolicy(Policy):
    """Backups (restic snapshots) older than the period, after the strategies' own keep rules
    (``mlops backup prune``) have run. Never the backups the newest restore point needs."""

    type: Literal["backups"]
    # Also apply each strategy's keep_daily/weekly/monthly (what `mlops backup prune` does).
    prune_strategies: bool = True


RetentionPolicy = Annotated[
    RawDatasetsPolicy
    | QuarantinePolicy
    | RunFoldersPolicy
    | PredictionLogsPolicy
    | ShadowLogsPolicy
    | BatchOutputsPolicy
    | FeastOfflinePolicy
    | BackupsPolicy,
    Field(discriminator="type"),
]

# The explicit registry of policy types (the stores that apply them: privacy.retention.stores).
POLICIES: dict[str, type[Policy]] = {
    "raw_datasets": RawDatasetsPolicy,
    "quarantine": QuarantinePolicy,
    "run_folders": RunFoldersPolicy,
    "prediction_logs": PredictionLogsPolicy,
    "shadow_logs": ShadowLogsPolicy,
    "batch_outputs": BatchOutputsPolicy,
    "feast_offline": FeastOfflinePolicy,
    "backups": BackupsPolicy,
}


class RetentionConfig(StrictModel):
    """``config/retention.yaml``."""

    policies: list[RetentionPolicy] = Field(default_factory=list)

    @field_validator("policies")
    @classmethod
    def _one_per_store(cls, v: list[Policy]) -> list[Policy]:
        seen: set[str] = set()
        for policy in v:
            kind = str(getattr(policy, "type", ""))
            if kind in seen:
                raise ValueError(f"one policy per store: {kind!r} is given twice")
            seen.add(kind)
        return v

    def enabled(self) -> list[Policy]:
        return [p for p in self.policies if p.enabled]


__all__ = [
    "POLICIES",
    "BackupsPolicy",
    "BatchOutputsPolicy",
    "FeastOfflinePolicy",
    "Policy",
    "PredictionLogsPolicy",
    "QuarantinePolicy",
    "RawDatasetsPolicy",
    "RetentionConfig",
    "RetentionPolicy",
    "RunFoldersPolicy",
    "ShadowLogsPolicy",
]
