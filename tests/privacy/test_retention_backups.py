"""The backups policy on a real restic repository (a local folder): old backups go, but a policy
that would delete one the newest restore point needs is refused and nothing anywhere is deleted."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backup import Repository, create_backup, dev_environment, list_backups, load_strategies
from mlops.errors import PrivacyError
from privacy.retention import BackupAccess, RetentionConfig, RetentionContext, apply_retention
from tests.privacy.test_retention import OLD, _run


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Three backups a second or more apart: config; config + prediction-logs; config."""
    root = tmp_path_factory.mktemp("retention-backups")
    config = root / "config"
    config.mkdir()
    (config / "platform.yaml").write_text("state_dir: .mlops\n")
    state = root / "state"
    (state / "predictions").mkdir(parents=True)
    (state / "predictions" / "part.parquet").write_bytes(b"PAR1")
    env = dev_environment(state, config)
    repo = _repository(root)
    ids = []
    for targets in (["config"], ["config", "prediction-logs"], ["config"]):
        ids.append(create_backup(env, repo, root / "work", targets=targets).backup_id)
        time.sleep(1.1)
    return root, ids


def _repository(root: Path) -> Repository:
    return Repository(str(root / "restic"), root / "backup-key", cache_dir=root / "cache")


def _between(repo: Repository, older: str, newer: str) -> datetime:
    times = {b.backup_id: _time(b.time) for b in list_backups(repo)}
    return times[older] + (times[newer] - times[older]) / 2


def _context(root: Path, state: Path) -> RetentionContext:
    access = BackupAccess(_repository(root), list(load_strategies().values()))
    return RetentionContext(state_dir=state, aliased_versions=set, backups=lambda: access)


CONFIG = RetentionConfig.model_validate(
    {"policies": [{"type": "run_folders", "days": 30}, {"type": "backups", "days": 1}]}
)


@pytest.mark.parametrize(
    ("cut_after", "needed"),
    [
        # Dropping the first two deletes the newest backup of prediction-logs.
        (1, "(the newest of target prediction-logs; dropped by older than 1 days)"),
        # Dropping all three deletes the newest backup.
        (2, "(the newest backup, the newest of target config; dropped by older than 1 days)"),
    ],
)
def test_a_policy_deleting_what_the_newest_restore_point_needs_is_refused(
    backups: tuple[Path, list[str]], tmp_path: Path, cut_after: int, needed: str
) -> None:
    root, ids = backups
    state = tmp_path / "state"
    run_dir, _ = _run(state, "old", OLD)
    repo = _repository(root)
    if cut_after + 1 < len(ids):
        cutoff = _between(repo, ids[cut_after], ids[cut_after + 1])
    else:
        cutoff = _time(list_backups(repo)[-1].time) + timedelta(seconds=1)

    with pytest.raises(PrivacyError) as refused:
        apply_retention(CONFIG, _context(root, state), now=cutoff + timedelta(days=1))

    message = str(refused.value)
    assert message.startswith("backups: refused, nothing deleted: the policy (days: 1) would delete backup(s)")
    assert f"{ids[cut_after]} {needed}" in message
    assert [b.backup_id for b in list_backups(repo)] == ids, "no backup was forgotten"
    assert run_dir.exists(), "no other store deleted anything either"
    assert not (state / "privacy" / "retention").exists()


def test_backups_older_than_the_period_are_forgotten_and_pruned(
    backups: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = backups
    repo = _repository(root)
    now = _between(repo, ids[0], ids[1]) + timedelta(days=1)
    state = tmp_path / "state"

    dry = apply_retention(CONFIG, _context(root, state), dry_run=True, now=now)
    assert [b.backup_id for b in list_backups(repo)] == ids

    record = apply_retention(CONFIG, _context(root, state), now=now)

    (planned,) = [s for s in dry.stores if s.store == "backups"]
    (done,) = [s for s in record.stores if s.store == "backups"]
    assert [i.location for i in done.items] == [i.location for i in planned.items]
    assert len(done.items) == 1
    assert done.items[0].location.startswith(f"backup {ids[0]} (")
    assert done.bytes > 0
    assert [b.backup_id for b in list_backups(repo)] == ids[1:]
