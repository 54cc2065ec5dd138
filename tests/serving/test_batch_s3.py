"""Batch scoring from and to ``s3://`` on a real S3 server: SeaweedFS (the local stack's object
store, started alone for this module on free ports), through the platform's object-store API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.errors import DatasetError, ObjectStoreError
from mlops.object_store import ObjectStore, ObjectStoreConfig
from serving.batch import predict_batch
from serving.batch.inputs import content_hash
from serving.batch.manifest import BatchManifest
from serving.batch.remote import apply_remote_retention, remote_run_folders
from serving.batch.step import batch_predict_step
from tests.local_stack import state_folder
from tests.serving import test_batch_engines as engines
from tests.serving.test_batch_engines import ID, ROOT, Registered, assert_same_as_in_process

# The batch tests' fixtures: the registered champion (trained and registered once per module)
# and the session's Spark.
registered = engines.registered
spark = engines.spark

KEY_REFS = {"access_key_id": "env://BATCH_TEST_S3_KEY", "secret_access_key": "env://BATCH_TEST_S3_SECRET"}


@dataclass(frozen=True)
class S3:
    endpoint: str
    access_key: str
    secret_key: str = ""

    def store(self, **overrides: Any) -> ObjectStore:
        """The platform's object store on this server; the key references resolve to its keys."""
        values = {KEY_REFS["access_key_id"]: self.access_key, KEY_REFS["secret_access_key"]: self.secret_key}
        config = ObjectStoreConfig(endpoint_url=self.endpoint, **KEY_REFS, **overrides)
        return ObjectStore(config, values.__getitem__)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """SeaweedFS alone (``weed mini`` with the generated key and the stack's buckets)."""
    from infrastructure.local_stack import Credentials, Layout
    from infrastructure.local_stack import ObjectStore as SeaweedFS

    with state_folder("batch-s3-") as folder:
        layout = Layout(folder)
        layout.root.mkdir(parents=True)
        credentials = Credentials(
            s3_access_key="BATCHTEST" + os.urandom(6).hex().upper(),
            s3_secret_key=os.urandom(20).hex(),
            postgres_superuser_password="unused",  # pragma: allowlist secret
            database_passwords={},
            redis_password="unused",  # pragma: allowlist secret
        )
        server = SeaweedFS(layout, SeaweedFS.new_record(layout, set(), None), credentials)
        server.prepare()
        pid = server.launch()
        deadline = time.monotonic() + 60
        while not server.answers():
            assert time.monotonic() < deadline, f"SeaweedFS did not answer; its log {server.log}"
            time.sleep(0.2)
        server.configure()  # the buckets artifacts, datasets, backups
        try:
            yield S3(server.record.endpoint, credentials.s3_access_key, credentials.s3_secret_key)
        finally:
            os.kill(pid, signal.SIGTERM)  # state_folder kills whatever still runs in the folder


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of the test's own, so the tests share the buckets without seeing each other."""
    return f"t/{request.node.name.replace('[', '-').replace(']', '')}-{os.urandom(3).hex()}"


def upload(store: ObjectStore, local: Path, uri: str) -> str:
    from pyarrow import fs

    fs.copy_files(str(local), uri.removeprefix("s3://"), destination_filesystem=store.filesystem())
    return uri


def keys_under(store: ObjectStore, uri: str) -> list[str]:
    from pyarrow import fs

    infos = store.filesystem().get_file_info(
        fs.FileSelector(uri.removeprefix("s3://"), recursive=True, allow_not_found=True)
    )
    return sorted(i.path for i in infos if i.type == fs.FileType.File)


def read_remote_manifest(store: ObjectStore, run_uri: str) -> BatchManifest:
    with store.filesystem().open_input_stream(f"{run_uri.removeprefix('s3://')}/_manifest.json") as f:
        return BatchManifest.from_json(f.read().decode())


def read_remote_run(store: ObjectStore, manifest: BatchManifest) -> pd.DataFrame:
    import pyarrow.parquet as pq

    base = manifest.output_dir.removeprefix("s3://")
    tables = [pq.read_table(f"{base}/{name}", filesystem=store.filesystem()) for name in manifest.output_files]
    import pyarrow as pa

    return pa.concat_tables(tables).to_pandas().set_index(ID).sort_index()


