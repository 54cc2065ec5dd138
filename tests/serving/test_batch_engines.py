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

from mlops.delimited import CsvFormat
from mlops.errors import DatasetError
from mlops.schema import ServingSchema
from model_registry.compiled import TOLERANCE, compile_and_verify
from model_registry.registry import COMPILED_ARTIFACT, ModelRegistry, VersionInfo
from platform_config import PlatformConfig
from serving.batch import SparkEngineConfig, apply_retention, predict_batch, read_manifest
from serving.batch.manifest import BatchManifest, run_folders
from serving.batch.step import batch_predict_step
from serving.models import compiled_scorer
from training.config import ModelConfig
from training.modeling import FeatureSchema, build_pipeline
from training.sample_data import generate_credit_risk

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1_200
ID = "applicant_id"


class Registered:
    def __init__(
        self, state: Path, info: VersionInfo, model: Any, schema: FeatureSchema, frame: pd.DataFrame, inputs: Path
    ) -> None:
        self.state = state
        self.info = info
        self.model = model
        self.schema = schema
        self.frame = frame
        self.inputs = inputs

    @property
    def registry(self) -> ModelRegistry:
        return PlatformConfig(state_dir=self.state).open_registry()

    def predict(self, source: str, out: Path, **extra: Any) -> BatchManifest:
        """``inputs/<source>`` scored by the embedded engine into ``out`` (``extra`` overrides)."""
        run: dict[str, Any] = {
            "model": self.model,
            "serving_schema": self.info.serving_schema,
            "engine": "embedded",
            "model_name": "credit_risk",
            "model_version": "1.0.0",
            "id_column": ID,
            **extra,
        }
        return predict_batch(self.inputs / source, out, **run)

    def expected(self) -> pd.Series:
        """In-process, vectorised predict_proba of the registered model, by id."""
        scores = self.model.predict_proba(self.frame[self.schema.columns])[:, 1]
        return pd.Series(scores, index=self.frame[ID], name="expected")


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, sample_schema: FeatureSchema) -> Registered:
    """One model trained by the platform's builder, registered once as 1.0.0 and made champion."""
    base = tmp_path_factory.mktemp("batch")
    training = generate_credit_risk(3_000, seed=3)
    fitted = build_pipeline(ModelConfig(params={"max_iter": 40}), sample_schema).fit(
        training[sample_schema.columns], training["defaulted"]
    )
    registry = ModelRegistry.local(base / ".mlops" / "registry")
    registry.register(
        "credit_risk",
        fitted,
        serving_schema=sample_schema.to_dict(),
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
    return Registered(base / ".mlops", info, registry.load_model(info), sample_schema, frame, inputs)


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
        registry=registered.registry,
        id_column=ID,
        out_manifest=str(tmp_path / "manifest.json"),
    )
    out = scores_by_id(manifest.output_dir)
    assert_same_as_in_process(out, registered)
    # Extra columns pass through untouched; the features are not copied to the output.
    original = registered.frame.set_index(ID).sort_index()
    pd.testing.assert_series_equal(out["email"], original["email"])
    assert not set(registered.schema.columns) & set(out.columns)
    assert manifest.output_columns[0] == ID
    assert manifest.output_columns[-1] == "score"
    assert (manifest.model_version, manifest.model_ref) == ("1.0.0", "champion")
    assert manifest.scorer == "sklearn"  # registered without a compiled scorer
    assert json.loads((tmp_path / "manifest.json").read_text())["run_id"] == manifest.run_id


def test_embedded_csv_in_small_chunks_matches_one_chunk(registered: Registered, tmp_path: Path) -> None:
    whole = registered.predict("scoring.csv", tmp_path / "one", chunk_rows=50_000)
    small = registered.predict("scoring.csv", tmp_path / "many", chunk_rows=250)
    assert len(whole.output_files) == 1
    assert len(small.output_files) == 5
    assert small.engine_details["chunks"] == 5
    pd.testing.assert_frame_equal(pd.read_parquet(whole.output_dir), pd.read_parquet(small.output_dir))
    assert_same_as_in_process(scores_by_id(small.output_dir), registered)


