"""What ``mlops batch predict`` runs: the platform config from ``config_dir``/``env``, then the step."""

from __future__ import annotations

from pathlib import Path

from serving.batch.manifest import BatchManifest


def batch_predict_command(
    input: Path,
    output: Path,
    model: str,
    ref: str,
    engine: str,
    config_dir: Path,
    env: str,
    keep_last: int,
    *,
    id_column: str | None = None,
    partition_by: str | None = None,
    chunk_rows: int = 50_000,
    spark_master: str = "local[2]",
) -> BatchManifest:
    """Score ``input`` with ``model`` at ``ref`` into ``output/run=<id>/``; ``keep_last`` 0 keeps every run.

    Raises the platform's errors (ConfigError, DatasetError, RegistryError) for the CLI to print.
    """
    from mlops.config import load_platform_config
    from serving.batch.step import batch_predict_step

    platform = load_platform_config(config_dir, env)
    return batch_predict_step(
        input_path=str(input),
        output_root=str(output),
        model_name=model,
        model_ref=ref,
        engine=engine,
        platform_config=platform.model_dump_json(),
        id_column=id_column or "",
        partition_by=partition_by or "",
        chunk_rows=chunk_rows,
        spark_master=spark_master,
        keep_last=keep_last,
    )
