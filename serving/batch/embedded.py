"""The embedded engine: pyarrow reads the input chunk by chunk (from the local disk or straight
from the object store), the model scores each chunk in process, and each chunk is written as its
own parquet part (hive-partitioned when asked). Reading the next chunk and writing the last one
overlap the scoring of this one."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from typing import TYPE_CHECKING

from serving.batch.engines import SCORE_COLUMN, BatchEngine, BatchJob, EmbeddedEngineConfig, EngineResult, score_frame
from serving.batch.inputs import iter_chunks

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import pandas as pd
    import pyarrow as pa


class EmbeddedEngine(BatchEngine):
    config: EmbeddedEngineConfig
    # Parquet row groups by ranged reads, CSV as a stream: an s3:// input is never copied to disk.
    reads_object_store = True

    def run(self, job: BatchJob) -> EngineResult:
        features = job.features
        wanted = set(features) | set(job.output_columns)
        columns = [c for c in job.input_columns if c in wanted]
        csv_types = job.input_types if job.input_format == "csv" else None
        job.run_dir.mkdir(parents=True)
        rows = chunks = 0
        # While a chunk is scored, one thread reads the next (parquet decoding or CSV parsing, and
        # the features' conversion to pandas) and one writes the previous part (encoding,
        # compression): pyarrow does most of both outside the interpreter lock. One of each in
        # flight, so at most three chunks are held. A failed read or write fails the run at the
        # next chunk or at the end.
        with ExitStack() as stack:
            source = stack.enter_context(closing(iter_chunks(job.input, columns, self.config.chunk_rows, csv_types)))
            reader = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-read"))
            writer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-write"))
            pending: Future[None] | None = None
            ahead = reader.submit(_read, source, features)
            while (read := ahead.result()) is not None:
                ahead = reader.submit(_read, source, features)
                table, frame = read
                scores = score_frame(job.model, frame, features)
                if job.prediction_log is not None:
                    ids = table.column(job.id_column).to_pylist() if job.id_column else None
                    job.log_scored(frame, scores, ids, first_row=rows)
                if pending is not None:
                    pending.result()
                pending = writer.submit(self._write, table, scores, job, chunks)
                rows += table.num_rows
                chunks += 1
            if pending is not None:
                pending.result()
        return EngineResult(rows_in=rows, details={"chunk_rows": self.config.chunk_rows, "chunks": chunks})

    @staticmethod
    def _write(chunk: pa.Table, scores: np.ndarray, job: BatchJob, index: int) -> None:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        table = chunk.select(job.output_columns).append_column(SCORE_COLUMN, pa.array(scores, pa.float64()))
        # The input's pandas metadata describes every input column (PII included): the output
        # describes itself, as Spark's does.
        table = table.replace_schema_metadata(None)
        dictionary = _repeating_columns(table)
        if job.partition_by is None:
            pq.write_table(table, job.run_dir / f"part-{index:05d}.parquet", use_dictionary=dictionary)
            return
        ds.write_dataset(
            table,
            job.run_dir,
            format="parquet",
            file_options=ds.ParquetFileFormat().make_write_options(use_dictionary=dictionary),
            partitioning=ds.partitioning(pa.schema([table.schema.field(job.partition_by)]), flavor="hive"),
            basename_template=f"part-{index:05d}-{{i}}.parquet",
            # Each chunk adds its own uniquely named files to the partition folders.
            existing_data_behavior="overwrite_or_ignore",
        )


def _read(source: Iterator[pa.Table], features: list[str]) -> tuple[pa.Table, pd.DataFrame] | None:
    """The next chunk, and its features as the model's input frame (None at the end). Only the
    features go through pandas: pass-through columns stay Arrow, so their types reach the output
    unchanged."""
    table = next(source, None)
    return None if table is None else (table, table.select(features).to_pandas())


# Rows a column's first values are sampled from to choose its encoding.
_ENCODING_SAMPLE = 1024


def _repeating_columns(table: pa.Table) -> list[str]:
    """The columns to dictionary-encode: those whose first rows repeat values (at most one
    distinct value in two). Parquet writers otherwise try a dictionary for every column and fall
    back to plain once it grows too big; for ids, timestamps and scores that try cost half the
    write of a chunk and left the file larger than plain encoding does. Columns Arrow cannot
    count (nested, dictionary, null) keep the writer's default."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def repeats(column: pa.ChunkedArray) -> bool:
        try:
            return bool(pc.count_distinct(column, mode="all").as_py() * 2 <= len(column))
        except pa.ArrowNotImplementedError:
            return True

    sample = table.slice(0, _ENCODING_SAMPLE)
    return [name for name, column in zip(sample.column_names, sample.columns, strict=True) if repeats(column)]
