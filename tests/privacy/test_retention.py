"""Retention: each store loses what is past its period and keeps the rest; runs in progress and
runs of aliased versions stay; a dry run changes nothing; bad policies name file, key, expected."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops.config import load_model
from mlops.errors import ConfigError
from mlops.state import process_identity
from privacy.retention import OfflineTable, RetentionConfig, RetentionContext, apply_retention, records_dir
from serving.shadow.store import ComparisonStore, ShadowPair

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)
RECENT = NOW - timedelta(days=2)


def _age(path: Path, when: datetime) -> None:
    """Set the modification time of ``path`` and everything under it."""
    stamp = when.timestamp()
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (stamp, stamp))


def _parquet(path: Path, rows: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"applicant_id": [f"a{i}" for i in range(rows)], "x": list(range(rows))}), path)


def _run(
    state: Path,
    run_id: str,
    ended: datetime,
    *,
    running: bool = False,
    registered: tuple[str, str] | None = None,
) -> tuple[Path, Path]:
    """A run folder with its kfp.local artifacts (dataset copies, quarantine) as the runner leaves them."""
    run_dir = state / "runs" / run_id
    artifacts = state / "pipeline_root" / f"training-{run_id}"
    (run_dir / "steps").mkdir(parents=True)
    if running:
        runner = {"status": "running", **process_identity()}  # this test's process: alive
        meta = {"run_id": run_id, "started": ended.timestamp(), "runner": runner}
    else:
        runner = {"status": "finished", "pid": 1, "ended": ended.timestamp()}
        meta = {"run_id": run_id, "started": ended.timestamp() - 60, "finished": ended.timestamp(), "exit_code": 0}
        meta["runner"] = runner
    (run_dir / "run.json").write_text(json.dumps(meta))
    (run_dir / "pipeline.log").write_text(f'"uri": "{artifacts}/ingest/dataset",\n')
    if registered:
        figures = {"model": registered[0], "version": registered[1]}
        (run_dir / "steps" / "register.json").write_text(json.dumps({"name": "register", "figures": figures}))
    _parquet(run_dir / "reports" / "quarantine.parquet")
    for rel in ("ingest/dataset", "validate-data/clean", "validate-data/quarantine", "train/model"):
        _parquet(artifacts / rel)
    _age(run_dir, ended)
    _age(artifacts, ended)
    return run_dir, artifacts


def _config(*policies: dict[str, object]) -> RetentionConfig:
    return RetentionConfig.model_validate({"policies": list(policies)})


def _context(state: Path, aliased: set[tuple[str, str]] | None = None, **kw: object) -> RetentionContext:
    return RetentionContext(state_dir=state, aliased_versions=lambda: set(aliased or ()), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- config
def test_the_shipped_policies_load_and_config_validate_checks_them() -> None:
    from mlops_cli.config_files import CONFIG_FILES, validate_config_dir

    assert CONFIG_FILES["retention.yaml"] is RetentionConfig
    assert "retention.yaml" in validate_config_dir(ROOT / "config")
    config = load_model(ROOT / "config" / "retention.yaml", RetentionConfig)
    assert {str(getattr(p, "type", "")) for p in config.policies} == {
        "raw_datasets",
        "quarantine",
        "run_folders",
        "prediction_logs",
        "shadow_logs",
        "batch_outputs",
        "feast_offline",
        "backups",
    }


@pytest.mark.parametrize(
    ("yaml", "key", "expected"),
    [
        ("policies:\n  - type: run_folders\n    days: thirty\n", "policies.0.run_folders.days", "valid integer"),
        ("policies:\n  - type: run_folders\n", "policies.0.run_folders.days", "this key is required"),
        (
            "policies:\n  - type: run_folders\n    days: 0\n",
            "policies.0.run_folders.days",
            "greater than or equal to 1",
        ),
        ("policies:\n  - type: logs\n    days: 3\n", "policies.0", "'raw_datasets', 'quarantine'"),
        ("policies:\n  - type: shadow_logs\n    days: 3\n    keep: 2\n", "policies.0.shadow_logs.keep", "no such key"),
        (
            "policies:\n  - {type: backups, days: 3}\n  - {type: backups, days: 9}\n",
            "policies",
            "'backups' is given twice",
        ),
    ],
)
def test_a_bad_policy_names_file_key_and_expected(tmp_path: Path, yaml: str, key: str, expected: str) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError) as caught:
        load_model(path, RetentionConfig)
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert expected in caught.value.expected


# --------------------------------------------------------------------------- state folder
def test_run_folders_go_but_not_running_nor_aliased_ones(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old_run, old_artifacts = _run(state, "old", OLD)
    live_run, live_artifacts = _run(state, "live", OLD, running=True)
    champion_run, champion_artifacts = _run(state, "champion", OLD, registered=("credit_risk", "1.0.0"))
    retired_run, _ = _run(state, "retired", OLD, registered=("credit_risk", "0.9.0"))
    new_run, new_artifacts = _run(state, "new", RECENT)
    orphan = state / "pipeline_root" / "training-orphan"
    _parquet(orphan / "ingest" / "dataset")
    _age(orphan, OLD)
    config = _config({"type": "run_folders", "days": 30})

    record = apply_retention(config, _context(state, {("credit_risk", "1.0.0")}), now=NOW)

    (runs,) = record.stores
    assert sorted(i.location for i in runs.items) == ["pipeline_root/training-orphan", "runs/old", "runs/retired"]
    assert runs.bytes > 0
    assert not old_run.exists()
    assert not old_artifacts.exists()
    assert not retired_run.exists()
    assert not orphan.exists()
    for kept in (live_run, live_artifacts, champion_run, champion_artifacts, new_run, new_artifacts):
        assert kept.exists(), kept
    assert any("runs/live: the run is in progress" in k for k in runs.kept)
    assert any("runs/champion: registered credit_risk 1.0.0" in k for k in runs.kept)
    written = json.loads(Path(record.record).read_text())
    assert Path(record.record).parent == records_dir(state)
    assert written["stores"][0]["items"] == 3
    assert written["stores"][0]["bytes"] == runs.bytes


def test_dataset_copies_and_quarantine_go_before_the_run_and_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_dir, artifacts = _run(state, "old", OLD)
    live_dir, live_artifacts = _run(state, "live", OLD, running=True)
    config = _config(
        {"type": "raw_datasets", "days": 30},
        {"type": "quarantine", "days": 30},
        {"type": "run_folders", "days": 365},
    )
    before = sorted(p for p in state.rglob("*"))

    dry = apply_retention(config, _context(state), dry_run=True, now=NOW)

    assert sorted(p for p in state.rglob("*")) == before
    assert not records_dir(state).exists()
    raw, quarantine, runs = dry.stores
    assert sorted(i.location for i in raw.items) == [
        "pipeline_root/training-old/ingest/dataset",
        "pipeline_root/training-old/validate-data/clean",
    ]
    assert sorted(i.location for i in quarantine.items) == [
        "pipeline_root/training-old/validate-data/quarantine",
        "runs/old/reports/quarantine.parquet",
    ]
    assert not runs.items

    done = apply_retention(config, _context(state), now=NOW)

    assert [len(s.items) for s in done.stores] == [len(s.items) for s in dry.stores]
    assert not (artifacts / "ingest" / "dataset").exists()
    assert not (run_dir / "reports" / "quarantine.parquet").exists()
    assert (artifacts / "train" / "model").exists(), "the model is not a dataset copy"
    assert run_dir.exists()
    assert (live_artifacts / "ingest" / "dataset").exists()
    assert (live_dir / "reports" / "quarantine.parquet").exists()


def test_prediction_log_hours_batch_runs_and_shadow_rows_past_the_period_go(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = state / "predictions" / "model=credit_risk"
    for day, hour in ((OLD, 3), (OLD, 4), (RECENT, 5)):
        _parquet(log / f"date={day:%Y-%m-%d}" / f"hour={hour:02d}" / "part-1.parquet")
    batch = tmp_path / "scores"
    for name, finished in (("old", OLD), ("new", RECENT)):
        folder = batch / f"run={name}"
        _parquet(folder / "part-0.parquet")
        (folder / "_manifest.json").write_text(json.dumps({"finished": finished.isoformat()}))
    shadow = ComparisonStore(state / "shadow" / "credit_risk.sqlite")
    pairs = [
        ShadowPair(f"r{i}", ts.timestamp(), f"a{i}", {}, "1.0.0", "1.1.0", 0.1, 0.2, 1.0, 1.0, None)
        for i, ts in enumerate([OLD, OLD, OLD, RECENT])
    ]
    shadow.append(pairs)
    config = _config(
        {"type": "prediction_logs", "days": 30},
        {"type": "batch_outputs", "days": 30},
        {"type": "shadow_logs", "days": 30},
    )

    record = apply_retention(config, _context(state, batch_output_roots=[str(batch)]), now=NOW)

    predictions, outputs, shadow_logs = record.stores
    assert len(predictions.items) == 2
    assert predictions.bytes > 0
    assert not (log / f"date={OLD:%Y-%m-%d}").exists(), "the emptied date folder goes too"
    assert (log / f"date={RECENT:%Y-%m-%d}" / "hour=05" / "part-1.parquet").exists()
    assert [i.location for i in outputs.items] == [f"{batch}/run=old"]
    assert not (batch / "run=old").exists()
    assert (batch / "run=new").exists()
    assert shadow_logs.rows == 3
    assert shadow.read()["request_id"].tolist() == ["r3"]


def test_feast_offline_rows_older_than_the_period_are_cut_by_event_time(tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = state / "feast" / "offline" / "credit_risk_features.parquet"
    source.parent.mkdir(parents=True)
    stamps = pd.to_datetime([OLD, OLD, RECENT], utc=True)
    pd.DataFrame({"applicant_id": ["a", "b", "c"], "application_ts": stamps, "income": [1.0, 2.0, 3.0]}).to_parquet(
        source
    )
    table = OfflineTable("credit_risk_features", "parquet", str(source), "application_ts")
    config = _config({"type": "feast_offline", "days": 30})

    record = apply_retention(config, _context(state, offline_tables=lambda: [table]), now=NOW)

    assert record.stores[0].rows == 2
    assert pd.read_parquet(source)["applicant_id"].tolist() == ["c"]
    assert not list(source.parent.glob(".*.tmp")), "the rewrite left no temporary file"


def test_the_cli_prints_each_store_and_a_bad_file_is_one_line(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    state = tmp_path / "state"
    (config_dir / "environments" / "dev.yaml").write_text(f"state_dir: {state}\n")
    _run(state, "old", datetime.now(UTC) - timedelta(days=400))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}

    def mlops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mlops_cli",
                "privacy",
                "retention",
                "apply",
                "--config-dir",
                str(config_dir),
                *args,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )

    dry = mlops("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "retention on dev (dry run: nothing changed)" in dry.stdout
    assert "raw_datasets (30 d" in dry.stdout
    assert "would delete 2 item(s)" in dry.stdout
    assert "run_folders (180 d" in dry.stdout
    assert "- runs/old" in dry.stdout
    assert "backups (200 d): skipped: no backup repository in this environment" in dry.stdout
    assert (state / "runs" / "old").exists()

    done = mlops()
    assert done.returncode == 0, done.stderr
    assert "run_folders (180 d" in done.stdout
    assert "deleted 1 item(s)" in done.stdout
    assert not (state / "runs" / "old").exists()
    assert len(list(records_dir(state).glob("*.json"))) == 1

    (config_dir / "retention.yaml").write_text("policies:\n  - type: run_folders\n    days: -1\n")
    bad = mlops()
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith(f"error: {config_dir / 'retention.yaml'}: policies.0.run_folders.days:")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_versions_kept_are_those_an_alias_points_at_in_the_registry(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlops_cli.privacy_retention import build_context
    from platform_config import PlatformConfig

    platform = PlatformConfig(state_dir=tmp_path / "state")
    registry = platform.open_registry()
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((40, 2)), rng.integers(0, 2, 40))
    for fingerprint in ("data1", "data2"):
        registry.register(
            "credit_risk",
            model,
            serving_schema={"income": "number"},
            schema_hash="s",
            training_fingerprint=fingerprint,
            params={},
            metrics={},
            gates={"evaluation": True},
            lineage={},
        )
    registry.set_alias("credit_risk", "1.0.0", "champion")
    old_run, _ = _run(platform.state_dir, "old", OLD, registered=("credit_risk", "1.1.0"))
    champion_run, _ = _run(platform.state_dir, "champion", OLD, registered=("credit_risk", "1.0.0"))
    context = build_context(platform, "dev", ROOT / "config", None, None)

    apply_retention(_config({"type": "run_folders", "days": 30}), context, now=NOW)

    assert not old_run.exists()
    assert champion_run.exists()
