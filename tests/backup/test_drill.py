"""The DR drill: the comparison that judges a restore, the phases and their report, and
`mlops dr drill` on the trained reference deployment (back up, destroy, restore, verify)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from backup import BackupEnvironment, Repository, dev_environment
from backup.drill.facts import Facts, differences
from backup.drill.run import DrillReport, run_drill, write_report
from backup.tombstones import add_tombstones
from mlops.errors import BackupError, LocalStackError, SecretError
from tests.local_stack import TrainedStack


def _facts() -> Facts:
    return Facts(
        versions={"credit_risk": [{"semver": "1.0.0", "mlflow_version": "1", "aliases": ["champion"]}]},
        artifacts={"credit_risk/1.0.0/model/model.skops": "ab" * 32},
        online={"credit_risk": [{"applicant_id": "A-1", "income": 51000.5}]},
        predictions={"credit_risk": [0.25]},
        secrets={"vault://secret/mlops/local-stack/privacy#pii_hash_key": "cd" * 32},
        newest_write_ms=1_700_000_000_000,
        consent={"records": 3, "subjects": 2, "sha256": "ef" * 32},
    )


def test_identical_readings_have_no_differences() -> None:
    assert differences(_facts(), copy.deepcopy(_facts())) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.versions["credit_risk"][0].update(aliases=[]), "registry: versions/aliases of 'credit_risk'"),
        (lambda f: f.artifacts.clear(), "artifact credit_risk/1.0.0/model/model.skops: missing"),
        (lambda f: f.artifacts.update({"credit_risk/1.0.0/model/model.skops": "00" * 32}), "changed (sha256)"),
        (lambda f: f.online["credit_risk"][0].update(income=None), "online store: the features"),
        (lambda f: f.predictions.update(credit_risk=[0.25 + 1e-9]), "prediction: the served version of 'credit_risk'"),
        (lambda f: f.secrets.clear(), "secret vault://secret/mlops/local-stack/privacy#pii_hash_key"),
        (lambda f: f.consent.clear(), "consent records: 3 of 2 subject(s) before, 0 of 0 after"),
        (lambda f: f.consent.update(sha256="00" * 32), "consent records: 3 of 2 subject(s) before, 3 of 2 after (same"),
    ],
)
def test_each_lost_fact_is_named(change: object, named: str) -> None:
    after = copy.deepcopy(_facts())
    change(after)  # type: ignore[operator]
    found = differences(_facts(), after)
    assert len(found) == 1
    assert named in found[0]


# In the order they begin ("bring into service" runs within "restore", timed apart).
PHASES = ["observe before", "backup", "destroy", "recreate", "restore", "bring into service", "observe after"]


class _Deployment:
    """A dev state folder whose second reading lost an artifact: the drill must say so."""

    name = "dev-double"

    def __init__(self, state: Path) -> None:
        self.state = state
        self.readings = 0
        self.calls: list[str] = []

    def environment(self) -> BackupEnvironment:
        return dev_environment(self.state, None)

    def observe(self) -> Facts:
        self.readings += 1
        facts = _facts()
        if self.readings > 1:
            facts.artifacts.clear()
        return facts

    def destroy(self) -> None:
        self.calls.append("destroy")

    def recreate(self) -> None:
        self.calls.append("recreate")

    def after_restore(self) -> None:
        self.calls.append("after_restore")


def test_a_restore_that_loses_a_fact_fails_the_drill_and_says_which(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "predictions" / "credit_risk").mkdir(parents=True)
    (state / "predictions" / "credit_risk" / "part-0.parquet").write_bytes(b"PAR1")
    (tmp_path / "key").write_text("drill-test-key\n")  # pragma: allowlist secret
    deployment = _Deployment(state)
    repo = Repository(str(tmp_path / "repo"), tmp_path / "key", cache_dir=tmp_path / "cache")

    report = run_drill(deployment, repo, tmp_path / "work", goal_rto_s=60)

    assert deployment.calls == ["destroy", "recreate", "after_restore"]
    assert not report.passed
    assert report.differences == ["artifact credit_risk/1.0.0/model/model.skops: missing"]
    assert list(report.phases) == PHASES
    assert report.rto_s >= report.phases["destroy"]
    json_path, html_path = write_report(report, tmp_path / "out")
    assert DrillReport(**json.loads(json_path.read_text())) == report
    assert "differences found" in html_path.read_text()


class _Failing(_Deployment):
    """Fails the phase ``fails`` with the error its real implementation raises."""

    def __init__(self, state: Path, fails: str) -> None:
        super().__init__(state)
        self.fails = fails

    def observe(self) -> Facts:
        if self.fails == "observe before":
            raise SecretError("vault://secret/mlops/x#y", "Vault at http://127.0.0.1:8200 is sealed or down")
        return super().observe()

    def recreate(self) -> None:
        super().recreate()
        if self.fails == "recreate":
            raise LocalStackError("MLflow did not answer within 300 s")

    def after_restore(self) -> None:
        super().after_restore()
        if self.fails == "bring into service":
            raise LocalStackError("OpenBao did not come back with the keys of init.json")


@pytest.mark.parametrize("fails", ["observe before", "recreate", "bring into service"])
def test_a_phase_that_fails_is_named_with_what_it_left(tmp_path: Path, fails: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (tmp_path / "key").write_text("drill-test-key\n")  # pragma: allowlist secret
    deployment = _Failing(state, fails)
    repo = Repository(str(tmp_path / "repo"), tmp_path / "key", cache_dir=tmp_path / "cache")
    lines: list[str] = []

    with pytest.raises(BackupError) as raised:
        run_drill(deployment, repo, tmp_path / "work", progress=lines.append)

    message = str(raised.value)
    assert message.startswith(f"the drill stopped at {fails!r} after ")
    assert lines[-1] == f"{fails} …"
    if fails == "recreate":
        assert "MLflow did not answer within 300 s" in message
        by_hand = r"restore backup [0-9]{8}T[0-9]{6}Z-[0-9a-f]+ by hand \(backup/playbooks/environment\.md\)$"
        assert re.search(by_hand, message)
        assert deployment.calls == ["destroy", "recreate"]
    elif fails == "bring into service":  # within the restore: named once, as itself
        assert message.count("the drill stopped") == 1
        assert "OpenBao did not come back" in message
        assert deployment.calls == ["destroy", "recreate", "after_restore"]
    else:
        assert "is sealed or down" in message
        assert message.endswith("the deployment was not touched")
        assert deployment.calls == []


def test_the_restored_stores_are_in_service_before_erased_subjects_are_erased_again(tmp_path: Path) -> None:
    """A subject erased since the backup is erased again from the restored stores; that reads
    their passwords from the restored OpenBao, so it comes after the deployment's bring-into-service."""
    state = tmp_path / "state"
    state.mkdir()
    (tmp_path / "key").write_text("drill-test-key\n")  # pragma: allowlist secret
    deployment = _Deployment(state)
    repo = Repository(str(tmp_path / "repo"), tmp_path / "key", cache_dir=tmp_path / "cache")
    repo.ensure(create=True)
    assert add_tombstones(repo, ["APP-1"]) == 1

    def erase_again(_env: BackupEnvironment, digests: frozenset[str], _key: bytes) -> dict[str, int]:
        deployment.calls.append(f"erase {len(digests)}")
        return {}

    report = run_drill(deployment, repo, tmp_path / "work", apply_tombstones=erase_again)

    assert deployment.calls == ["destroy", "recreate", "after_restore", "erase 1"]
    assert list(report.phases) == PHASES


