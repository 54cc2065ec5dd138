"""The consent store on the local stack's PostgreSQL, reached as the `local-stack` environment
reaches it: database and role `consent` made by `up`, the password from OpenBao
(``vault://secret/mlops/local-stack/consent#db_password``), the URL from the generated config.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infrastructure.local_stack import write_config_dir
from mlops.secrets import SecretResolver
from platform_config import PlatformConfig, load_platform_config
from privacy.consent import ConsentRecord, ConsentStore
from tests.local_stack import stack_folder


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformConfig]:
    with stack_folder("consent-pg-") as state:
        yield load_platform_config(write_config_dir(state, state / "config"), "local-stack")


def open_store(platform: PlatformConfig) -> ConsentStore:
    return ConsentStore.open(platform.privacy.consent, platform.state_dir, SecretResolver(platform.vault).resolve)


def test_records_round_trip_through_postgres_with_latest_winning(platform: PlatformConfig) -> None:
    t0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    records = [
        ConsentRecord("p-1", "training", "granted", t0, "web"),
        ConsentRecord("p-1", "training", "withdrawn", t0 + timedelta(days=30), "letter"),
        ConsentRecord("p-2", "monitoring", "granted", t0, "web"),
    ]
    with open_store(platform) as store:
        assert store.where.startswith("postgresql+psycopg://consent@127.0.0.1:")
        assert store.where.endswith("/consent")
        assert store.add(list(reversed(records))).added == 3
        assert store.add(records).added == 0
        assert store.current("p-1") == [records[1]]
        assert store.history("p-1") == records[:2]
        assert store.history("p-1")[0].time.tzinfo is not None
        assert store.statuses("training") == {"p-1": "withdrawn"}


def test_concurrent_imports_on_postgres_each_land_whole(platform: PlatformConfig) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    n = 5000
    batches = [
        [ConsentRecord(f"c{i}", "analytics", "granted", t0, "a") for i in range(n)],
        [ConsentRecord(f"c{i}", "analytics", "withdrawn", t0 + timedelta(hours=1), "b") for i in range(0, n, 2)],
    ]

    def load(batch: list[ConsentRecord]) -> int:
        with open_store(platform) as store:
            return store.add(batch).added

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(load, batches)) == [n, n // 2]
    with open_store(platform) as store:
        statuses = store.statuses("analytics")
    assert len(statuses) == n
    assert sum(1 for s in statuses.values() if s == "withdrawn") == n // 2


def test_the_consent_password_is_in_openbao_not_in_the_config(platform: PlatformConfig, tmp_path: Path) -> None:
    consent = platform.privacy.consent
    assert consent.password == "vault://secret/mlops/local-stack/consent#db_password"  # pragma: allowlist secret
    assert consent.url is not None
    assert ":" not in consent.url.partition("://")[2].partition("@")[0]
    # Without the password PostgreSQL refuses the role (SCRAM): the reference is what opens it.
    from mlops.errors import PrivacyError

    with pytest.raises(PrivacyError, match="cannot be reached"):
        ConsentStore.open(consent.model_copy(update={"password": None}), tmp_path, lambda ref: ref)
