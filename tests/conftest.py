"""Session fixtures shared by every room's tests: the real servers the tests start (OpenBao from
tests/servers.py, Redis from performance.servers, the trained local stack from
tests/local_stack.py) and the bundled sample's feature schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

import feature_store  # noqa: F401  (before any test imports Feast: unchecked, as the platform runs it)
from performance.servers import redis_server
from tests.local_stack import TrainedStack, trained_stack_in
from tests.servers import OpenBao, openbao_dev_server

if TYPE_CHECKING:
    from training.modeling import FeatureSchema

# As `mlops` and the platform image run everything (mlops_cli.main): tests that fit models in
# this process beside the other test lane would otherwise stall in OpenMP spin-waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A real OpenBao dev server for the session: ``.address`` and ``.root_token``."""
    with openbao_dev_server(tmp_path_factory.mktemp("openbao")) as server:
        yield server


@pytest.fixture(scope="session")
def vault_root(openbao: OpenBao) -> Any:
    """An hvac client holding the dev server's root token (test set-up only)."""
    import hvac

    return hvac.Client(url=openbao.address, token=openbao.root_token, timeout=5)


@pytest.fixture(scope="session")
def redis_connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the session (Feast's online store in staging/prod): ``host:port``."""
    with redis_server(tmp_path_factory.mktemp("redis")) as connection:
        yield connection


@pytest.fixture(scope="session")
def sample_schema() -> FeatureSchema:
    """The bundled credit-risk sample's features (numeric, categorical), from its one definition."""
    from training.sample_data import sample_feature_schema  # pandas: imported only by tests that use it

    return sample_feature_schema()


@pytest.fixture(scope="session")
def trained_stack() -> Iterator[TrainedStack]:
    """The local reference deployment with the training pipeline run on it once (its outcome in
    ``.training``): shared by the local-stack pipeline, playbook and drill tests."""
    with trained_stack_in("trained-stack-") as stack:
        yield stack
