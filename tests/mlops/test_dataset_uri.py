"""Dataset configs whose ``path`` is an ``s3://`` URI, ``base:`` overlays, and the object-store API."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlops.config import DatasetConfig, load_dataset_config
from mlops.errors import ConfigError
from mlops.object_store import ObjectStore, ObjectStoreConfig, aws_environment, describe_error, split_uri
from tests.infrastructure.validator import ROOT

URI = "s3://datasets/credit_risk/sample.csv"


def test_a_uri_stays_a_uri_through_resolution_and_json() -> None:
    cfg = DatasetConfig(name="credit_risk", path=URI, target="y").resolved(Path("/somewhere"))
    assert cfg.path == URI
    assert cfg.remote
    assert cfg.file_format == "csv"
    assert cfg.file_name == "sample.csv"
    assert DatasetConfig.model_validate_json(cfg.model_dump_json()).path == URI
    local = DatasetConfig(name="credit_risk", path="data/x.parquet", target="y").resolved(Path("/base"))
    assert local.path == Path("/base/data/x.parquet")
    assert not local.remote


@pytest.mark.parametrize("bad", ["http://host/x.parquet", "s3://UPPER/x.parquet", "s3://bucket/"])
def test_a_bad_uri_names_the_key(tmp_path: Path, bad: str) -> None:
    (tmp_path / "d.yaml").write_text(f"name: credit_risk\ntarget: y\npath: {bad}\n")
    with pytest.raises(ConfigError, match=r"d\.yaml.*path.*s3://BUCKET/KEY"):
        load_dataset_config(tmp_path / "d.yaml")


def test_the_local_stack_dataset_is_the_sample_config_with_another_path() -> None:
    sample = load_dataset_config(ROOT / "config" / "datasets" / "credit_risk.yaml")
    overlay = load_dataset_config(ROOT / "config" / "datasets" / "credit_risk_s3.yaml")
    assert overlay.path == "s3://datasets/credit_risk/credit_risk_sample.parquet"
    assert overlay.model_dump(exclude={"path"}) == sample.model_dump(exclude={"path"})


def test_a_base_that_is_missing_or_loops_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    with pytest.raises(ConfigError, match=r"a\.yaml.*base.*b\.yaml does not exist"):
        load_dataset_config(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="nested bases"):
        load_dataset_config(tmp_path / "a.yaml")


def test_split_uri_and_the_child_environment() -> None:
    assert split_uri(URI) == ("datasets", "credit_risk/sample.csv")
    config = ObjectStoreConfig(
        endpoint_url="http://127.0.0.1:8333", access_key_id="env://K", secret_access_key="env://S", region="eu-west-1"
    )
    values = {"env://K": "AKID", "env://S": "secret-value"}  # pragma: allowlist secret
    assert aws_environment(config, values.__getitem__) == {
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "secret-value",  # pragma: allowlist secret
        "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    assert "AWS_ACCESS_KEY_ID" not in aws_environment(ObjectStoreConfig())
    with pytest.raises(ValueError, match="go together"):
        ObjectStoreConfig(access_key_id="env://K")
    with pytest.raises(ValueError, match="never a literal"):
        ObjectStoreConfig(access_key_id="AKID", secret_access_key="env://S")


def _free_port_containing_403() -> int:
    for port in range(40300, 40400):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("every port 40300-40399 is taken on this machine")


def test_a_store_that_does_not_answer_is_not_called_access_denied_whatever_its_port() -> None:
    """A connect failure names the endpoint; a port such as 40312 must not read as HTTP 403."""
    port = _free_port_containing_403()
    store = ObjectStore(
        ObjectStoreConfig(endpoint_url=f"http://127.0.0.1:{port}", connect_timeout_s=1.0, max_attempts=1)
    )
    with pytest.raises(OSError, match="NETWORK_CONNECTION") as raised:
        store.filesystem().get_file_info("datasets/x.parquet")
    assert str(port) in str(raised.value)
    assert str(store.error(URI, raised.value)) == f"{URI}: the object store at http://127.0.0.1:{port} does not answer"


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("AWS Error ACCESS_DENIED during HeadObject operation: No response body.", "access denied"),
        ("AWS Error UNKNOWN (HTTP status 403) during HeadObject operation: No response body.", "access denied"),
        (
            "AWS Error NETWORK_CONNECTION during GetObject operation: curlCode: 28, Timeout was reached",
            "does not answer",
        ),
        ("Path does not exist 'datasets/x.parquet'", "no such object"),
        (
            "AWS Error NO_SUCH_BUCKET during ListObjects operation: The specified bucket does not exist",
            "no such bucket",
        ),
    ],
)
def test_store_errors_are_named_by_what_went_wrong(message: str, why: str) -> None:
    assert why in str(describe_error(URI, OSError(message)))
