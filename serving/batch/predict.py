"""``predict_batch``: check the input, run an engine into a new run folder, count, write the manifest.

Input and output root are local paths or ``s3://`` URIs (read and written through the
platform's ``object_store``); see :mod:`serving.batch.remote` for how a run reaches the bucket.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.delimited import PLAIN_CSV, CsvFormat
from mlops.errors import DatasetError
from mlops.object_store import ObjectStore, is_uri
from mlops.state import new_run_id
from serving.batch.engines import (
    SCORE_COLUMN,
    BatchJob,
    EmbeddedEngineConfig,
    EngineName,
    EngineResult,
    SparkEngineConfig,
    create_engine,
    engine_config,
)
from serving.batch.inputs import (
    check_columns,
    content_hash,
    csv_column_types,
    iter_chunks,
    open_input,
    pii_matcher,
    read_columns,
)
from serving.batch.manifest import RUN_PREFIX, BatchManifest, write_manifest
from serving.batch.remote import check_output_root, stage_input, upload_run

if TYPE_CHECKING:
    from observability.prediction_log import PredictionLogger

__all__ = ["SCORE_COLUMN", "output_files", "predict_batch"]


def predict_batch(
    input_path: Path | str,
    output_dir: Path | str,
    *,
    model: Any,
    serving_schema: dict[str, str],
    engine: EngineName | EmbeddedEngineConfig | SparkEngineConfig,
    model_name: str,
    model_version: str,
    chunk_rows: int = 50_000,
    spark_master: str = "local[2]",
    id_column: str | None = None,
    partition_by: str | None = None,
    model_ref: str | None = None,
    pii_columns: Sequence[str] = (),
    written: CsvFormat = PLAIN_CSV,
    prediction_log: PredictionLogger | None = None,
    store: ObjectStore | None = None,
    staging_dir: Path | None = None,
) -> BatchManifest:
    """Score ``input_path`` into ``output_dir/run=<id>/`` and return the run's manifest.

    The input is checked against ``serving_schema`` before anything is written: missing
    feature columns (or a missing id / partition column) raise :class:`DatasetError`
    naming them. The output holds every non-feature input column (``id_column`` first),
    the partition column, and ``score``. A failed run leaves no folder behind.

    ``pii_columns`` are the columns the model's dataset declares as personal data (matched
    case-insensitively). They are never passed through: the engines do not even read them
    unless the model uses one as a feature, and features are never written. An id or
    partition column among them is a :class:`DatasetError`. The manifest lists the ones the
    input held under ``pii_columns_dropped``.

    ``written``: how a CSV input writes values (the model's dataset's ``na_values``, read as
    missing besides :data:`~serving.batch.inputs.CSV_NULL_VALUES`, its encoding and decimal
    mark), so a file written like the training data reads alike.

    ``prediction_log``: what was scored is recorded there (the caller closes it): by the embedded
    engine as it scores, and after a Spark run from the input and the output joined by
    ``id_column`` (without one, Spark's rows cannot be matched to their features and are not logged).

    ``input_path`` and ``output_dir`` may be ``s3://`` URIs, read and written through ``store``
    (the platform's ``object_store`` with its secret resolver; default: the AWS credential
    chain). The embedded engine streams such an input; Spark gets a local copy. An ``s3://``
    run is written under ``staging_dir`` (default: the system's temporary folder) and uploaded
    once it succeeded, manifest last; a failed run leaves nothing in the bucket. A missing
    object or bucket, a refused key or a store that does not answer is an
    :class:`~mlops.errors.ObjectStoreError` naming the URI, raised before any scoring where it
    can be known then.
    """
    remote_output = is_uri(output_dir)
    if remote_output or is_uri(input_path):
        store = store or ObjectStore()
    if not serving_schema:
        raise DatasetError(f"model {model_name} {model_version} has no serving schema to check the input against")
    source = open_input(input_path, store).written_as(written)
    columns = read_columns(source)
    check_columns(
        columns,
        serving_schema,
        path=source.location,
        id_column=id_column,
        partition_by=partition_by,
        reserved=[SCORE_COLUMN],
        pii=pii_columns,
    )
    is_pii = pii_matcher(pii_columns)
    output_columns = _output_columns(columns.names, serving_schema, id_column, partition_by, is_pii)
    config = (
        engine
        if not isinstance(engine, str)
        else engine_config(engine, chunk_rows=chunk_rows, spark_master=spark_master)
    )
    runner = create_engine(config)

    if remote_output:
        assert store is not None
        check_output_root(str(output_dir), store)

    started = datetime.now(UTC)
    clock = time.perf_counter()
    run_id = new_run_id(started)
    run_name = f"{RUN_PREFIX}{run_id}"
    staged = source.remote and not runner.reads_object_store
    staging = None
    if remote_output or staged:
        if staging_dir is not None:
            staging_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"batch-{run_id}-", dir=staging_dir))
    if remote_output:
        assert staging is not None
        run_dir = staging / run_name
        output_location = f"{str(output_dir).rstrip('/')}/{run_name}"
    else:
        root = Path(output_dir)
        root.mkdir(parents=True, exist_ok=True)
        run_dir = (root / run_name).resolve()
        output_location = str(run_dir)
    try:
        staged_hash: str | None = None  # a staged copy is hashed while it downloads
        job_input = source
        if staged:
            assert staging is not None
            job_input, staged_hash = stage_input(source, staging / "input")
            job_input = job_input.written_as(written)
        # CSV carries no types: they are decided here, once for the whole file, for both engines.
        input_types = (
            csv_column_types(job_input, columns.names, serving_schema, output_columns)
            if source.format == "csv"
            else columns.types
        )
        job = BatchJob(
            input=job_input,
            input_columns=columns.names,
            input_types=input_types,
            serving_schema=dict(serving_schema),
            output_columns=output_columns,
            partition_by=partition_by,
            run_dir=run_dir,
            model=model,
            prediction_log=prediction_log,
            model_name=model_name,
            model_version=model_version,
            id_column=id_column,
        )
        if staged_hash is not None:
            input_hash = staged_hash
            result = runner.run(job)
        else:
            # The input is hashed beside the run (hashlib and the file reads leave the
            # interpreter lock): on a local file the first chunk is read and scored meanwhile.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-hash") as hasher:
                hashing = hasher.submit(content_hash, source)
                result = runner.run(job)
                input_hash = hashing.result()
        if prediction_log is not None and config.type == "spark":
            details = _log_from_output(job, chunk_rows)
            result = EngineResult(result.rows_in, {**result.details, "prediction_log": details})
        files = output_files(run_dir)
        rows_out = _rows_written(run_dir, files)
        if rows_out != result.rows_in:
            raise DatasetError(f"batch run {run_id} wrote {rows_out} rows for {result.rows_in} input rows")
        finished = datetime.now(UTC)
        manifest = BatchManifest(
            run_id=run_id,
            model_name=model_name,
            model_version=model_version,
            model_ref=model_ref,
            engine=config.type,
            engine_config=config.model_dump(),
            input_path=source.location,
            input_format=source.format,
            input_hash=input_hash,
            rows_in=result.rows_in,
            rows_out=rows_out,
            output_dir=output_location,
            output_files=files,
            output_columns=[*job.output_columns, SCORE_COLUMN],
            id_column=id_column,
            partition_by=partition_by,
            started=started.isoformat(),
            finished=finished.isoformat(),
            duration_s=round(time.perf_counter() - clock, 3),
            engine_details=result.details,
            pii_columns_dropped=[c for c in columns.names if is_pii(c)],
            scorer=getattr(model, "runtime", "sklearn"),
        )
        if remote_output:
            assert store is not None
            upload_run(run_dir, manifest, store)
        else:
            write_manifest(manifest)
    except BaseException:
        # A half-written run must not look like a result (nor count for retention).
        if not remote_output:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _output_columns(
    names: list[str],
    serving_schema: dict[str, str],
    id_column: str | None,
    partition_by: str | None,
    is_pii: Callable[[str], bool],
) -> list[str]:
    passthrough = [c for c in names if c not in serving_schema and c != id_column and not is_pii(c)]
    out = [id_column, *passthrough] if id_column else passthrough
    if partition_by and partition_by not in out:
        out.append(partition_by)  # a feature used to partition the output is carried too
    return out


def output_files(run_dir: Path) -> list[str]:
    """The run's parquet parts, relative to the run folder, in name order (hidden files skipped)."""
    return sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(run_dir).parts)
    )


def _rows_written(run_dir: Path, files: list[str]) -> int:
    """Rows in the written parts, from their footers: a count independent of the engine."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(run_dir / f).metadata.num_rows for f in files)


def _log_from_output(job: BatchJob, chunk_rows: int) -> str:
    """Spark scores in its executors: log its rows from the input's features and the output's
    scores, joined by the id column. Says what was done (the manifest's engine details)."""
    import pandas as pd

    if job.id_column is None:
        return "not recorded: the Spark engine logs predictions only with an id column"
    scores = pd.read_parquet(job.run_dir, columns=[job.id_column, SCORE_COLUMN])
    by_id = scores.drop_duplicates(job.id_column).set_index(job.id_column)[SCORE_COLUMN]
    wanted = {*job.features, job.id_column}
    columns = [c for c in job.input_columns if c in wanted]
    csv_types = job.input_types if job.input_format == "csv" else None
    first = 0
    for table in iter_chunks(job.input, columns, chunk_rows, csv_types):
        ids = table.column(job.id_column).to_pylist()
        job.log_scored(table.select(job.features).to_pandas(), by_id.loc[ids].to_numpy(), ids, first_row=first)
        first += table.num_rows
    return f"recorded from the output ({first} rows)"