def test_mlops_dr_drill_restores_the_reference_deployment_identically(trained_stack: TrainedStack) -> None:
    stack = trained_stack
    assert stack.training.returncode == 0, stack.training.stdout[-2000:]
    assert stack.promotion.returncode == 0, stack.promotion.stderr[-2000:]
    out = stack.state / "drill-report"
    consent = stack.state / "consent.csv"  # a withdrawal the restore must keep
    consent.write_text("subject_id,purpose,status,time\nAPP-1,training,withdrawn,2026-01-05T10:00:00Z\n")
    imported = stack.mlops("privacy", "consent", "import", str(consent))
    assert imported.returncode == 0, imported.stdout + imported.stderr

    ran = stack.mlops("dr", "drill", "--json", "--out", str(out), timeout=900)

    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    report = json.loads(ran.stdout)
    assert report["passed"], report["differences"]
    assert report["differences"] == []
    checked = report["checked"]
    assert checked["versions"] >= 1
    assert checked["artifacts"] >= 5  # the model's files and the run's: lineage, reports, reference
    assert checked["online_rows_found"] == checked["online_rows"] > 0
    assert checked["predictions"] == checked["online_rows"]
    assert checked["secrets"] >= 3
    assert checked["consent_records"] == 1
    assert report["rto_s"] > 0
    assert report["rpo_s"] >= report["backup_age_s"] >= 0
    assert json.loads((out / "drill.json").read_text()) == report
    assert "verified" in (out / "drill.html").read_text()
    # The restored deployment serves reads again through the CLI.
    check = stack.mlops("dr", "check")
    assert check.returncode == 0, check.stdout + check.stderr
