"""The batch pipeline step: load a registered model by version or alias, score, apply retention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.delimited import PLAIN_CSV, CsvFormat
from mlops.errors import RegistryError
from mlops.object_store import ObjectStore, is_uri
from mlops.state import MetricsSink, record_step
from serving.batch.manifest import BatchManifest, apply_retention
from serving.batch.predict import predict_batch
from serving.batch.remote import apply_remote_retention
from serving.models import compiled_scorer

if TYPE_CHECKING:
    from model_registry.registry import ModelRegistry, VersionInfo
    from observability.prediction_log import PredictionLogConfig


def batch_predict_step(
    *,
    registry: ModelRegistry,
    input_path: str,
    output_root: str,
    model_name: str,
    model_ref: str,
    engine: str,
    id_column: str = "",
    partition_by: str = "",
    chunk_rows: int = 50_000,
    spark_master: str = "local[2]",
    keep_last: int = 0,
    out_manifest: str = "",
    pii_columns: list[str] | None = None,
    prediction_log: PredictionLogConfig | None = None,
    state_dir: Path | None = None,
    metrics: MetricsSink | None = None,
    store: ObjectStore | None = None,
) -> BatchManifest:
    """Score ``input_path`` with ``model_name`` at ``model_ref`` (``1.2.0``, ``champion``, ``challenger``).

    ``registry`` is opened by the caller from the platform config's ``registry`` section;
    empty strings mean "not given" (KFP parameters have no ``None``). With ``keep_last`` > 0
    only the newest ``keep_last`` runs under ``output_root`` are kept once this one succeeded.
    The manifest is also copied to ``out_manifest`` when given (the component's artifact).
    The columns the model's dataset declared as personal data (its serving schema's ``pii``),
    plus any ``pii_columns`` given, are left out of the score files (see
    :func:`~serving.batch.predict.predict_batch`). With ``prediction_log`` (enabled) the
    embedded engine records what it scored in the log (``<state_dir>/predictions`` unless the
    config names a root), without those columns.

    ``input_path`` and ``output_root`` may be ``s3://`` URIs: ``store`` is the platform config's
    ``object_store`` with the secret resolver for its key references. An ``s3://`` run is staged
    under ``<state_dir>/batch-staging`` (the system's temporary folder without a state folder)
    and uploaded once it succeeded; retention then lists and deletes run folders in the bucket.
    """
    if store is None and (is_uri(input_path) or is_uri(output_root)):
        store = ObjectStore()  # the default AWS credential chain (a pod's workload identity)
    with record_step("batch_predict", metrics=metrics) as rec:
        info = registry.get(model_name, model_ref)
        if not info.serving_schema:
            raise RegistryError(f"{model_name} {info.semver} has no serving schema; it cannot score a batch")
        pii = sorted({*(info.schema.pii if info.schema else []), *(pii_columns or [])})
        written = dataset_csv_format(registry, info, rec.notes)
        log = None
        if prediction_log is not None and prediction_log.enabled:
            from observability.prediction_log import PredictionLogger, predictions_root

            root = predictions_root(prediction_log, state_dir or Path(".mlops"))
            log = PredictionLogger(root, prediction_log, exclude_columns=pii, entity_column=id_column or "entity_id")
        # The verified compiled scorer when the version has one (it takes the model's place).
        model = compiled_scorer(registry, info) or registry.load_model(info)
        try:
            manifest = predict_batch(
                input_path,
                output_root,
                model=model,
                serving_schema=info.serving_schema,
                engine=engine,  # type: ignore[arg-type]  # engine_config() rejects unknown names
                model_name=model_name,
                model_version=info.semver,
                model_ref=model_ref,
                chunk_rows=chunk_rows,
                spark_master=spark_master,
                id_column=id_column or None,
                partition_by=partition_by or None,
                pii_columns=pii,
                written=written,
                prediction_log=log,
                store=store,
                staging_dir=state_dir / "batch-staging" if state_dir is not None else None,
            )
        finally:
            if log is not None:
                log.close()
        if log is not None:
            rec.figures["rows_logged"] = log.rows_written
        deleted: list[str] = []
        if keep_last > 0 and store is not None and is_uri(output_root):
            deleted = apply_remote_retention(output_root, keep_last, store, current=manifest.output_dir)
        elif keep_last > 0:
            deleted = [str(p) for p in apply_retention(Path(output_root), keep_last, current=manifest.output_dir)]
        rec.figures.update(
            model=model_name,
            version=info.semver,
            engine=manifest.engine,
            rows=manifest.rows_out,
            files=len(manifest.output_files),
            seconds=manifest.duration_s,
            runs_deleted=len(deleted),
            pii_columns_dropped=len(manifest.pii_columns_dropped),
            scorer=manifest.scorer,
        )
        if out_manifest:
            Path(out_manifest).parent.mkdir(parents=True, exist_ok=True)
            Path(out_manifest).write_text(
                json.dumps({**json.loads(manifest.to_json()), "retention_deleted": deleted}, indent=2)
            )
    return manifest


def dataset_csv_format(registry: ModelRegistry, info: VersionInfo, notes: list[str]) -> CsvFormat:
    """How the version's dataset wrote its CSV (``na_values``, encoding, decimal mark, in its
    lineage's roles), so a batch file written like the training data reads alike."""
    try:
        roles = registry.lineage(info).get("roles") or {}
    except Exception as exc:  # a version registered without lineage still scores
        notes.append(
            f"no lineage for {info.name} {info.semver} ({type(exc).__name__}): CSV inputs read as UTF-8 with "
            "decimal points, no dataset na_values applied"
        )
        return PLAIN_CSV
    try:
        written = CsvFormat.of_roles(roles)
    except LookupError as exc:
        raise RegistryError(f"{info.name} {info.semver}: its lineage names an unknown encoding: {exc}") from None
    if (written.encoding, written.decimal) != (PLAIN_CSV.encoding, PLAIN_CSV.decimal):
        notes.append(
            f"CSV inputs read as the model's dataset: {written.encoding} text, decimal mark {written.decimal!r}"
        )
    return written
