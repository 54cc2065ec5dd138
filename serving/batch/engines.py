"""The batch engine plug point: abstract base, typed configs, one explicit registry dict.

An engine receives a checked :class:`BatchJob` and writes parquet parts under
``job.run_dir`` (always a local folder: an ``s3://`` output is staged there and uploaded once
the run succeeded); :func:`serving.batch.predict.predict_batch` does everything around it
(schema check, hashing, counting the written rows, the manifest, the upload). An engine that
can read the object store itself says so (:attr:`BatchEngine.reads_object_store`); any other
gets an ``s3://`` input staged to a local file first. Engines are looked up in
:data:`ENGINES` by the config's ``type`` and imported only when used, so the embedded path
never imports pyspark.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from serving.batch.inputs import BatchInput, InputFormat

if TYPE_CHECKING:
    import pyarrow as pa

    from observability.prediction_log import PredictionLogger

SCORE_COLUMN = "score"
EngineName = Literal["embedded", "spark"]


class EngineConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedEngineConfig(EngineConfigBase):
    """In-process, chunked with pyarrow: memory bounded by one chunk (plus one row group)."""

    type: Literal["embedded"] = "embedded"
    chunk_rows: int = Field(default=50_000, ge=1)


class SparkEngineConfig(EngineConfigBase):
    """PySpark: ``local[N]`` on one machine, a cluster master URL in production."""

    type: Literal["spark"] = "spark"
    master: str = "local[2]"
    # Rows per Arrow batch handed to the model inside each Spark task.
    chunk_rows: int = Field(default=50_000, ge=1)
    app_name: str = "mlops-batch-predict"
    # Extra Spark settings (executor memory, S3 credentials provider, …).
    conf: dict[str, str] = Field(default_factory=dict)


EngineConfig = Annotated[EmbeddedEngineConfig | SparkEngineConfig, Field(discriminator="type")]


@dataclass(frozen=True)
class BatchJob:
    """What an engine needs, already checked against the input and the serving schema."""

    # Local, or in the object store for an engine that reads it (``reads_object_store``).
    input: BatchInput
    input_columns: list[str]
    # Arrow types: from the parquet footer, or for CSV the types every engine reads the columns
    # it needs with (decided once for the whole file by ``inputs.csv_column_types``).
    input_types: dict[str, pa.DataType]
    serving_schema: dict[str, str]
    # Non-feature, non-PII input columns (id first), plus the partition column when it is a feature.
    output_columns: list[str]
    partition_by: str | None
    run_dir: Path
    model: Any
    # What was scored goes to the prediction log (embedded engine), one request id per row.
    prediction_log: PredictionLogger | None = None
    model_name: str = ""
    model_version: str = ""
    id_column: str | None = None

    @property
    def features(self) -> list[str]:
        return list(self.serving_schema)

    @property
    def input_format(self) -> InputFormat:
        return self.input.format

    @property
    def input_path(self) -> Path:
        """The local input file or folder (ValueError for an input left in the object store)."""
        return self.input.local_path

    def log_scored(self, frame: pd.DataFrame, scores: np.ndarray, ids: list[Any] | None, *, first_row: int) -> None:
        """Record rows ``first_row``… of the input in the prediction log, then wait for their write
        (so a large input stays within the log's memory bound)."""
        assert self.prediction_log is not None
        self.prediction_log.record(
            frame,
            scores,
            model=self.model_name,
            version=self.model_version,
            # Per row, so sampling picks rows, not the whole run.
            request_ids=[f"{self.run_dir.name}:{first_row + i}" for i in range(len(frame))],
            entity_ids=ids,
        )
        self.prediction_log.flush()


@dataclass(frozen=True)
class EngineResult:
    rows_in: int
    details: dict[str, Any]


class BatchEngine(ABC):
    """Scores ``job.input`` and writes ``job.output_columns`` + ``score`` under ``job.run_dir``."""

    # Whether :meth:`run` reads an ``s3://`` input through ``job.input`` (its filesystem); if
    # not, the input is staged to a local copy first.
    reads_object_store: ClassVar[bool] = False

    def __init__(self, config: EngineConfigBase) -> None:
        self.config = config

    @abstractmethod
    def run(self, job: BatchJob) -> EngineResult: ...


# type literal → engine class path; imported on use (the one place engines are declared).
ENGINES: dict[str, str] = {
    "embedded": "serving.batch.embedded.EmbeddedEngine",
    "spark": "serving.batch.spark.SparkEngine",
}


def create_engine(config: EmbeddedEngineConfig | SparkEngineConfig) -> BatchEngine:
    module, _, name = ENGINES[config.type].rpartition(".")
    engine_cls = getattr(importlib.import_module(module), name)
    engine: BatchEngine = engine_cls(config)
    return engine


def engine_config(
    engine: str, *, chunk_rows: int = 50_000, spark_master: str = "local[2]"
) -> EmbeddedEngineConfig | SparkEngineConfig:
    """The config for an engine named on the command line or in a pipeline parameter."""
    if engine == "embedded":
        return EmbeddedEngineConfig(chunk_rows=chunk_rows)
    if engine == "spark":
        return SparkEngineConfig(master=spark_master, chunk_rows=chunk_rows)
    from mlops.errors import ConfigError

    raise ConfigError("batch", "engine", f"one of {', '.join(ENGINES)}, got {engine!r}")


def score_frame(model: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The positive-class probability, exactly as ``model.predict_proba`` gives it in process."""
    return np.asarray(model.predict_proba(frame[features])[:, 1], dtype=np.float64)
