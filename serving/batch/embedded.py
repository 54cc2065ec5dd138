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
    import pyarrow as pa


class EmbeddedEngine(BatchEngine):
    config: EmbeddedEngineConfig
    # Parquet row groups by ranged reads, CSV as a stream: an s3:// input is never copied to disk.
    reads_object_store = True

    def run(self, job: BatchJob) -> EngineResult:
        import pyarrow as pa

        features = job.features
        wanted = set(features) | set(job.output_columns)
        columns = [c for c in job.input_columns if c in wanted]
        csv_types = job.input_types if job.input_format == "csv" else None
        job.run_dir.mkdir(parents=True)
        rows = chunks = 0
        # While a chunk is scored, one thread reads the next (parquet decoding, CSV parsing) and
        # one writes the previous part (encoding, compression): pyarrow does both outside the
        # interpreter lock. One of each in flight, so at most three chunks are held. A failed
        # read or write fails the run at the next chunk or at the end.
        with ExitStack() as stack:
            source = stack.enter_context(closing(iter_chunks(job.input, columns, self.config.chunk_rows, csv_types)))
            reader = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-read"))
            writer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-write"))
            pending: Future[None] | None = None
            ahead: Future[pa.Table | None] = reader.submit(next, source, None)
            while (table := ahead.result()) is not None:
                ahead = reader.submit(next, source, None)
                # Only the features go through pandas (the model's input); pass-through columns
                # stay Arrow, so their types reach the output unchanged.
                frame = table.select(features).to_pandas()
                scores = score_frame(job.model, frame, features)
                if job.prediction_log is not None:
                    ids = table.column(job.id_column).to_pylist() if job.id_column else None
                    job.log_scored(frame, scores, ids, first_row=rows)
                out = table.select(job.output_columns).append_column(SCORE_COLUMN, pa.array(scores, pa.float64()))
                # The input's pandas metadata describes every input column (PII included): the
                # output describes itself, as Spark's does.
                out = out.replace_schema_metadata(None)
                if pending is not None:
                    pending.result()
                pending = writer.submit(self._write, out, job, chunks)
                rows += table.num_rows
                chunks += 1
            if pending is not None:
                pending.result()
        return EngineResult(rows_in=rows, details={"chunk_rows": self.config.chunk_rows, "chunks": chunks})

    @staticmethod
    def _write(table: pa.Table, job: BatchJob, index: int) -> None:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        if job.partition_by is None:
            pq.write_table(table, job.run_dir / f"part-{index:05d}.parquet")
            return
        ds.write_dataset(
            table,
            job.run_dir,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([table.schema.field(job.partition_by)]), flavor="hive"),
            basename_template=f"part-{index:05d}-{{i}}.parquet",
            # Each chunk adds its own uniquely named files to the partition folders.
            existing_data_behavior="overwrite_or_ignore",
        )