def common(registered: Registered, **extra: Any) -> dict[str, Any]:
    return {
        "model": registered.model,
        "serving_schema": registered.info.serving_schema,
        "model_name": "credit_risk",
        "model_version": "1.0.0",
        "id_column": ID,
        **extra,
    }


def test_the_step_scores_an_s3_parquet_into_an_s3_run(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    source = upload(store, registered.inputs / "scoring.parquet", f"s3://datasets/{prefix}/input.parquet")
    root = f"s3://artifacts/{prefix}/scores"
    manifest = batch_predict_step(
        registry=registered.registry,
        input_path=source,
        output_root=root,
        model_name="credit_risk",
        model_ref="champion",
        engine="embedded",
        id_column=ID,
        chunk_rows=500,
        out_manifest=str(tmp_path / "manifest.json"),
        state_dir=tmp_path / "state",
        store=store,
    )
    assert manifest.output_dir == f"{root}/run={manifest.run_id}"
    assert manifest.location == f"{manifest.output_dir}/_manifest.json"
    assert manifest.input_path == source
    assert len(manifest.output_files) == 3  # 1 200 rows in chunks of 500
    # What a reader finds in the bucket: the manifest and every part it lists, nothing else.
    base = manifest.output_dir.removeprefix("s3://")
    assert keys_under(store, root) == sorted(
        [f"{base}/_manifest.json", *(f"{base}/{f}" for f in manifest.output_files)]
    )
    assert read_remote_manifest(store, manifest.output_dir) == manifest
    out = read_remote_run(store, manifest)
    assert_same_as_in_process(out, registered)
    pd.testing.assert_series_equal(out["email"], registered.frame.set_index(ID).sort_index()["email"])
    # Hashed from the store's metadata, not by downloading the input again.
    assert manifest.input_hash.startswith("s3-etag:sha256:")
    assert json.loads((tmp_path / "manifest.json").read_text())["output_dir"] == manifest.output_dir
    assert not any((tmp_path / "state" / "batch-staging").iterdir())  # the staging copy is gone


@pytest.mark.parametrize("name", ["scoring.csv", "scoring.csv.gz"])
def test_a_csv_is_streamed_from_s3_with_the_same_scores_as_locally(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path, name: str
) -> None:
    store = s3.store()
    local = registered.inputs / "scoring.csv"
    if name.endswith(".gz"):
        local = tmp_path / name
        registered.frame.to_csv(local, index=False, compression="gzip")
    source = upload(store, local, f"s3://datasets/{prefix}/{name}")
    remote = predict_batch(
        source, f"s3://artifacts/{prefix}/scores", engine="embedded", store=store, **common(registered)
    )
    here = predict_batch(local, tmp_path / "local", engine="embedded", **common(registered))
    assert remote.input_format == "csv"
    out = read_remote_run(store, remote)
    assert_same_as_in_process(out, registered)
    pd.testing.assert_frame_equal(out, pd.read_parquet(here.output_dir).set_index(ID).sort_index())


def test_spark_scores_a_staged_copy_hashed_like_the_local_file(
    registered: Registered, s3: S3, spark: Any, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    local = registered.inputs / "scoring.parquet"
    source = upload(store, local, f"s3://datasets/{prefix}/input.parquet")
    manifest = predict_batch(
        source,
        f"s3://artifacts/{prefix}/scores",
        engine="spark",
        store=store,
        staging_dir=tmp_path / "staging",
        **common(registered),
    )
    assert manifest.engine == "spark"
    # Downloaded once and hashed on the way: the same sha256 as the local file.
    assert manifest.input_hash == content_hash(local)
    assert_same_as_in_process(read_remote_run(store, manifest), registered)
    assert not any((tmp_path / "staging").iterdir())


def test_a_parquet_folder_on_s3_is_read_part_by_part(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    folder = tmp_path / "parts"
    folder.mkdir()
    half = len(registered.frame) // 2
    registered.frame.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
    registered.frame.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    for f in folder.iterdir():
        upload(store, f, f"s3://datasets/{prefix}/in/{f.name}")
    manifest = predict_batch(
        f"s3://datasets/{prefix}/in/",
        f"s3://artifacts/{prefix}/scores",
        engine="embedded",
        store=store,
        partition_by="region",
        **common(registered),
    )
    assert manifest.rows_in == len(registered.frame)
    # The hive layout is uploaded as written: region=<value>/part-*.parquet.
    assert {name.partition("/")[0] for name in manifest.output_files} == {
        f"region={r}" for r in registered.frame["region"].unique()
    }
    assert_same_as_in_process(read_remote_run(store, manifest), registered)


def test_retention_keeps_the_newest_runs_in_the_bucket(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    source = upload(store, registered.inputs / "scoring.parquet", f"s3://datasets/{prefix}/input.parquet")
    root = f"s3://artifacts/{prefix}/scores"
    # An interrupted upload left parts without a manifest: an incomplete run, the oldest here.
    stale = f"{root}/run=20000101-000000-dead"
    upload(store, registered.inputs / "scoring.parquet", f"{stale}/part-00000.parquet")
    runs = []
    for _ in range(3):
        runs.append(
            batch_predict_step(
                registry=registered.registry,
                input_path=source,
                output_root=root,
                model_name="credit_risk",
                model_ref="1.0.0",
                engine="embedded",
                keep_last=2,
                store=store,
                state_dir=tmp_path,
            )
        )
    assert remote_run_folders(root, store) == [r.output_dir for r in runs[-2:]]
    assert keys_under(store, stale) == []
    # The current run is never deleted, even when it is not among the newest (an incomplete run
    # is ordered by the time in its id first, here the newest).
    newest = f"{root}/run=29991231-235959-ffff"
    upload(store, registered.inputs / "scoring.parquet", f"{newest}/part-00000.parquet")
    deleted = apply_remote_retention(root, 1, store, current=runs[-2].output_dir)
    assert deleted == [runs[-1].output_dir]
    assert remote_run_folders(root, store) == [runs[-2].output_dir, newest]
    with pytest.raises(ValueError, match="at least 1"):
        apply_remote_retention(root, 0, store)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    assert "Traceback" not in text
    return text


def test_a_missing_input_is_named_and_nothing_is_written(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    root = f"s3://artifacts/{prefix}/scores"
    missing = f"s3://datasets/{prefix}/nothing-here.parquet"
    with pytest.raises(ObjectStoreError) as caught:
        predict_batch(missing, root, engine="embedded", store=store, staging_dir=tmp_path, **common(registered))
    assert one_line(caught.value) == f"batch input {missing}: no such object"
    assert keys_under(store, root) == []
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ObjectStoreError, match=r"^batch input s3://no-such-bucket/x.parquet: no such bucket$"):
        predict_batch("s3://no-such-bucket/x.parquet", root, engine="embedded", store=store, **common(registered))
    # A missing output bucket is found before any scoring.
    source = upload(store, registered.inputs / "scoring.parquet", f"s3://datasets/{prefix}/input.parquet")
    with pytest.raises(ObjectStoreError, match=r"s3://no-such-bucket/scores: no such bucket 'no-such-bucket'"):
        predict_batch(source, "s3://no-such-bucket/scores", engine="embedded", store=store, **common(registered))


def test_wrong_keys_and_a_store_that_is_down_are_one_line_naming_the_uri(
    registered: Registered, s3: S3, prefix: str
) -> None:
    from performance.servers import free_port

    uri = f"s3://datasets/{prefix}/input.parquet"
    upload(s3.store(), registered.inputs / "scoring.parquet", uri)
    wrong = S3(s3.endpoint, s3.access_key, "not-the-secret").store()
    with pytest.raises(ObjectStoreError) as caught:
        predict_batch(uri, f"s3://artifacts/{prefix}/out", engine="embedded", store=wrong, **common(registered))
    assert one_line(caught.value) == f"batch input {uri}: access denied (check the object_store access key references)"
    down = S3(f"http://127.0.0.1:{free_port()}", s3.access_key, s3.secret_key).store(
        max_attempts=1, connect_timeout_s=1
    )
    with pytest.raises(ObjectStoreError) as caught:
        predict_batch(uri, "out", engine="embedded", store=down, **common(registered))
    assert one_line(caught.value).startswith(f"batch input {uri}: the object store at http://127.0.0.1:")
    assert one_line(caught.value).endswith("does not answer")


def test_a_run_that_fails_midway_leaves_no_run_folder_in_the_bucket(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path
) -> None:
    store = s3.store()
    frame = registered.frame.astype({"income": object})
    frame.loc[frame.index[-1], "income"] = "not a number"  # found only in the last chunk
    frame["memo"] = "x" * 2_000  # the file spans several reader blocks: parts are written before the failure
    local = tmp_path / "bad.csv"
    frame.to_csv(local, index=False)
    source = upload(store, local, f"s3://datasets/{prefix}/bad.csv")
    root = f"s3://artifacts/{prefix}/scores"
    staging = tmp_path / "staging"
    with pytest.raises(DatasetError, match=rf"batch input {source}: .*not a number"):
        predict_batch(
            source, root, engine="embedded", store=store, staging_dir=staging, chunk_rows=200, **common(registered)
        )
    assert keys_under(store, root) == []
    assert list(staging.iterdir()) == []  # the parts written before the failure are gone too


def test_an_upload_that_fails_removes_what_it_uploaded(
    registered: Registered, s3: S3, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3.store()
    source = upload(store, registered.inputs / "scoring.parquet", f"s3://datasets/{prefix}/input.parquet")
    root = f"s3://artifacts/{prefix}/scores"

    def lost_connection(self: BatchManifest) -> str:
        raise OSError("connection reset by peer")

    # The parts are uploaded; the manifest, last, fails.
    monkeypatch.setattr(BatchManifest, "to_json", lost_connection)
    with pytest.raises(ObjectStoreError, match=rf"batch output {root}/run=.*/_manifest.json: .*does not answer"):
        predict_batch(source, root, engine="embedded", store=store, chunk_rows=400, **common(registered))
    assert keys_under(store, root) == []


def test_local_paths_write_no_staging_and_record_a_sha256(registered: Registered, tmp_path: Path) -> None:
    manifest = predict_batch(
        registered.inputs / "scoring.parquet",
        tmp_path / "out",
        engine="embedded",
        staging_dir=tmp_path / "staging",
        **common(registered),
    )
    assert manifest.input_hash == content_hash(registered.inputs / "scoring.parquet")
    assert manifest.location == str(Path(manifest.output_dir) / "_manifest.json")
    assert Path(manifest.location).is_file()
    assert not (tmp_path / "staging").exists()


def test_the_cli_reads_and_writes_s3_with_the_environment_object_store(
    registered: Registered, s3: S3, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlops_cli.main import app

    store = s3.store()
    source = upload(store, registered.inputs / "scoring.parquet", f"s3://datasets/{prefix}/input.parquet")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    with (tmp_path / "config" / "environments" / "dev.yaml").open("a") as f:
        f.write(
            f"object_store:\n  endpoint_url: {s3.endpoint}\n"
            f"  access_key_id: {KEY_REFS['access_key_id']}\n"
            f"  secret_access_key: {KEY_REFS['secret_access_key']}\n"
        )
    monkeypatch.setenv(KEY_REFS["access_key_id"].removeprefix("env://"), s3.access_key)
    monkeypatch.setenv(KEY_REFS["secret_access_key"].removeprefix("env://"), s3.secret_key)
    (tmp_path / ".mlops").symlink_to(registered.state)
    monkeypatch.chdir(tmp_path)
    root = f"s3://artifacts/{prefix}/scores"
    args = ["batch", "predict", "--input", source, "--output", root, "--model", "credit_risk", "--env", "dev"]
    result = CliRunner().invoke(app, [*args, "--id-column", ID, "--keep-last", "1"])
    assert result.exit_code == 0, result.output
    (run,) = remote_run_folders(root, store)
    assert f"→ {run}" in result.output
    assert f"manifest: {run}/_manifest.json" in result.output
    manifest = read_remote_manifest(store, run)
    np.testing.assert_allclose(
        read_remote_run(store, manifest)["score"].to_numpy(), registered.expected().sort_index().to_numpy(), rtol=1e-12
    )
    missing = f"s3://datasets/{prefix}/gone.parquet"
    result = CliRunner().invoke(
        app, ["batch", "predict", "--input", missing, "--output", root, "--model", "credit_risk"]
    )
    assert isinstance(result.exception, ObjectStoreError)
    assert str(result.exception) == f"batch input {missing}: no such object"
