from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def batch_predict(
    input_path: str,
    output_root: str,
    model_name: str,
    model_ref: str,
    engine: str,
    platform_config: str,
    id_column: str,
    partition_by: str,
    chunk_rows: int,
    spark_master: str,
    keep_last: int,
    manifest: Output[Artifact],
    metrics: Output[Metrics],
) -> NamedTuple("BatchPredictOutputs", [("model_version", str), ("rows", int), ("output_dir", str)]):
    """Score a parquet/CSV input with a registered model (version or alias), embedded or on Spark.

    Writes partitioned parquet under ``output_root/run=<id>/`` with its manifest, keeps the
    newest ``keep_last`` runs (0: all); empty ``id_column`` / ``partition_by`` mean none.
    ``input_path`` / ``output_root`` may be ``s3://`` URIs (the platform config's object_store).
    """
    from mlops.object_store import ObjectStore
    from mlops.secrets import SecretResolver
    from platform_config import PlatformConfig
    from serving.batch.step import batch_predict_step

    platform = PlatformConfig.model_validate_json(platform_config)
    # s3:// locations are read and written with the object_store keys, resolved like every secret.
    store = ObjectStore(platform.object_store, SecretResolver(platform.vault).resolve)
    return batch_predict_step(
        store=store,
        registry=platform.open_registry(),
        prediction_log=platform.prediction_log,
        state_dir=platform.state_dir,
        input_path=input_path,
        output_root=output_root,
        model_name=model_name,
        model_ref=model_ref,
        engine=engine,
        id_column=id_column,
        partition_by=partition_by,
        chunk_rows=chunk_rows,
        spark_master=spark_master,
        keep_last=keep_last,
        out_manifest=manifest.path,
        metrics=metrics.log_metric,
    ).outputs()
