"""The Spark engine: the fitted model is broadcast once, ``mapInPandas`` scores each Arrow batch
with it, and Spark writes the parquet parts (``partitionBy`` when asked).

A session that already exists (a notebook's, a test's) is reused and left running; one this
engine starts is stopped when the job ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from serving.batch.engines import SCORE_COLUMN, BatchEngine, BatchJob, EngineResult, SparkEngineConfig, score_frame

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def spark_session(config: SparkEngineConfig) -> SparkSession:
    """Get or create the session with the settings batch scoring relies on."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Timestamps pass through unchanged: no shift into the machine's time zone.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    if config.master.startswith("local"):
        # Python workers must be this interpreter (it has the model's libraries): PySpark reads
        # the variable when the context starts. The driver binds to loopback, not to whatever
        # the host name resolves to.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.host", "127.0.0.1")
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkEngine(BatchEngine):
    config: SparkEngineConfig

    def run(self, job: BatchJob) -> EngineResult:
        from pyspark.sql import SparkSession

        existing = SparkSession.getActiveSession()
        spark = existing or spark_session(self.config)
        try:
            return self._run(spark, job)
        finally:
            if existing is None:
                spark.stop()

    def _run(self, spark: SparkSession, job: BatchJob) -> EngineResult:
        from pyspark.sql.types import DoubleType, StructField, StructType

        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(self.config.chunk_rows))
        frame = self._read(spark, job)
        features = job.features
        output_columns = list(job.output_columns)
        wanted = set(features) | set(output_columns)
        frame = frame.select(*[c for c in job.input_columns if c in wanted])
        schema = StructType(
            [*frame.select(*output_columns).schema.fields, StructField(SCORE_COLUMN, DoubleType(), nullable=False)]
        )
        model = spark.sparkContext.broadcast(job.model)

        def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            fitted = model.value
            for batch in batches:
                out = batch[output_columns].copy()
                out[SCORE_COLUMN] = score_frame(fitted, batch, features)
                yield out

        try:
            rows_in = frame.count()
            writer = frame.mapInPandas(score, schema).write.mode("errorifexists")
            if job.partition_by:
                writer = writer.partitionBy(job.partition_by)
            writer.parquet(str(job.run_dir))
        finally:
            model.unpersist()
        return EngineResult(
            rows_in=rows_in,
            details={
                "master": spark.sparkContext.master,
                "default_parallelism": spark.sparkContext.defaultParallelism,
                "chunk_rows": self.config.chunk_rows,
            },
        )

    @staticmethod
    def _read(spark: SparkSession, job: BatchJob) -> DataFrame:
        import pyarrow as pa
        from pyspark.sql import functions as sf

        path = str(job.input_path)
        if job.input_format == "parquet":
            nanos = [
                name for name, kind in job.input_types.items() if pa.types.is_timestamp(kind) and kind.unit == "ns"
            ]
            if not nanos:
                return spark.read.parquet(path)
            # Spark refuses nanosecond timestamps (pandas' default); read them as int64 and turn
            # them back into Spark's microsecond timestamps.
            spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
            frame = spark.read.parquet(path)
            return frame.select(
                *[
                    sf.expr(f"timestamp_micros(`{c}` div 1000)").alias(c) if c in nanos else sf.col(c)
                    for c in frame.columns
                ]
            )
        # Every column as text, number features parsed as double: the embedded engine's CSV
        # types, so both engines hand the model the same values.
        frame = spark.read.option("header", True).option("inferSchema", False).csv(path)
        casts: list[Any] = [
            sf.col(c).cast("double").alias(c) if job.serving_schema.get(c) == "number" else sf.col(c)
            for c in frame.columns
        ]
        return frame.select(*casts)
