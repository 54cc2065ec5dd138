"""Session fixtures for real servers started by the tests (helpers in tests/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import OpenBao, openbao_dev_server, redis_server


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
