"""Concurrent registrations on one local SQLite registry (real MLflow, one process each).

Each helper process does what the register step of one ``mlops run training`` does: build a
``ModelRegistry`` on the shared state folder and call ``register`` once. The processes are
forked from a parent that has already registered once elsewhere, so they start with MLflow
imported and its first-use caches filled: the tests measure registration, not 20 cold
imports racing for two cores. All of them wait on a barrier and start at the same moment.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlops.errors import RegistryError
from model_registry.registry import ModelRegistry, VersionInfo
from model_registry.versioning import assign_versions

NAME = "loans"
SCHEMA = {"income": "number", "region": "string"}


def _model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    return LogisticRegression().fit(rng.random((50, 2)), rng.integers(0, 2, 50))


def _register(registry: ModelRegistry, name: str, fingerprint: str, *, passed: bool = True) -> VersionInfo:
    return registry.register(
        name,
        _model(),
        serving_schema=SCHEMA,
        schema_hash="schema-a",
        training_fingerprint=fingerprint,
        params={"C": 1.0},
        metrics={"roc_auc": 0.7},
        gates={"evaluation": passed},
        lineage={"fingerprint": fingerprint},
    )


def _register_once(registry_dir: str, fingerprint: str, barrier: Barrier, results: Any) -> None:
    try:
        registry = ModelRegistry.local(Path(registry_dir))
        barrier.wait(timeout=60)
        started = time.perf_counter()
        info = _register(registry, NAME, fingerprint)
        results.put(("ok", info.semver, info.mlflow_version, time.perf_counter() - started))
    except BaseException:
        results.put(("error", traceback.format_exc(), "", 0.0))


def _register_concurrently(registry_dir: Path, fingerprints: list[str]) -> tuple[list[str], float]:
    """One forked process per fingerprint, all registering at once; (semvers, slowest seconds)."""
    _register(ModelRegistry.local(registry_dir.parent / "warm-up"), "warm-up", "w")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(fingerprints))
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_register_once, args=(str(registry_dir), fp, barrier, results), daemon=True)
        for fp in fingerprints
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    errors = [o[1] for o in outcomes if o[0] != "ok"]
    assert not errors, errors[0]
    assert len({o[2] for o in outcomes}) == len(fingerprints)  # one MLflow version each
    return [o[1] for o in outcomes], max(o[3] for o in outcomes)


def _semver_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _assert_one_mlflow_version_per_semver(registry: ModelRegistry, semvers: list[str]) -> None:
    for semver in semvers:
        tagged = registry.client.search_model_versions(f"name='{NAME}' and tag.semver='{semver}'")
        assert len(tagged) == 1, f"{semver} resolves to MLflow versions {[mv.version for mv in tagged]}"


@pytest.mark.timeout(300)
def test_twenty_concurrent_registrations_on_a_fresh_registry(tmp_path: Path) -> None:
    """A fresh clone: the 20 processes also race to create the SQLite database."""
    shared = tmp_path / "registry"
    semvers, slowest = _register_concurrently(shared, ["data-1"] * 20)
    print(f"20 concurrent registrations: the last returned after {slowest:.1f} s")

    # The same schema and data each time: 1.0.0, then patches, whichever process came first.
    expected = [f"1.0.{i}" for i in range(20)]
    assert sorted(semvers, key=_semver_key) == expected  # distinct and gap-free
    registry = ModelRegistry.local(shared)
    listed = registry.versions(NAME)
    assert [v.semver for v in listed] == expected
    # The semvers follow the registry's own order of MLflow version numbers.
    assert [v.semver for v in sorted(listed, key=lambda v: int(v.mlflow_version))] == expected
    # Every gate passed: each waits for the promote step of its run.
    assert {v.run_status for v in listed} == {"promotion_pending"}
    _assert_one_mlflow_version_per_semver(registry, expected)


@pytest.mark.timeout(300)
def test_concurrent_retrains_on_an_existing_registry(tmp_path: Path) -> None:
    """The reported case: versions exist; runs on new data each register at the same time."""
    shared = tmp_path / "registry"
    # In a child too: an SQLite connection must not be carried across fork().
    assert _register_concurrently(shared, ["data-0"])[0] == ["1.0.0"]
    semvers, _ = _register_concurrently(shared, [f"data-{i}" for i in range(1, 9)])
    # Each retrain differs from whichever registration came just before it: a minor bump each.
    expected = [f"1.{i}.0" for i in range(1, 9)]
    assert sorted(semvers, key=_semver_key) == expected
    _assert_one_mlflow_version_per_semver(ModelRegistry.local(shared), ["1.0.0", *expected])


@pytest.mark.parametrize("error", [RuntimeError("artifact store unreachable"), KeyboardInterrupt()])
def test_a_registration_that_breaks_off_stays_visibly_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    registry = ModelRegistry.local(tmp_path)
    assert _register(registry, NAME, "data-1").semver == "1.0.0"

    def broken(*args: Any, **kwargs: Any) -> None:
        raise error

    with monkeypatch.context() as patch:
        # Breaks off after MLflow created the version, while the registration writes its last
        # parts: an error, or Ctrl-C.
        patch.setattr(registry.client, "update_model_version", broken)
        with pytest.raises(type(error)):
            _register(registry, NAME, "data-2")

    broken_version = registry.get(NAME, "1.1.0")
    assert broken_version.run_status == "failed"
    assert broken_version.tags["run_error"].startswith(type(error).__name__)
    assert broken_version.run_status_label == "incomplete: registration failed"
    with pytest.raises(RegistryError, match="registration failed"):
        registry.set_alias(NAME, "1.1.0", "challenger")
    # Its number is not reused and nothing is skipped: the next registration follows it.
    after = _register(registry, NAME, "data-2")
    assert after.semver == "1.1.1"
    assert [v.semver for v in registry.versions(NAME)] == ["1.0.0", "1.1.0", "1.1.1"]
    assert registry.set_alias(NAME, "1.1.1", "challenger").run_status == "complete"


def test_failed_gates_complete_at_registration(tmp_path: Path) -> None:
    registry = ModelRegistry.local(tmp_path)
    info = _register(registry, NAME, "data-1", passed=False)
    assert info.run_status == "complete"  # no alias is due, nothing more for the run to do


def test_versions_in_flight_get_the_same_semver_from_every_reader() -> None:
    a = {"schema_hash": "s1", "training_fingerprint": "t1"}
    history = [
        {**a, "semver": "1.0.0"},
        {**a, "training_fingerprint": "t2"},  # created, not tagged yet: 1.1.0
        {**a, "training_fingerprint": "t2"},  # same data again: 1.1.1
        {**a, "schema_hash": "s2", "semver": "2.0.0"},  # already tagged by its own process
        {**a, "schema_hash": "s2"},  # 2.0.1
    ]
    assigned = assign_versions(history)
    assert [str(v) for v, _ in assigned] == ["1.0.0", "1.1.0", "1.1.1", "2.0.0", "2.0.1"]
    assert [b for _, b in assigned] == [None, "minor", "patch", "major", "patch"]
    # A reader that sees only a prefix (a later version not created yet) agrees on it.
    assert assign_versions(history[:3]) == assigned[:3]