def test_a_part_that_fails_to_write_fails_the_run_and_leaves_no_output(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts are written while the next chunk is scored: a write that fails (disk full) still
    fails the run, names why, and nothing of the run stays in the output folder."""
    from serving.batch.embedded import EmbeddedEngine

    written: list[int] = []
    real = EmbeddedEngine._write

    def full_disk(chunk: Any, scores: Any, job: Any, index: int) -> None:
        if index == 2:
            raise OSError(28, "No space left on device")
        real(chunk, scores, job, index)
        written.append(index)

    monkeypatch.setattr(EmbeddedEngine, "_write", staticmethod(full_disk))
    with pytest.raises(OSError, match="No space left on device"):
        registered.predict("scoring.csv", tmp_path / "out", chunk_rows=250)
    assert written[:2] == [0, 1]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_a_read_that_fails_half_way_fails_the_run_and_leaves_no_output(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next chunk is read while this one is scored: a read that fails after two chunks (a
    connection reset mid-file) still fails the run with its own error, and nothing stays."""
    from serving.batch import embedded

    real = embedded.iter_chunks
    closed: list[bool] = []

    def reset_after_two(*args: Any, **kwargs: Any) -> Any:
        try:
            for i, table in enumerate(real(*args, **kwargs)):
                if i == 2:
                    raise OSError(104, "Connection reset by peer")
                yield table
        finally:
            closed.append(True)

    monkeypatch.setattr(embedded, "iter_chunks", reset_after_two)
    with pytest.raises(OSError, match="Connection reset by peer"):
        registered.predict("scoring.parquet", tmp_path / "out", chunk_rows=250)
    assert closed == [True]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_embedded_partitions_by_a_column(registered: Registered, tmp_path: Path) -> None:
    manifest = registered.predict("scoring.parquet", tmp_path, chunk_rows=500, partition_by="region")
    folders = {f.split("/")[0] for f in manifest.output_files}
    assert folders == {f"region={r}" for r in registered.frame["region"].unique()}
    out = scores_by_id(manifest.output_dir)
    assert_same_as_in_process(out, registered)
    assert (out["region"].astype(str) == registered.frame.set_index(ID).sort_index()["region"]).all()


def dictionary_encoded(part: Path) -> set[str]:
    """The columns of a parquet part with a dictionary-encoded page."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(part).metadata
    return {
        meta.schema.column(j).name
        for j in range(meta.num_columns)
        if any("DICTIONARY" in e for i in range(meta.num_row_groups) for e in meta.row_group(i).column(j).encodings)
    }


@pytest.mark.parametrize("partition_by", [None, "age_band"])
def test_parts_dictionary_encode_only_the_columns_that_repeat(
    registered: Registered, tmp_path: Path, partition_by: str | None
) -> None:
    """Ids, timestamps and scores are written plain (a dictionary the writer would give up on
    costs half the write and leaves the file larger); categories are dictionary-encoded."""
    manifest = registered.predict("scoring.parquet", tmp_path, chunk_rows=600, partition_by=partition_by)
    assert manifest.output_files
    for name in manifest.output_files:
        encoded = dictionary_encoded(Path(manifest.output_dir) / name)
        assert not encoded & {ID, "application_ts", "score"}, name
        assert {"sex", "defaulted"} <= encoded, name
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)


def test_nested_dictionary_and_null_pass_through_columns_reach_the_output(
    registered: Registered, tmp_path: Path
) -> None:
    """Columns whose encoding Arrow cannot choose by counting (lists, structs, maps, dictionary
    and null types) are written with the writer's defaults, values unchanged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = len(registered.frame)
    table = pa.Table.from_pandas(registered.frame, preserve_index=False).append_column(
        "tags", pa.array([[i % 3, i] for i in range(rows)])
    )
    extra = {
        "address": pa.array([{"city": f"c{i % 4}", "n": i} for i in range(rows)]),
        "attrs": pa.array([[("k", i)] for i in range(rows)], pa.map_(pa.string(), pa.int64())),
        "segment": pa.array([f"s{i % 5}" for i in range(rows)]).dictionary_encode(),
        "unused": pa.nulls(rows),
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    pq.write_table(table, tmp_path / "nested.parquet")
    # An absolute source: Path joining keeps it as it is.
    manifest = registered.predict(str(tmp_path / "nested.parquet"), tmp_path / "out", chunk_rows=500)
    out = pq.read_table(manifest.output_dir).sort_by(ID)
    expected = table.sort_by(ID)
    for name in ["tags", *extra]:
        assert out.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)


def test_an_input_that_cannot_be_hashed_fails_the_run_and_leaves_no_output(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input is hashed beside the scoring: a hash that fails (the file went away) still fails
    the run with its error, and the scored parts are removed."""
    from serving.batch import predict as predict_module

    def gone(source: Any) -> str:
        raise FileNotFoundError(2, "No such file or directory", str(source.location))

    monkeypatch.setattr(predict_module, "content_hash", gone)
    with pytest.raises(FileNotFoundError, match="No such file"):
        registered.predict("scoring.parquet", tmp_path / "out", chunk_rows=250)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


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


def test_both_engines_read_the_datasets_na_values_as_missing(
    registered: Registered, spark: Any, tmp_path: Path
) -> None:
    """A file that writes "?" for unknown (as the model's dataset did, declared in ``na_values``)
    scores as if the gaps were empty; without the declaration the run fails naming the input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = registered.frame.assign(visits=np.where(registered.frame.index % 7 == 0, None, registered.frame.index))
    assert frame["income"].isna().any()
    path = tmp_path / "placeholders.csv"
    frame.to_csv(path, index=False, na_rep="?")
    assert "?" in path.read_text()

    with pytest.raises(DatasetError, match=r"batch input .*placeholders\.csv"):
        registered.predict(str(path), tmp_path / "refused")
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())

    runs = {
        engine: registered.predict(
            str(path), tmp_path / engine, engine=engine, chunk_rows=500, written=CsvFormat(na_values=("?",))
        )
        for engine in ("embedded", "spark")
    }
    for manifest in runs.values():
        assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
        visits = pq.read_table(manifest.output_dir).column("visits")
        assert visits.type == pa.int64()  # the placeholders did not make the column text
        assert visits.null_count == int((frame.index % 7 == 0).sum())


def test_both_engines_read_spreadsheet_exports_delimited_by_semicolons_or_tabs(
    registered: Registered, spark: Any, tmp_path: Path
) -> None:
    """A file exported with ";" (or tab) between fields, a byte-order mark first (Excel's
    "CSV UTF-8") and a dotted column name scores as its plain comma twin: the delimiter is told
    from the header, the mark is no part of the first name, and every column keeps its name and type."""
    import pyarrow.parquet as pq

    def types(folder: Path) -> dict[str, str]:
        return {f.name: str(f.type) for f in pq.read_table(folder).schema}

    frame = registered.frame.assign(**{"branch.code": registered.frame.index % 5})
    comma = tmp_path / "comma.csv"
    frame.to_csv(comma, index=False)
    expected = types(registered.predict(str(comma), tmp_path / "comma").output_dir)
    assert "branch.code" in expected
    for delimiter, encoding, engines in (
        (";", "utf-8-sig", ("embedded", "spark")),
        ("\t", "utf-8", ("embedded",)),
        (",", "utf-8-sig", ("embedded",)),
    ):
        path = tmp_path / f"input-{ord(delimiter)}-{encoding}.csv"
        frame.to_csv(path, index=False, sep=delimiter, encoding=encoding)
        for engine in engines:
            out = tmp_path / f"{engine}-{path.stem}"
            manifest = registered.predict(str(path), out, engine=engine, chunk_rows=500)
            assert manifest.rows_in == manifest.rows_out == len(frame)
            assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
            assert types(manifest.output_dir) == expected, (engine, delimiter, encoding)


def test_both_engines_read_a_file_in_the_datasets_code_page_with_decimal_commas(
    registered: Registered, spark: Any, tmp_path: Path
) -> None:
    """A file written as the model's dataset declared (cp1252, ";", decimal commas: a German
    spreadsheet's "CSV") scores as its UTF-8 twin on both engines, passthrough decimals typed as
    numbers and text kept as written; read as UTF-8 it is refused naming what to do."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = registered.frame.assign(**{"Größe": registered.frame.index * 0.25 - 7.5, "Stadt": "Köln"})
    path = tmp_path / "kredite.csv"
    frame.to_csv(path, index=False, sep=";", decimal=",", encoding="cp1252")
    assert b";0,25;" in path.read_bytes() or b";-7,25;" in path.read_bytes()
    written = CsvFormat(encoding="cp1252", decimal=",")
    for engine in ("embedded", "spark"):
        manifest = registered.predict(str(path), tmp_path / engine, engine=engine, chunk_rows=500, written=written)
        assert manifest.rows_in == manifest.rows_out == len(frame)
        assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
        table = pq.read_table(manifest.output_dir)
        assert table.schema.field("Größe").type == pa.float64(), engine
        by_id = table.to_pandas().set_index(ID)
        assert np.allclose(by_id["Größe"].sort_index(), frame.set_index(ID)["Größe"].sort_index()), engine
        assert set(by_id["Stadt"]) == {"Köln"}, engine

    # UTF-16: the embedded engine reads it; Spark, which splits lines as ASCII bytes, refuses it
    # before reading, as it refuses an encoding Java does not know.
    utf16 = tmp_path / "utf16.csv"
    frame.to_csv(utf16, index=False, sep=";", decimal=",", encoding="utf-16")
    manifest = registered.predict(
        str(utf16), tmp_path / "utf16", chunk_rows=500, written=CsvFormat(encoding="utf-16", decimal=",")
    )
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)
    for encoding, source, told in (
        ("utf-16", utf16, "cannot split utf-16 text into lines"),
        ("mac-roman", path, "does not know the encoding mac-roman"),
    ):
        with pytest.raises(DatasetError, match=f"the spark engine.*{told}.*embedded engine"):
            registered.predict(
                str(source),
                tmp_path / f"spark-{encoding}",
                engine="spark",
                written=CsvFormat(encoding=encoding, decimal=","),
            )
        assert not any((tmp_path / f"spark-{encoding}").glob("run=*"))

    with pytest.raises(DatasetError, match=r"kredite\.csv is not UTF-8 text .*save it as UTF-8, the encoding of"):
        registered.predict(str(path), tmp_path / "as-utf8")
    cp1252_only = CsvFormat(encoding="cp1252")
    with pytest.raises(DatasetError, match=r"kredite\.csv"):  # 1,5 is no number with decimal points
        registered.predict(str(path), tmp_path / "points", written=cp1252_only)


def test_the_step_reads_csv_inputs_as_its_versions_dataset_was_written(registered: Registered, tmp_path: Path) -> None:
    """``na_values``, ``encoding`` and ``decimal`` come from the version's lineage (the roles its
    training run decided)."""
    registry = registered.registry
    registry.register(
        "credit_na",
        registered.model,
        serving_schema=registered.schema.to_dict(),
        schema_hash="s1",
        training_fingerprint="f1",
        params={"family": "hist_gradient_boosting"},
        metrics={"roc_auc": 0.7},
        gates={"evaluation": True, "fairness": True},
        lineage={"dataset_hash": "d1", "roles": {"na_values": ["?"], "encoding": "cp1252", "decimal": ","}},
    )
    path = tmp_path / "placeholders.csv"
    registered.frame.assign(Größe=1.5).to_csv(path, index=False, na_rep="?", sep=";", decimal=",", encoding="cp1252")
    manifest = batch_predict_step(
        registry=registry,
        input_path=str(path),
        output_root=str(tmp_path / "out"),
        model_name="credit_na",
        model_ref="1.0.0",
        engine="embedded",
        id_column=ID,
    )
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)


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


def test_a_feature_named_score_is_read_and_only_a_written_one_clashes_with_the_scores() -> None:
    """Features are read, not written: one called "score" (a credit score) is fine; a column the
    output would carry under that name (passed through, or the id) is refused, naming it."""
    from serving.batch.inputs import InputColumns, check_columns

    schema = {"score": "number", "region": "string"}
    columns = InputColumns(names=["applicant", "score", "region"], types={})
    check_columns(columns, schema, path="in.csv", id_column="applicant", partition_by=None, reserved=["score"])
    with pytest.raises(DatasetError, match=r"columns \['score'\] would be written beside the output's score column"):
        check_columns(columns, schema, path="in.csv", id_column="score", partition_by=None, reserved=["score"])
    passed_through = InputColumns(names=["score", "region", "amount"], types={})
    with pytest.raises(DatasetError, match="would be written beside"):
        check_columns(passed_through, {"region": "string", "amount": "number"}, path="in.csv", id_column=None,
                      partition_by=None, reserved=["score"])  # fmt: skip


def test_a_csv_in_a_windows_code_page_is_named_with_what_to_do(registered: Registered, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    registered.frame.rename(columns={"region": "Größe"}).to_csv(path, index=False, sep=";", encoding="cp1252")
    told = r"export\.csv is not UTF-8 text \(undecodable byte at offset \d+, line 1\): save it as UTF-8"
    with pytest.raises(DatasetError, match=told):
        registered.predict(str(path), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


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


@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_the_step_records_what_it_scored_in_the_prediction_log(
    registered: Registered, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    from observability.prediction_log import PredictionLogConfig, read_predictions

    if engine == "spark":
        request.getfixturevalue("spark")
    manifest = batch_predict_step(
        registry=registered.registry,
        input_path=str(registered.inputs / "scoring.parquet"),
        output_root=str(tmp_path / "out"),
        model_name="credit_risk",
        model_ref="champion",
        engine=engine,
        id_column=ID,
        chunk_rows=700,
        pii_columns=["income"],
        prediction_log=PredictionLogConfig(root=str(tmp_path / "log")),
    )
    logged = read_predictions(tmp_path / "log", "credit_risk")
    assert len(logged) == manifest.rows_out == ROWS
    assert "income" not in logged.columns  # a declared PII column never reaches the log
    assert set(logged["model_version"]) == {"1.0.0"}
    by_id = logged.set_index(ID)["score"].sort_index()
    np.testing.assert_allclose(by_id.to_numpy(), scores_by_id(manifest.output_dir)["score"].to_numpy(), atol=1e-12)


def test_without_an_id_column_a_spark_run_says_it_logged_nothing(
    registered: Registered, tmp_path: Path, spark: Any
) -> None:
    from observability.prediction_log import PredictionLogConfig, read_predictions

    manifest = batch_predict_step(
        registry=registered.registry,
        input_path=str(registered.inputs / "scoring.parquet"),
        output_root=str(tmp_path / "out"),
        model_name="credit_risk",
        model_ref="champion",
        engine="spark",
        prediction_log=PredictionLogConfig(root=str(tmp_path / "log")),
    )
    assert "only with an id column" in manifest.engine_details["prediction_log"]
    assert read_predictions(tmp_path / "log", "credit_risk").empty


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
                registry=registered.registry,
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
    from typer.testing import CliRunner

    from mlops_cli.main import app

    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / ".mlops").symlink_to(registered.state)  # the default state folder, relative to the cwd
    monkeypatch.chdir(tmp_path)
    args = ["batch", "predict", "--input", str(registered.inputs / "scoring.parquet"), "--output", "scored"]
    result = CliRunner().invoke(app, [*args, "--model", "credit_risk", "--keep-last", "3", "--env", "dev"])
    assert result.exit_code == 0, result.output
    assert "credit_risk 1.0.0 (embedded" in result.output
    (run_dir,) = (tmp_path / "scored").glob("run=*")
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    assert manifest["model_version"] == "1.0.0"
    assert_same_as_in_process(scores_by_id(run_dir), registered)


# --- Declared PII never reaches the score files ------------------------------------------------

PII = ["full_name", "email", "phone", "national_id", "note", "emp_title"]


@pytest.fixture(scope="module")
def pii_inputs(registered: Registered) -> dict[str, Path]:
    """The scoring sample plus a PII column whose header differs in case from its declaration."""
    frame = registered.frame.assign(Emp_Title=[f"Senior Widget Inspector No {i}" for i in range(ROWS)])
    frame.to_parquet(registered.inputs / "pii.parquet", index=False)
    frame.to_csv(registered.inputs / "pii.csv", index=False)
    return {"parquet": registered.inputs / "pii.parquet", "csv": registered.inputs / "pii.csv"}


def pii_values(registered: Registered) -> set[str]:
    columns = ["full_name", "email", "phone", "national_id", "note"]
    values = {str(v) for c in columns for v in registered.frame[c].dropna() if str(v)}
    return values | {f"Senior Widget Inspector No {i}" for i in range(ROWS)}


def leaks(folder: Path, values: set[str]) -> set[str]:
    """Every raw value found in any file under ``folder``: parquet cells read back, and raw bytes."""
    import pyarrow.parquet as pq

    found: set[str] = set()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for column in table.columns:
                found |= {str(v) for v in column.to_pylist()} & values
        raw = path.read_bytes()
        found |= {v for v in values if v.encode() in raw}
    return found


def test_the_leak_scan_finds_pass_through_pii(
    registered: Registered, pii_inputs: dict[str, Path], tmp_path: Path
) -> None:
    """Without a PII declaration the values are passed through, and the scan sees them."""
    predict_batch(
        pii_inputs["parquet"],
        tmp_path,
        model=registered.model,
        serving_schema=registered.info.serving_schema,
        engine="embedded",
        model_name="credit_risk",
        model_version="1.0.0",
        id_column=ID,
    )
    assert len(leaks(tmp_path, pii_values(registered))) > ROWS


@pytest.mark.parametrize("source", ["parquet", "csv"])
@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_declared_pii_never_reaches_the_score_files(
    registered: Registered,
    pii_inputs: dict[str, Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    engine: str,
    source: str,
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark")
    out = tmp_path / "out"
    manifest = batch_predict_step(
        input_path=str(pii_inputs[source]),
        output_root=str(out),
        model_name="credit_risk",
        model_ref="champion",
        engine=engine,
        registry=registered.registry,
        id_column=ID,
        partition_by="region",
        chunk_rows=400,
        out_manifest=str(out / "_step_manifest.json"),
        pii_columns=PII,
    )
    assert leaks(out, pii_values(registered)) == set()
    assert manifest.pii_columns_dropped == ["full_name", "email", "phone", "national_id", "note", "Emp_Title"]
    on_disk = read_manifest(Path(manifest.output_dir))
    assert on_disk.pii_columns_dropped == manifest.pii_columns_dropped
    declared = {c.casefold() for c in PII}
    assert not {c.casefold() for c in manifest.output_columns} & declared
    written = pd.read_parquet(manifest.output_dir)
    assert not {c.casefold() for c in written.columns} & declared
    # The other pass-through columns are still there, and the scores are right.
    assert {"sex", "age_band", "application_ts", "region"} <= set(written.columns)
    assert_same_as_in_process(scores_by_id(manifest.output_dir), registered)


@pytest.mark.parametrize("engine", ["embedded", "spark"])
@pytest.mark.parametrize(("option", "column"), [("id_column", "email"), ("partition_by", "Full_Name")])
def test_a_pii_id_or_partition_column_is_refused(
    registered: Registered, pii_inputs: dict[str, Path], tmp_path: Path, engine: str, option: str, column: str
) -> None:
    frame = registered.frame.rename(columns={"full_name": "Full_Name"})
    source = tmp_path / "input.parquet"
    frame.to_parquet(source, index=False)
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="declared personal data") as err:
        predict_batch(
            source,
            out,
            model=registered.model,
            serving_schema=registered.info.serving_schema,
            engine=engine,  # type: ignore[arg-type]
            model_name="credit_risk",
            model_version="1.0.0",
            pii_columns=PII,
            **{option: column},
        )
    assert f"'{column}'" in str(err.value)
    assert "will not be copied into score files" in str(err.value)
    assert not out.exists()


def test_a_manifest_written_before_pii_columns_dropped_still_loads(registered: Registered, tmp_path: Path) -> None:
    manifest = predict_batch(
        registered.inputs / "scoring.parquet",
        tmp_path,
        model=registered.model,
        serving_schema=registered.info.serving_schema,
        engine="embedded",
        model_name="credit_risk",
        model_version="1.0.0",
    )
    old = json.loads(manifest.to_json())
    del old["pii_columns_dropped"]
    loaded = type(manifest).from_json(json.dumps(old))
    assert loaded.pii_columns_dropped == []
    assert loaded.run_id == manifest.run_id


# --- CSV pass-through columns keep their type, the same on both engines ------------------------

TYPED_ROWS = 3_000


@pytest.fixture(scope="module")
def typed_csv(registered: Registered) -> Path:
    """A CSV of several pyarrow blocks (~1 MB each) whose pass-through columns look like one
    type in the first block and are settled only by a value far later."""
    base = generate_credit_risk(TYPED_ROWS, seed=5)
    rows = np.arange(TYPED_ROWS)
    last = TYPED_ROWS - 1
    ratio = np.round(rows / 7.0, 4)
    ratio[rows % 11 == 0] = np.nan
    frame = base[[ID, *registered.schema.columns]].assign(
        amount=(rows * 37 - 5_000).astype("int64"),
        age=pd.array(np.where(rows > 2_000, np.where(rows % 5 == 0, None, rows % 90), rows % 90), dtype="Int64"),
        ratio=ratio,
        late_fraction=pd.Series(rows % 100, dtype=object).where(rows != last, "3.5"),
        code=[f"{i % 1000:03d}" for i in range(TYPED_ROWS)],
        flag=rows % 3 == 0,
        label=[f'item {i}, "quoted"' if i % 4 else "NA" for i in range(TYPED_ROWS)],
        big_id=[str(10**19 + i) for i in range(TYPED_ROWS)],
        memo="x" * 400,  # makes the file span several reader blocks
    )
    path = registered.inputs / "typed.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_pass_through_types_are_decided_over_the_whole_file(typed_csv: Path) -> None:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    from serving.batch.inputs import classify_csv_columns

    first = next(iter(pacsv.open_csv(typed_csv)))
    assert first.num_rows < TYPED_ROWS  # the value that settles late_fraction is in a later block
    assert first.schema.field("late_fraction").type == pa.int64()
    types = classify_csv_columns(
        typed_csv, ["amount", "age", "ratio", "late_fraction", "code", "flag", "label", "big_id", "memo"]
    )
    assert types == {
        "amount": pa.int64(),
        "age": pa.int64(),
        "ratio": pa.float64(),
        "late_fraction": pa.float64(),
        "code": pa.string(),  # leading zeros: a code, not a number
        "flag": pa.string(),
        "label": pa.string(),
        "big_id": pa.string(),  # beyond int64: an identifier
        "memo": pa.string(),
    }


def test_both_engines_write_the_same_csv_pass_through_types_and_values(
    registered: Registered, typed_csv: Path, spark: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    common: dict[str, Any] = {
        "model": registered.model,
        "serving_schema": registered.info.serving_schema,
        "model_name": "credit_risk",
        "model_version": "1.0.0",
        "id_column": ID,
        "chunk_rows": 500,
    }
    embedded = predict_batch(typed_csv, tmp_path / "embedded", engine="embedded", **common)
    on_spark = predict_batch(typed_csv, tmp_path / "spark", engine="spark", **common)
    tables = {m.engine: pq.read_table(m.output_dir) for m in (embedded, on_spark)}
    expected_types = {
        ID: pa.string(),
        "amount": pa.int64(),
        "age": pa.int64(),
        "ratio": pa.float64(),
        "late_fraction": pa.float64(),
        "code": pa.string(),
        "flag": pa.string(),
        "label": pa.string(),
        "big_id": pa.string(),
        "memo": pa.string(),
        "score": pa.float64(),
    }
    for table in tables.values():
        assert {f.name: f.type for f in table.schema} == expected_types
    frames = {name: t.to_pandas().set_index(ID).sort_index() for name, t in tables.items()}
    pd.testing.assert_frame_equal(
        frames["embedded"].drop(columns="score"), frames["spark"].drop(columns="score"), check_exact=True
    )
    np.testing.assert_allclose(frames["embedded"]["score"], frames["spark"]["score"], rtol=1e-12, atol=0.0)
    source = pd.read_csv(typed_csv, dtype=str, keep_default_na=False).set_index(ID).sort_index()
    out = tables["embedded"].to_pandas().set_index(ID).sort_index()
    assert out["late_fraction"].iloc[-1] == 3.5
    assert (out["amount"] == source["amount"].astype("int64")).all()
    assert out["age"].isna().sum() == (source["age"] == "").sum() > 0
    assert out["ratio"].isna().sum() == (source["ratio"] == "").sum() > 0
    assert (out["code"] == source["code"]).all()
    assert out.loc[source["label"] != "NA", "label"].eq(source.loc[source["label"] != "NA", "label"]).all()
    assert out.loc[source["label"] == "NA", "label"].isna().all()  # the CSV missing markers, as pandas reads them


@pytest.fixture(scope="module")
def compiled_version(registered: Registered) -> VersionInfo:
    """The same fitted model registered again, as the register step does: with its verified
    compiled scorer beside it (tags and artifact)."""
    schema = ServingSchema.coerce(registered.schema.to_dict())
    result = compile_and_verify(registered.model, schema, registered.frame, threshold=0.5)
    assert result.onnx_bytes is not None, result.record
    graph = registered.state / "model.onnx"
    graph.write_bytes(result.onnx_bytes)
    registry = registered.registry
    registry.register(
        "credit_risk_compiled",
        registered.model,
        serving_schema=schema,
        schema_hash="s1",
        training_fingerprint="f1",
        params={"family": "hist_gradient_boosting"},
        metrics={"roc_auc": 0.7},
        gates={"evaluation": True, "fairness": True},
        lineage={"dataset_hash": "d1", "scorer": result.record},
        artifacts={COMPILED_ARTIFACT.rpartition("/")[0]: graph},
        extra_tags=result.tags,
    )
    return registry.set_alias("credit_risk_compiled", "1.0.0", "champion")


def assert_close_to_in_process(out: pd.DataFrame, registered: Registered) -> None:
    """The compiled scorer's answer: the fitted model's within the verified tolerance."""
    joined = out.join(registered.expected(), how="outer")
    assert len(joined) == ROWS
    np.testing.assert_allclose(joined["score"].to_numpy(), joined["expected"].to_numpy(), rtol=0, atol=TOLERANCE)


def test_the_step_scores_with_the_versions_compiled_scorer(
    registered: Registered, compiled_version: VersionInfo, tmp_path: Path
) -> None:
    manifest = batch_predict_step(
        input_path=str(registered.inputs / "scoring.csv"),
        output_root=str(tmp_path / "out"),
        model_name="credit_risk_compiled",
        model_ref="champion",
        engine="embedded",
        registry=registered.registry,
        id_column=ID,
        chunk_rows=500,
    )
    assert manifest.scorer == "onnx"
    assert_close_to_in_process(scores_by_id(manifest.output_dir), registered)


@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_both_engines_score_with_a_compiled_scorer(
    registered: Registered, compiled_version: VersionInfo, spark: Any, tmp_path: Path, engine: str
) -> None:
    scorer = compiled_scorer(registered.registry, compiled_version)
    assert scorer is not None
    manifest = predict_batch(
        registered.inputs / "scoring.parquet",
        tmp_path,
        model=scorer,  # pickled into Spark's Python workers as its graph
        serving_schema=registered.info.serving_schema,
        engine=engine,  # type: ignore[arg-type]
        model_name="credit_risk_compiled",
        model_version="1.0.0",
        chunk_rows=400,
        id_column=ID,
    )
    assert manifest.rows_out == ROWS
    assert manifest.scorer == "onnx"
    assert_close_to_in_process(scores_by_id(manifest.output_dir), registered)
