"""The shipped strategies load with the fields the Helm chart's CronJobs read; a bad strategy file
fails naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup import TARGETS, load_strategies, load_strategy
from mlops.errors import ConfigError


def test_the_shipped_strategies() -> None:
    strategies = load_strategies()
    assert set(strategies) == {"nightly", "hourly"}
    nightly, hourly = strategies["nightly"], strategies["hourly"]
    assert nightly.schedule == "30 1 * * *"
    assert nightly.targets == list(TARGETS)
    assert nightly.retention.forget_flags() == ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]
    assert hourly.schedule == "15 * * * *"
    assert hourly.targets == ["mlflow-db", "consent-db", "feast-registry"]
    assert hourly.retention.forget_flags() == ["--keep-hourly", "24"]


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("schedule: '61 * * * *'", "schedule", "five-field cron"),
        ("schedule: '@daily'", "schedule", "five-field cron"),
        ("targets: [mlflow-db, mlflow]", "targets", "unknown target(s) mlflow; known: mlflow-db"),
        ("retention: {keep_daily: 0}", "retention.keep_daily", "greater than or equal to 1"),
        ("retention: {}", "retention", "at least one of keep_last"),
        ("retention: {keep_yearly: 2}", "retention.keep_yearly", "no such key"),
    ],
)
def test_a_bad_strategy_names_file_key_and_expectation(tmp_path: Path, body: str, key: str, expected: str) -> None:
    base = {
        "schedule": "schedule: '30 1 * * *'",
        "targets": "targets: [mlflow-db]",
        "retention": "retention: {keep_daily: 7}",
    }
    base[body.split(":", 1)[0]] = body
    path = tmp_path / "weekly.yaml"
    path.write_text("name: weekly\n" + "\n".join(base.values()) + "\n")
    with pytest.raises(ConfigError) as failure:
        load_strategy(path)
    assert failure.value.file == str(path)
    assert failure.value.key == key
    assert expected in failure.value.expected


def test_a_strategy_is_found_by_name_and_its_name_matches_its_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no strategy named 'weekly' \\(known: hourly, nightly\\)"):
        load_strategy("weekly")
    path = tmp_path / "weekly.yaml"
    path.write_text("name: daily\nschedule: '0 3 * * 0'\nretention: {keep_weekly: 4}\ntargets: [config]\n")
    with pytest.raises(ConfigError, match="name: the file's name, 'weekly'"):
        load_strategy(path)
