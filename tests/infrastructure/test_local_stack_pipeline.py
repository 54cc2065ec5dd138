"""`mlops run training --env local-stack` and `mlops serve --env local-stack` on a real stack.

The session's trained stack (tests/local_stack.py: SeaweedFS, PostgreSQL, Redis, OpenBao,
MLflow on free ports, a config folder generated for them) ran the training pipeline through the CLI (dataset
generated into and read from the `datasets` bucket), the registered version as a row of MLflow's
PostgreSQL database with its artifacts as objects in the `artifacts` bucket, Feast's SQL
registry rows and Redis online keys, and `mlops serve` answering by features and by entity id.
The object-store errors (missing object or bucket, wrong keys, store down) are checked against
the same stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from infrastructure.local_stack import SERVERS, load_record
from infrastructure.local_stack._state import Layout
from mlops.config import DatasetConfig
from mlops.errors import DatasetError, ObjectStoreError
from mlops.object_store import ObjectStore, ObjectStoreConfig
from tests.infrastructure.validator import ROOT
from tests.local_stack import MLOPS, TrainedStack

DATASET_URI = "s3://datasets/credit_risk/credit_risk_sample.parquet"
# The sample's columns that are not model inputs: target, PII, event time, sensitive attributes.
NOT_FEATURES = {"defaulted", "full_name", "email", "phone", "national_id", "note", "application_ts", "sex", "age_band"}


@pytest.fixture(scope="module")
def state(trained_stack: TrainedStack) -> Path:
    return trained_stack.state


@pytest.fixture(scope="module")
def servers(state: Path) -> dict[str, Any]:
    layout = Layout(state)
    record = load_record(layout)
    assert record is not None
    return {name: cls(layout, record.servers[name], record.credentials) for name, cls in SERVERS.items()}


@pytest.fixture(scope="module")
def config_dir(trained_stack: TrainedStack) -> Path:
    return trained_stack.config_dir


@pytest.fixture(scope="module")
def trained(trained_stack: TrainedStack) -> subprocess.CompletedProcess[str]:
    return trained_stack.training


def _store(servers: dict[str, Any], **change: Any) -> ObjectStore:
    """The stack's object store with its real keys (or ``change``d settings)."""
    creds = servers["s3"].credentials
    keys = {"env://K": creds.s3_access_key, "env://S": creds.s3_secret_key}
    config = ObjectStoreConfig(
        endpoint_url=servers["s3"].record.endpoint,
        access_key_id="env://K",
        secret_access_key="env://S",  # pragma: allowlist secret
        max_attempts=1,
    ).model_copy(update=change)
    return ObjectStore(config, lambda ref: keys.get(ref, "wrong-key"))


def _dataset(path: str) -> DatasetConfig:
    return DatasetConfig(name="credit_risk", path=path, target="defaulted")


def test_training_runs_on_the_stack(trained: subprocess.CompletedProcess[str]) -> None:
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]


def test_the_dataset_was_generated_into_the_bucket(trained: Any, servers: dict[str, Any]) -> None:
    from pyarrow import fs

    info = servers["s3"].client().get_file_info("datasets/credit_risk/credit_risk_sample.parquet")
    assert info.type == fs.FileType.File
    assert info.size > 100_000


def test_the_version_is_in_mlflows_postgres_and_its_artifacts_in_the_bucket(
    trained: Any, servers: dict[str, Any]
) -> None:
    from pyarrow import fs

    pg = servers["postgres"]
    with pg.connect("mlflow") as conn:
        versions = conn.execute("SELECT name, version, source FROM model_versions").fetchall()
        run_ids = [r[0] for r in conn.execute("SELECT run_uuid FROM runs").fetchall()]
    assert [(name, version) for name, version, _ in versions] == [("credit_risk", 1)]
    objects = servers["s3"].client().get_file_info(fs.FileSelector("artifacts/mlflow", recursive=True))
    keys = [o.path for o in objects if o.type == fs.FileType.File]
    assert any(k.endswith("MLmodel") for k in keys), keys[:20]
    assert any(run_id in key for run_id in run_ids for key in keys)
    assert any(k.endswith("lineage.json") for k in keys)


def test_feast_registry_rows_are_in_postgres_and_online_keys_in_redis(trained: Any, servers: dict[str, Any]) -> None:
    with servers["postgres"].connect("feast") as conn:
        views = conn.execute("SELECT feature_view_name FROM feature_views").fetchall()
        entities = conn.execute("SELECT entity_name FROM entities").fetchall()
    assert any(name.startswith("credit_risk_features") for (name,) in views), views
    assert entities
    with servers["redis"].client() as client:
        assert client.dbsize() > 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_serve_answers_by_features_and_by_entity_id(
    trained: Any, servers: dict[str, Any], config_dir: Path, state: Path, trained_stack: TrainedStack
) -> None:
    import pyarrow.parquet as pq

    frame = pq.read_table("datasets/credit_risk/credit_risk_sample.parquet", filesystem=servers["s3"].client())
    data = frame.to_pandas().sort_values("application_ts")
    latest = data.iloc[-1]
    # A run promotes its version to challenger; serving answers with the champion.
    promoted = trained_stack.promotion
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    port = _free_port()
    log = (state / "serve.log").open("w")
    proc = subprocess.Popen(
        [*MLOPS, "serve", "--env", "local-stack", "--config-dir", str(config_dir), "--port", str(port), "--no-shadow"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=2):
                break
            assert proc.poll() is None, (state / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlops serve did not answer within 120 s"
            time.sleep(0.5)
        status, by_id = _post(f"{url}/predict", {"entity_id": latest["applicant_id"]})
        assert status == 200, by_id
        assert 0.0 <= by_id["score"] <= 1.0
        features = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in latest.items()
            if k
            not in {
                "defaulted",
                "full_name",
                "email",
                "phone",
                "national_id",
                "note",
                "application_ts",
                "sex",
                "age_band",
            }
        }
        features["entity_id"] = features.pop("applicant_id")
        status, by_features = _post(f"{url}/predict", features)
        assert status == 200, by_features
        assert by_features["score"] == pytest.approx(by_id["score"], abs=1e-9)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_a_missing_object_or_bucket_is_named(servers: dict[str, Any]) -> None:
    from training.datasets import read_dataset

    store = _store(servers)
    for uri in ("s3://datasets/no/such.parquet", "s3://no-such-bucket/x.parquet"):
        with pytest.raises(DatasetError, match=f"object {uri} does not exist"):
            read_dataset(_dataset(uri), store)


def test_wrong_keys_and_a_down_store_fail_fast_naming_the_uri(servers: dict[str, Any]) -> None:
    from training.datasets import read_dataset

    wrong = _store(servers, secret_access_key="env://WRONG")
    start = time.monotonic()
    with pytest.raises(ObjectStoreError, match=f"{DATASET_URI}: access denied"):
        read_dataset(_dataset(DATASET_URI), wrong)
    down_store = _store(servers, endpoint_url=f"http://127.0.0.1:{_free_port()}", connect_timeout_s=1.0)
    with pytest.raises(ObjectStoreError, match=f"{DATASET_URI}: the object store at .* does not answer"):
        read_dataset(_dataset(DATASET_URI), down_store)
    assert time.monotonic() - start < 10
