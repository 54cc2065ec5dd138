"""The Spark engine: the fitted model is broadcast once, ``mapInArrow`` scores each Arrow batch
with it, and Spark writes the parquet parts (``partitionBy`` when asked).

As in the embedded engine, only the features go through pandas (the model's input); the
pass-through columns stay Arrow, so their types and values reach the output unchanged (a
nullable int64 column is not turned into float64 on the way).

A session that already exists (a notebook's, a test's) is reused and left running; one this
engine starts is stopped when the job ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops.errors import DatasetError
from serving.batch.engines import SCORE_COLUMN, BatchEngine, BatchJob, EngineResult, SparkEngineConfig, score_frame

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession


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
        # mapInArrow resolves the columns it is given by name, and there a dot in a name reads as a
        # path ("emp.var.rate" as a field of "emp"): the columns pass through it under positional
        # names and get their own back after it.
        read = [c for c in job.input_columns if c in wanted]
        inner = {c: f"_c{i}" for i, c in enumerate(read)}
        frame = frame.select(*[_col(c).alias(inner[c]) for c in read])
        inner_features = [inner[c] for c in features]
        inner_outputs = [inner[c] for c in output_columns]
        schema = StructType(
            [
                *frame.select(*inner_outputs).schema.fields,
                StructField(SCORE_COLUMN, DoubleType(), nullable=False),
            ]
        )
        model = spark.sparkContext.broadcast(job.model)

        def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            import pyarrow as pa

            fitted = model.value
            for batch in batches:
                inputs = batch.select(inner_features).rename_columns(features).to_pandas()
                scores = score_frame(fitted, inputs, features)
                yield pa.RecordBatch.from_arrays(
                    [*batch.select(inner_outputs).columns, pa.array(scores, pa.float64())],
                    names=[*inner_outputs, SCORE_COLUMN],
                )

        try:
            rows_in = frame.count()
            scored = frame.mapInArrow(score, schema)
            named = scored.select(*[_col(inner[c]).alias(c) for c in output_columns], _col(SCORE_COLUMN))
            writer = named.write.mode("errorifexists")
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
                    sf.expr(f"timestamp_micros(`{c}` div 1000)").alias(c) if c in nanos else _col(c)
                    for c in frame.columns
                ]
            )
        # Read as text, then given the types decided for the whole file (job.input_types) with
        # the same missing-value markers as the embedded engine (the input's null_values), so
        # both engines hand the model and the output the same values. Quotes are escaped by
        # doubling them (RFC 4180, as pandas and pyarrow write and read them), not with Spark's
        # default backslash; fields are split at the delimiter told from the header, as there,
        # and decoded in the dataset's encoding.
        from pyspark.errors import IllegalArgumentException

        written = job.input.written
        try:
            frame = (
                spark.read.option("header", True)
                .option("inferSchema", False)
                .option("escape", '"')
                .option("sep", job.input.delimiter)
                .option("encoding", _charset(spark, written.encoding, job.input.location))
                .csv(path)
            )
        except IllegalArgumentException as exc:
            if "CHARSET" not in str(exc):
                raise
            raise DatasetError(
                f"batch input {job.input.location}: the spark engine (Java) does not know the encoding "
                f"{written.encoding}: score it with the embedded engine, or save it as UTF-8"
            ) from None
        columns: list[Column] = []
        for name in frame.columns:
            kind = job.input_types.get(name)
            if kind is None:
                continue  # not needed (declared PII, unused): never read further
            value = sf.when(_col(name).isin(*job.input.null_values), sf.lit(None)).otherwise(_col(name))
            if pa.types.is_floating(kind):
                if written.decimal != ".":
                    # The marks swapped: 1,5 reads 1.5; 1.5 (the other mark) is no number, as in
                    # the embedded engine.
                    value = sf.translate(value, written.decimal + ".", "." + written.decimal)
                value = value.cast("double")
            elif pa.types.is_integer(kind):
                value = value.cast("bigint")
            columns.append(value.alias(name))
        return frame.select(*columns)


# Encodings Spark reads by its own names; any other is one of Java's charsets (code pages).
_SPARK_CHARSETS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "ascii": "us-ascii", "iso8859-1": "iso-8859-1"}
_ASCII = 'a,;\t|\n\r"'


def _charset(spark: SparkSession, encoding: str, location: str) -> str:
    """The name Spark reads ``encoding`` (a canonical codec name) by. Spark splits a CSV into
    lines as ASCII bytes, so an encoding that writes ASCII otherwise (UTF-16) is refused."""
    if encoding in _SPARK_CHARSETS:
        return _SPARK_CHARSETS[encoding]
    if _ASCII.encode(encoding) != _ASCII.encode("ascii"):
        raise DatasetError(
            f"batch input {location}: the spark engine cannot split {encoding} text into lines (it reads "
            "encodings that write ASCII as ASCII): score it with the embedded engine, or save it as UTF-8"
        )
    # A code page (cp1252, iso8859-15): Spark 4 reads Java's charsets only when asked to.
    spark.conf.set("spark.sql.legacy.javaCharsets", "true")
    return encoding


def _col(name: str) -> Column:
    """A column by its exact name (dots and spaces are not paths or expressions)."""
    from pyspark.sql import functions as sf

    return sf.col("`" + name.replace("`", "``") + "`")
