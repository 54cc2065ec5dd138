"""What ``mlops batch predict`` runs: the batch step on a registry the CLI opened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from serving.batch.manifest import BatchManifest

if TYPE_CHECKING:
    from mlops.object_store import ObjectStore
    from model_registry.registry import ModelRegistry
    from observability.prediction_log import PredictionLogConfig


def batch_predict_command(
    input: Path | str,
    output: Path | str,
    model: str,
    ref: str,
    engine: str,
    registry: ModelRegistry,
    keep_last: int,
    *,
    id_column: str | None = None,
    partition_by: str | None = None,
    chunk_rows: int = 50_000,
    spark_master: str = "local[2]",
    prediction_log: PredictionLogConfig | None = None,
    state_dir: Path | None = None,
    store: ObjectStore | None = None,
) -> BatchManifest:
    """Score ``input`` with ``model`` at ``ref`` into ``output/run=<id>/``; ``keep_last`` 0 keeps every run.

    ``input`` and ``output`` may be ``s3://`` URIs, read and written through ``store`` (the
    platform config's ``object_store``). Raises the platform's errors (DatasetError,
    RegistryError, ObjectStoreError) for the CLI to print.
    """
    from serving.batch.step import batch_predict_step

    return batch_predict_step(
        registry=registry,
        input_path=str(input),
        output_root=str(output),
        model_name=model,
        model_ref=ref,
        engine=engine,
        id_column=id_column or "",
        partition_by=partition_by or "",
        chunk_rows=chunk_rows,
        spark_master=spark_master,
        keep_last=keep_last,
        prediction_log=prediction_log,
        state_dir=state_dir,
        store=store,
    )
