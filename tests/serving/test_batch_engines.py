"""Batch inference against a real model in a real MLflow registry (SQLite, temporary folder),
on both engines: the embedded one and real Spark (local[2], the machine's Java 17)."""

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import ModelConfig, PlatformConfig
from mlops.errors import DatasetError
from mlops.modeling import FeatureSchema, build_pipeline
from mlops.registry import ModelRegistry, VersionInfo
from mlops.sample_data import generate_credit_risk
from serving.batch import SparkEngineConfig, apply_retention, predict_batch, read_manifest
from serving.batch.manifest import run_folders
from serving.batch.step import batch_predict_step

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = FeatureSchema(
    numeric=("income", "loan_amount", "loan_term_months", "credit_score", "debt_to_income", "late_payments_12m"),
    categorical=("employment_type", "home_ownership", "loan_purpose", "region"),
)
ROWS = 1_200
ID = "applicant_id"


class Registered:
    def __init__(self, state: Path, info: VersionInfo, model: Any, frame: pd.DataFrame, inputs: Path) -> None:
        self.state = state
        self.info = info
        self.model = model
        self.frame = frame
        self.inputs = inputs

    @property
    def platform_config(self) -> str:
        return PlatformConfig(state_dir=self.state).model_dump_json()

    def expected(self) -> pd.Series:
        """In-process, vectorised predict_proba of the registered model, by id."""
        scores = self.model.predict_proba(self.frame[SCHEMA.columns])[:, 1]
        return pd.Series(scores, index=self.frame[ID], name="expected")


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """One model trained by the platform's builder, registered once as 1.0.0 and made champion."""
    base = tmp_path_factory.mktemp("batch")
    training = generate_credit_risk(3_000, seed=3)
    fitted = build_pipeline(ModelConfig(params={"max_iter": 40}), SCHEMA).fit(
        training[SCHEMA.columns], training["defaulted"]
    )
    registry = ModelRegistry.local(base / ".mlops" / "registry")
    registry.register(
        "credit_risk",
        fitted,
        serving_schema=SCHEMA.to_dict(),
        schema_hash="s1",
        training_fingerprint="f1",
        params={"family": "hist_gradient_boosting"},
        metrics={"roc_auc": 0.7},
        gates={"evaluation": True, "fairness": True},
        lineage={"dataset_hash": "d1"},
    )
    info = registry.set_alias("credit_risk", "1.0.0", "champion")
    # A fresh sample (other seed): scoring data the model has not seen, extra columns included.
    frame = generate_credit_risk(ROWS, seed=11)
    # Some missing numbers: NaN must reach the model as NaN through every reader.
    frame.loc[frame.index % 97 == 0, "income"] = np.nan
    inputs = base / "inputs"
    inputs.mkdir()
    frame.to_parquet(inputs / "scoring.parquet", index=False)
    frame.to_csv(inputs / "scoring.csv", index=False)
    return Registered(base / ".mlops", info, registry.load_model(info), frame, inputs)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One Spark session for the whole test run (start-up costs 10-30 s); the engine reuses it."""
    from serving.batch.spark import spark_session

    session = spark_session(SparkEngineConfig(master="local[2]"))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def scores_by_id(run_dir: str | Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir).set_index(ID).sort_index()


def assert_same_as_in_process(out: pd.DataFrame, registered: Registered) -> None:
    joined = out.join(registered.expected(), how="outer")
    assert len(joined) == ROWS
    assert joined["score"].notna().all()
    assert joined["expected"].notna().all()
    np.testing.assert_allclose(joined["score"].to_numpy(), joined["expected"].to_numpy(), rtol=1e-12, atol=0.0)


def test_embedded_step_loads_the_champion_and_matches_in_process_predict(
    registered: Registered, tmp_path: Path
) -> None:
    manifest = batch_predict_step(
        input_path=str(registered.inputs / "scoring.parquet"),
        output_root=str(tmp_path / "out"),
        model_name="credit_risk",
        model_ref="champion",
        engine="embedded",
        platform_config=registered.platform_config,
        id_column=ID,
        out_manifest=str(tmp_path / "manifest.json"),
    )
    out = scores_by_id(manifest.output_dir)
    assert_same_as_in_process(out, registered)
    # Extra columns pass through untouched; the features are not copied to the output.
    original = registered.frame.set_index(ID).sort_index()
    pd.testing.assert_series_equal(out["email"], original["email"])
    assert not set(SCHEMA.columns) & set(out.columns)
    assert manifest.output_columns[0] == ID
    assert manifest.output_columns[-1] == "score"
    assert (manifest.model_version, manifest.model_ref) == ("1.0.0", "champion")
    assert json.loads((tmp_path / "manifest.json").read_text())["run_id"] == manifest.run_id


def test_embedded_csv_in_small_chunks_matches_one_chunk(registered: Registered, tmp_path: Path) -> None:
    common: dict[str, Any] = {
        "model": registered.model,
        "serving_schema": registered.info.serving_schema,
        "engine": "embedded",
        "model_name": "credit_risk",
        "model_version": "1.0.0",
        "id_column": ID,
    }
    whole = predict_batch(registered.inputs / "scoring.csv", tmp_path / "one", chunk_rows=50_000, **common)
    small = predict_batch(registered.inputs / "scoring.csv", tmp_path / "many", chunk_rows=250, **common)
    assert len(whole.output_files) == 1
    assert len(small.output_files) == 5
    assert small.engine_details["chunks"] == 5
    pd.testing.assert_frame_equal(pd.read_parquet(whole.output_dir), pd.read_parquet(small.output_dir))
    assert_same_as_in_process(scores_by_id(small.output_dir), registered)


def test_embedded_partitions_by_a_column(registered: Registered, tmp_path: Path) -> None:
    manifest = predict_batch(
        registered.inputs / "scoring.parquet",
        tmp_path,
        model=registered.model,
        serving_schema=registered.info.serving_schema,
        engine="embedded",
        model_name="credit_risk",
        model_version="1.0.0",
        chunk_rows=500,
        id_column=ID,
        partition_by="region",
    )
    folders = {f.split("/")[0] for f in manifest.output_files}
    assert folders == {f"region={r}" for r in registered.frame["region"].unique()}
    out = scores_by_id(manifest.output_dir)
    assert_same_as_in_process(out, registered)
    assert (out["region"].astype(str) == registered.frame.set_index(ID).sort_index()["region"]).all()


@pytest.mark.parametrize("source", ["scoring.parquet", "scoring.csv"])
def test_spark_engine_matches_in_process_predict(
    registered: Registered, spark: Any, tmp_path: Path, source: str
) -> None:
    manifest = predict_batch(
        registered.inputs / source,
        tmp_path,
        model=registered.model,
        serving_schema=registered.info.serving_schema,
        engine="spark",
        model_name="credit_risk",
        model_version="1.0.0",
        chunk_rows=400,
        id_column=ID,
        partition_by="region",
    )
    assert manifest.engine == "spark"
    assert manifest.rows_in == manifest.rows_out == ROWS
    assert all(f.startswith("region=") for f in manifest.output_files)
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
    assert not spark.sparkContext._jsc.sc().isStopped()  # a session it did not start stays up


def test_missing_columns_fail_before_any_output(registered: Registered, tmp_path: Path) -> None:
    partial = tmp_path / "partial.parquet"
    registered.frame.drop(columns=["credit_score", "region"]).to_parquet(partial, index=False)
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"missing feature columns \['credit_score', 'region'\]") as err:
        predict_batch(
            partial,
            out,
            model=registered.model,
            serving_schema=registered.info.serving_schema,
            engine="spark",  # fails before Spark is even looked at
            model_name="credit_risk",
            model_version="1.0.0",
            id_column="no_such_id",
        )
    assert "id column 'no_such_id'" in str(err.value)
    assert not out.exists()


def test_wrong_feature_type_is_named(registered: Registered, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    registered.frame.assign(credit_score=registered.frame["credit_score"].astype(str)).to_parquet(bad, index=False)
    with pytest.raises(DatasetError, match=r"credit_score \(number expected, got string\)"):
        predict_batch(
            bad,
            tmp_path / "out",
            model=registered.model,
            serving_schema=registered.info.serving_schema,
            engine="embedded",
            model_name="credit_risk",
            model_version="1.0.0",
        )


def test_manifest_records_the_run(registered: Registered, tmp_path: Path) -> None:
    source = registered.inputs / "scoring.parquet"
    manifest = predict_batch(
        source,
        tmp_path,
        model=registered.model,
        serving_schema=registered.info.serving_schema,
        engine="embedded",
        model_name="credit_risk",
        model_version=registered.info.semver,
        chunk_rows=700,
    )
    on_disk = read_manifest(Path(manifest.output_dir))
    assert on_disk == manifest
    assert manifest.input_hash == "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    assert (manifest.rows_in, manifest.rows_out) == (ROWS, ROWS)
    assert manifest.model_name == "credit_risk"
    assert manifest.model_version == "1.0.0"
    assert manifest.engine_config == {"type": "embedded", "chunk_rows": 700}
    assert manifest.output_files == ["part-00000.parquet", "part-00001.parquet"]
    assert Path(manifest.output_dir).name == f"run={manifest.run_id}"
    assert manifest.finished >= manifest.started
    assert manifest.duration_s > 0
    # The manifest is beside the data but not part of it.
    assert len(pd.read_parquet(manifest.output_dir)) == ROWS


def test_retention_keeps_the_newest_runs(registered: Registered, tmp_path: Path) -> None:
    runs = []
    for _ in range(4):
        runs.append(
            batch_predict_step(
                input_path=str(registered.inputs / "scoring.parquet"),
                output_root=str(tmp_path),
                model_name="credit_risk",
                model_ref="1.0.0",
                engine="embedded",
                platform_config=registered.platform_config,
                keep_last=2,
            )
        )
    left = [p.name for p in run_folders(tmp_path)]
    assert left == [Path(r.output_dir).name for r in runs[-2:]]
    # The current run is never deleted, even when it is not among the newest.
    current = Path(runs[-2].output_dir)
    shutil.copytree(current, tmp_path / "run=99999999-000000-ffff")
    (tmp_path / "run=99999999-000000-ffff" / "_manifest.json").unlink()  # incomplete: ordered by mtime
    deleted = apply_retention(tmp_path, 1, current=current)
    assert deleted == [Path(runs[-1].output_dir)]
    assert {p.name for p in run_folders(tmp_path)} == {current.name, "run=99999999-000000-ffff"}
    with pytest.raises(ValueError, match="at least 1"):
        apply_retention(tmp_path, 0)


def test_cli_command_reads_the_platform_config(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.batch.cli import batch_predict_command

    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / ".mlops").symlink_to(registered.state)  # the default state folder, relative to the cwd
    monkeypatch.chdir(tmp_path)
    manifest = batch_predict_command(
        registered.inputs / "scoring.parquet",
        Path("scored"),
        "credit_risk",
        "champion",
        "embedded",
        Path("config"),
        "dev",
        keep_last=3,
    )
    assert manifest.model_version == "1.0.0"
    assert Path(manifest.output_dir).parent == (tmp_path / "scored").resolve()
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
