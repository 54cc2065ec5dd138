"""The test pyramid's markers (declared in pyproject's pytest markers), set at collection: a
plugin loaded through ``-p tests.markers`` in pyproject's addopts. ``make test-fast`` deselects
all three; ``make test`` runs everything.

- ``e2e``: a whole pipeline or the walkthrough notebook (marked in the test files).
- ``servers``: the test starts a real server: through a session fixture (:data:`SERVER_FIXTURES`,
  found in the fixtures a test uses, directly or through another fixture) or by itself
  (:data:`STARTS_SERVERS`).
- ``slow``: seconds per test without being either (:data:`SLOW`): many processes, whole-tool
  scans.

Tests named in :data:`RUNS_LAST` run after every other test of their pytest session: they take
down a deployment that session fixtures share, so a failure of theirs must not fail the tests
that use it after them.

Entries of :data:`STARTS_SERVERS`, :data:`SLOW` and :data:`RUNS_LAST` are paths from the repository root: a file
(every test in it), or one test's node id (with its parameters for one case). An entry that
names a file that no longer exists, or a test its file no longer defines, fails the
collection: a renamed test must not slip into ``make test-fast`` unnoticed.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Session fixtures that start a server (tests/conftest.py and the test modules).
SERVER_FIXTURES = {
    "openbao": "an OpenBao dev server",
    "vault_root": "an OpenBao dev server",
    "tls_openbao": "an OpenBao dev server with TLS (tests/infrastructure/test_vault_ca.py)",
    "redis_connection": "a Redis server",
    "spark": "a local Spark JVM",
    "backup_stack": "the local stack: SeaweedFS, PostgreSQL, Redis, OpenBao (tests/backup/conftest.py)",
    "trained_stack": "the local stack with the training pipeline run on it (tests/conftest.py)",
}
STARTS_SERVERS = {
    "tests/observability/test_triggers_launch.py": (
        "starts mlops run training and mlops monitor triggers with their runners and kfp.local steps"
    ),
    "tests/serving/test_online_server.py": "serves the app with uvicorn on a local port",
    "tests/performance/test_loadgen.py": "a tiny HTTP/1.1 server (asyncio, in a thread) on a local port per test",
    "tests/pipelines/test_schedules.py": "a fake KFP API on a local port, and `mlops pipelines sync-schedules` on it",
    "tests/serving/test_hardening_server.py": "starts the `mlops serve` process",
    "tests/observability/test_alerts_prometheus.py": "starts `mlops serve`, a file server and a Prometheus",
    "tests/model_registry/test_interrupted_runs.py": "starts pipeline runners and kfp.local step processes",
    "tests/feature_store/test_fs_redis.py": "starts a short-lived Redis of its own",
    "tests/feature_store/test_fs_postgres.py": "starts the local stack for its PostgreSQL offline store",
    "tests/privacy/test_retention_postgres.py": "starts the local stack's PostgreSQL for Feast's offline tables",
    "tests/privacy/test_consent_postgres.py": "starts the local stack for the consent store on its PostgreSQL",
    "tests/infrastructure/test_local_stack.py": "starts the local stack: SeaweedFS, PostgreSQL, Redis, OpenBao, MLflow",
    "tests/infrastructure/test_local_stack_pipeline.py": (
        "starts the local stack, then mlops run training and mlops serve on it"
    ),
    "tests/serving/test_batch_engines.py::test_declared_pii_never_reaches_the_score_files[spark-parquet]": "Spark",
    "tests/serving/test_batch_engines.py::test_the_step_records_what_it_scored_in_the_prediction_log[spark]": "Spark",
    "tests/serving/test_batch_engines.py::test_declared_pii_never_reaches_the_score_files[spark-csv]": "Spark",
    "tests/serving/test_batch_s3.py": "starts SeaweedFS (S3) alone on free ports for the module; one test uses Spark",
}
SLOW = {
    "tests/privacy/test_erasure_backups.py": "a restic repository: init, a backup, two tombstone snapshots, a restore",
    "tests/privacy/test_consent.py::test_two_imports_at_once_both_land_whole": (
        "two `mlops privacy consent import` processes of 20k records each on one SQLite store"
    ),
    "tests/privacy/test_consent_training.py::test_the_registered_version_s_lineage_records_the_exclusion": (
        "a registration in an MLflow store of its own, after the session's training steps"
    ),
    "tests/privacy/test_retention_backups.py": "three restic backups, then forget and prune, on a local repository",
    "tests/privacy/test_retention.py::test_the_versions_kept_are_those_an_alias_points_at_in_the_registry": (
        "two MLflow registrations and an alias"
    ),
    "tests/privacy/test_discovery.py::test_cli_scan_exits_3_naming_undeclared_pii": (
        "three `mlops privacy scan` processes, each importing Presidio and scanning"
    ),
    "tests/privacy/test_discovery.py::test_undeclared_pii_is_named_with_a_pii_block_that_validates": (
        "five scans of the sample through Presidio"
    ),
    "tests/infrastructure/test_local_stack_pipeline.py": "the whole training pipeline against the local stack",
    "tests/observability/test_triggers_act.py::test_two_processes_at_once_start_one_run": (
        "two trigger processes racing for one launch"
    ),
    "tests/observability/test_triggers_cli.py::test_the_real_inputs_drive_every_trigger": (
        "an MLflow registration and an Evidently comparison"
    ),
    "tests/model_registry/test_registry_concurrency.py": "registrations from many processes at once",
    "tests/model_registry/test_registry.py": "registrations that build on each other, one per kind of change",
    "tests/training/test_training_any_data.py::test_imputing_families_round_trip_through_the_registry": (
        "a fit and a registration per model family"
    ),
    "tests/serving/test_batch_engines.py": "models registered in MLflow, scored in chunks, partitions, runs",
    "tests/serving/test_ab_serving.py": "two registered models behind the app, with the feature store",
    "tests/serving/test_openapi_fuzz.py": "generated requests against every operation",
    "tests/infrastructure/test_validate_infra.py::test_checkov_fails_on_each_target_and_on_unjustified_skips": (
        "checkov scans"
    ),
    "tests/infrastructure/test_validate_infra.py::test_checkov_says_when_it_silently_skipped_a_workflow": (
        "checkov scans"
    ),
}

RUNS_LAST = {
    "tests/backup/test_drill.py::test_mlops_dr_drill_restores_the_reference_deployment_identically": (
        "destroys the shared trained stack and rebuilds it from a backup"
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker (make test-fast)
        # pyspark, imported by Great Expectations, exits at import in a process whose __main__ has
        # neither a spec nor a file (it takes that for a doctest run); execnet's workers are such.
        # A spec named __main__ satisfies it and leaves multiprocessing's children as they are
        # (they re-import no main module for that name).
        main = sys.modules["__main__"]
        if main.__spec__ is None and not hasattr(main, "__file__"):
            main.__spec__ = ModuleSpec("__main__", None)


def _listed(nodeid: str, entries: dict[str, str]) -> bool:
    """Whether the test ``nodeid`` is one an entry names (its file, or it by its id)."""
    path, _, _ = nodeid.partition("::")
    return path in entries or nodeid in entries or nodeid.partition("[")[0] in entries


def _check_entries(items: list[pytest.Item]) -> None:
    """Every entry names an existing file and, when that file was collected, a test it defines."""
    modules = {item.nodeid.partition("::")[0]: item.module for item in items if isinstance(item, pytest.Function)}
    for entry in (*STARTS_SERVERS, *SLOW, *RUNS_LAST):
        path, _, test = entry.partition("::")
        if not (ROOT / path).is_file():
            raise pytest.UsageError(f"tests/markers.py names {path}, which does not exist: update the entry")
        name = test.partition("::")[0].partition("[")[0]
        if name and path in modules and not hasattr(modules[path], name):
            raise pytest.UsageError(f"tests/markers.py names {entry}, which {path} does not define: update the entry")


def _worker_group(item: pytest.Item) -> str:
    """Which tests run on one worker under pytest-xdist's ``--dist loadgroup`` (``make test-fast``):
    the in-process step tests together, so the fixture chain of :mod:`tests.steps` runs once, and
    every other file whole, so its module fixtures run once."""
    return "steps" if "sample_run" in getattr(item, "fixturenames", ()) else item.nodeid.partition("::")[0]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker and xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _check_entries(items)
    grouped = getattr(config.option, "loadgroup", False)  # set on the workers of --dist loadgroup
    for item in items:
        if set(SERVER_FIXTURES) & set(getattr(item, "fixturenames", ())) or _listed(item.nodeid, STARTS_SERVERS):
            item.add_marker(pytest.mark.servers)
        if _listed(item.nodeid, SLOW):
            item.add_marker(pytest.mark.slow)
        if grouped:
            item.add_marker(pytest.mark.xdist_group(_worker_group(item)))
    items.sort(key=lambda item: _listed(item.nodeid, RUNS_LAST))  # stable: the rest keep their order
