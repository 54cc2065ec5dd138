"""Batch inference: score a parquet/CSV file with a registered model, embedded or on Spark.

    predict_batch(input, output_root, model=..., engine="embedded" | "spark", ...)
      → output_root/run=<run_id>/[<partition>=<value>/]part-*.parquet
      → output_root/run=<run_id>/_manifest.json   (model version, input hash, row counts, files)

Both engines read the input, check it against the model's serving schema before any work,
and write the pass-through columns (every non-feature column, the id first) plus ``score``
(the positive-class probability), exactly as ``model.predict_proba`` gives it in process.
Columns declared as PII (``pii_columns``) are never passed through; the manifest names them
under ``pii_columns_dropped``. CSV columns are typed once for the whole file (pass-through
numbers stay int64 / float64), so both engines write the same types and values.
Input and output root may be ``s3://`` URIs (the platform's ``object_store``): the embedded
engine streams the input from the bucket, Spark scores a local copy, and a run is staged locally
and uploaded once it succeeded, manifest last (:mod:`serving.batch.remote`).
Engines are a plug point: :class:`~serving.batch.engines.BatchEngine`, a typed config with a
``type`` literal, and the one :data:`~serving.batch.engines.ENGINES` dict.
"""

from serving.batch.engines import (
    ENGINES,
    BatchEngine,
    EmbeddedEngineConfig,
    EngineConfig,
    SparkEngineConfig,
    create_engine,
)
from serving.batch.manifest import BatchManifest, apply_retention, read_manifest
from serving.batch.predict import SCORE_COLUMN, predict_batch

__all__ = [
    "ENGINES",
    "SCORE_COLUMN",
    "BatchEngine",
    "BatchManifest",
    "EmbeddedEngineConfig",
    "EngineConfig",
    "SparkEngineConfig",
    "apply_retention",
    "create_engine",
    "predict_batch",
    "read_manifest",
]
