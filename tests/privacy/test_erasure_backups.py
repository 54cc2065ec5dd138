"""Backups and erasure: the repository keeps a keyed digest per erased subject (never the id),
and a restore erases those subjects again — or is refused when it has no way to."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from backup import Repository, create_backup, dev_environment, restore_backup
from backup.environment import BackupEnvironment
from backup.tombstones import add_tombstones, read_tombstones
from mlops.errors import RestoreRefusedError
from privacy.erasure import ErasureScope, apply_tombstones


@pytest.fixture
def dev(tmp_path: Path) -> tuple[BackupEnvironment, Repository, Path]:
    state = tmp_path / "state"
    offline = state / "feast" / "offline"
    offline.mkdir(parents=True)
    pd.DataFrame({"applicant_id": ["APP-1", "APP-2", "APP-3"], "income": [1.0, 2.0, 3.0]}).to_parquet(
        offline / "view.parquet", index=False
    )
    repo = Repository(str(tmp_path / "restic"), tmp_path / "key", cache_dir=tmp_path / "cache")
    repo.ensure(create=True)
    return dev_environment(state, None), repo, state


def test_tombstones_hold_digests_and_every_restore_applies_them(
    dev: tuple[BackupEnvironment, Repository, Path],
) -> None:
    env, repo, state = dev
    manifest = create_backup(env, repo, state / "work", targets=["feast-offline"])
    assert add_tombstones(repo, ["APP-2"]) == 1
    assert add_tombstones(repo, ["APP-2"]) == 1  # a second erasure of the same subject
    digests = read_tombstones(repo)
    assert len(digests) == 1
    assert "APP-2" not in next(iter(digests))

    with pytest.raises(RestoreRefusedError, match="erasure tombstone"):
        restore_backup(repo, env, state / "work", manifest.backup_id, force=True)

    scope = ErasureScope(
        state_dir=state, trees={"feast-offline": [env.feast_offline]}, id_columns=frozenset({"applicant_id"})
    )  # type: ignore[list-item]

    def applier(_env: BackupEnvironment, found: frozenset[str], key: bytes) -> dict[str, int]:
        return {n: r.rows for n, r in apply_tombstones(scope, found, key).stores.items()}

    report = restore_backup(repo, env, state / "work", manifest.backup_id, force=True, apply_tombstones=applier)
    assert report.tombstones == 1
    assert report.erased == {"feast-offline": 1}
    restored = pd.read_parquet(state / "feast" / "offline" / "view.parquet")
    assert sorted(restored["applicant_id"]) == ["APP-1", "APP-3"]


def test_consent_records_round_trip_and_a_restore_erases_the_subjects_erased_since(
    dev: tuple[BackupEnvironment, Repository, Path],
) -> None:
    """The consent-db target backs up dev's SQLite consent store; after the disk is lost, the
    restore brings every record back except those of a subject erased after the backup."""
    from datetime import UTC, datetime

    from privacy.config import ConsentConfig
    from privacy.consent import ConsentRecord, ConsentStore

    env, repo, state = dev
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    records = [
        ConsentRecord("APP-1", "training", "withdrawn", at, "web form"),
        ConsentRecord("APP-2", "training", "granted", at, "web form"),
        ConsentRecord("APP-2", "monitoring", "withdrawn", at, "import"),
        ConsentRecord("APP-3", "training", "granted", at, "web form"),
    ]
    with ConsentStore.open(ConsentConfig(), state, lambda ref: ref) as store:
        assert store.add(records).added == 4
    manifest = create_backup(env, repo, state / "work", targets=["consent-db"])
    (target,) = manifest.targets
    assert (target.name, target.status) == ("consent-db", "complete")
    assert [f.path for f in target.files] == ["consent-db/consent.db"]
    assert add_tombstones(repo, ["APP-2"]) == 1

    (state / "privacy" / "consent.db").unlink()  # the disk is lost
    for leftover in (state / "privacy").glob("consent.db-*"):  # and SQLite's -wal/-shm with it
        leftover.unlink()

    def applier(_env: BackupEnvironment, found: frozenset[str], key: bytes) -> dict[str, int]:
        # As the CLI does: the stores are opened once the restore has put them back.
        with ConsentStore.open(ConsentConfig(), state, lambda ref: ref) as store:
            scope = ErasureScope(state_dir=state, trees={}, id_columns=frozenset({"applicant_id"}), consent=store)
            return {n: r.rows for n, r in apply_tombstones(scope, found, key).stores.items()}

    report = restore_backup(
        repo, env, state / "work", manifest.backup_id, targets=["consent-db"], force=True, apply_tombstones=applier
    )
    assert report.erased == {"consent-records": 2}
    with ConsentStore.open(ConsentConfig(), state, lambda ref: ref) as store:
        assert store.subjects() == {"APP-1", "APP-3"}
        assert [(r.purpose, r.status) for r in store.history("APP-1")] == [("training", "withdrawn")]


def test_dev_backs_up_the_consent_store_the_platform_config_names(tmp_path: Path) -> None:
    """``privacy.consent.url`` decides what dev's consent-db target reads: a SQLite file where it
    points (restored there), and a server's database is skipped saying why, never "missing"."""
    from datetime import UTC, datetime

    from privacy.config import ConsentConfig
    from privacy.consent import ConsentRecord, ConsentStore

    state, elsewhere = tmp_path / "state", tmp_path / "records" / "consent.sqlite"
    elsewhere.parent.mkdir()
    config = ConsentConfig(url=f"sqlite:///{elsewhere}")
    record = ConsentRecord("APP-1", "training", "withdrawn", datetime(2026, 3, 1, tzinfo=UTC), "web form")
    with ConsentStore.open(config, state, lambda ref: ref) as store:
        assert store.add([record]).added == 1
    assert not (state / "privacy" / "consent.db").exists()
    repo = Repository(str(tmp_path / "restic"), tmp_path / "key", cache_dir=tmp_path / "cache")
    env = dev_environment(state, None, consent_url=config.url)
    manifest = create_backup(env, repo, state / "work", targets=["consent-db"])
    assert [(t.name, t.status) for t in manifest.targets] == [("consent-db", "complete")]

    elsewhere.unlink()
    restore_backup(repo, env, state / "work", manifest.backup_id, targets=["consent-db"], force=True)
    with ConsentStore.open(config, state, lambda ref: ref) as store:
        assert store.history("APP-1") == [record]

    server = dev_environment(state, None, consent_url="postgresql+psycopg://consent@db.internal:5432/consent")
    (skipped,) = create_backup(server, repo, state / "work", targets=["consent-db"]).targets
    assert (skipped.name, skipped.status) == ("consent-db", "skipped")
    assert skipped.detail.startswith("privacy.consent.url names a postgresql database: dev backs up SQLite files only")
