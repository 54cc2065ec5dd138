"""What the benchmarks score and send: models fitted on the bundled sample and its rows as requests.

The features are the sample's own (:func:`training.sample_data.sample_feature_schema`); models
are fitted on one seed of the sample and requests come from another (rows the model has not seen).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from performance.benchmarks.report import REPO, SAMPLE_DATASET
from training.config import ModelConfig
from training.modeling import build_pipeline
from training.sample_data import TARGET_COLUMN, generate_credit_risk, sample_feature_rows, sample_feature_schema

if TYPE_CHECKING:
    from serving.models import LoadedModel

TRAIN_SEED = 1
REQUEST_SEED = 2


def sample_pii_columns() -> list[str]:
    """The sample's personal-data columns, as its dataset config declares them (what a model's
    lineage gives ``mlops batch`` to leave out of score files)."""
    from mlops.config import load_dataset_config

    return sorted(load_dataset_config(SAMPLE_DATASET).pii)


def sample_model(
    rows: int, version: str = "1.0.0", config: ModelConfig | None = None, *, compiled: bool = True
) -> LoadedModel:
    """Model ``bench`` ``version``, fitted on ``rows`` rows of the sample (platform defaults unless
    ``config``), with its compiled scorer when it verifies, as registering it would give it
    (``compiled=False``: the fitted model alone, as versions registered without one)."""
    from mlops.schema import ServingSchema
    from model_registry.compiled import CompiledScorer, compile_and_verify
    from serving.models import LoadedModel

    schema = sample_feature_schema()
    data = generate_credit_risk(rows, seed=TRAIN_SEED)
    fitted = build_pipeline(config or ModelConfig(), schema).fit(data[schema.columns], data[TARGET_COLUMN])
    serving = ServingSchema.coerce(schema.to_dict())
    scorer = None
    if compiled:
        holdout = generate_credit_risk(max(rows // 4, 100), seed=TRAIN_SEED + 1)
        result = compile_and_verify(fitted, serving, holdout, threshold=0.5)
        scorer = None if result.onnx_bytes is None else CompiledScorer(result.onnx_bytes, serving)
    return LoadedModel("bench", version, fitted, serving, compiled=scorer)


def request_rows(count: int) -> list[dict[str, Any]]:
    """``count`` JSON request bodies as a client sends them (unseen rows, plain Python values)."""
    return sample_feature_rows(count, seed=REQUEST_SEED)


def sample_project(work: Path, rows: int) -> Path:
    """``work`` set up as a user's project on ``rows`` rows of the bundled sample: the config
    copied (the dataset's sample and suite found from there), a fresh PII hash key. Returns the
    dataset config's path."""
    import secrets
    import shutil

    import yaml

    shutil.copytree(REPO / "config", work / "config")
    ds_file = work / "config" / "datasets" / "credit_risk.yaml"
    ds = yaml.safe_load(ds_file.read_text())
    ds["synthetic"]["rows"] = rows
    ds["path"] = str(work / "data" / "sample.parquet")
    ds["expectation_suite"] = str(REPO / "data_quality" / "expectations" / "credit_risk.yaml")
    ds_file.write_text(yaml.safe_dump(ds))
    key = work / ".mlops" / "secrets" / "pii-hash-key"
    key.parent.mkdir(parents=True)
    key.write_text(secrets.token_hex(32))
    return ds_file
