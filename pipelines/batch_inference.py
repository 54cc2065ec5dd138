"""The batch inference pipeline (score a dataset with the champion) and its schedule.

Compile with :func:`compile_batch_inference`; :func:`schedule_batch_inference` registers it on
a KFP API server as a recurring run at :data:`SCHEDULE`.
"""

from pathlib import Path
from typing import Any

from kfp import dsl

from components.batch_predict import batch_predict
from mlops.errors import PipelineError

PIPELINE_NAME = "batch-inference"
# KFP cron has six fields, seconds first (robfig/cron): every day at 02:00 UTC, after the
# nightly feature materialisation.
SCHEDULE = "0 0 2 * * *"
EXPERIMENT = "batch-inference"


@dsl.pipeline(name=PIPELINE_NAME, description="Score a parquet/CSV dataset with a registered model version or alias.")
def batch_inference_pipeline(
    input_path: str,
    output_root: str,
    model_name: str,
    platform_config: str,
    model_ref: str = "champion",
    engine: str = "spark",
    spark_master: str = "local[*]",
    id_column: str = "",
    partition_by: str = "",
    chunk_rows: int = 50000,
    keep_last: int = 7,
) -> None:
    """``input_path`` and ``output_root`` are ``s3://`` URIs on the cluster (the pods mount no
    volume), read and written with the platform config's ``object_store``; local paths work on a
    local run. The run is staged under the pod's state folder and uploaded once it succeeded
    (manifest last), so a failed run leaves nothing in the bucket.

    ``spark_master`` is a cluster master URL in production; ``local[*]`` runs Spark in the pod
    (an ``s3://`` input is first copied into the pod for it; the embedded engine streams it).
    """
    batch_predict(
        input_path=input_path,
        output_root=output_root,
        model_name=model_name,
        model_ref=model_ref,
        engine=engine,
        platform_config=platform_config,
        id_column=id_column,
        partition_by=partition_by,
        chunk_rows=chunk_rows,
        spark_master=spark_master,
        keep_last=keep_last,
    )


def compile_batch_inference(out: Path) -> Path:
    from kfp import compiler

    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(batch_inference_pipeline, str(out))
    return out


def recurring_run_arguments(
    package_path: Path,
    *,
    experiment_id: str,
    params: dict[str, Any],
    cron: str = SCHEDULE,
    job_name: str = PIPELINE_NAME,
) -> dict[str, Any]:
    """Keyword arguments for ``kfp.Client.create_recurring_run``.

    One run at a time and no catch-up: a missed night is not backfilled run by run, the next
    run scores the then-current input.
    """
    return {
        "experiment_id": experiment_id,
        "job_name": job_name,
        "description": f"{PIPELINE_NAME} on schedule {cron!r}",
        "cron_expression": cron,
        "max_concurrency": 1,
        "no_catchup": True,
        "pipeline_package_path": str(package_path),
        "params": params,
        "enable_caching": False,
    }


def schedule_batch_inference(
    host: str,
    *,
    params: dict[str, Any],
    package_dir: Path,
    cron: str = SCHEDULE,
    experiment: str = EXPERIMENT,
    namespace: str | None = None,
) -> Any:
    """Compile, then create the recurring run on the cluster; returns the client's recurring-run object."""
    import kfp

    package = compile_batch_inference(package_dir / "batch_inference.yaml")
    try:
        client = kfp.Client(host=host, namespace=namespace)
        experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
        return client.create_recurring_run(
            **recurring_run_arguments(package, experiment_id=experiment_id, params=params, cron=cron)
        )
    except Exception as exc:  # connection, auth and API errors all mean "not scheduled"
        raise PipelineError(f"could not schedule {PIPELINE_NAME} on {host}: {type(exc).__name__}: {exc}") from exc
