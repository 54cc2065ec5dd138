"""Training runs (`mlops run training`) on small datasets, end to end through kfp.local.

- The PII hash key comes from a real OpenBao server whose address and token reference are
  only in the platform config (VAULT_ADDR is not in the run's environment): the hashed column
  is the HMAC with the value stored in Vault.
- A dataset without sensitive attributes trains; fairness is "not assessed", and with
  `fairness.not_assessed: fail` the run is blocked at govern.
- Both labels in the file, but the quality gate quarantines every row of one: the run stops
  at train naming the reason, and nothing is registered.
- A `path` pointing at a file that is not the dataset: its content reaches no output or log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.e2e.project import latest_run, new_project, registry_versions, run, steps, write_yaml
from tests.servers import OpenBao

pytestmark = pytest.mark.e2e
TOKEN_VAR = "MLOPS_E2E_VAULT_TOKEN"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("vault_project"))


def set_overlay(workdir: Path, overlay: dict[str, Any]) -> None:
    write_yaml(workdir / "config" / "environments" / "dev.yaml", overlay)


def applicants(rows: int, seed: int) -> pd.DataFrame:
    """No sensitive attribute, one hashed PII column, a learnable target."""
    rng = np.random.default_rng(seed)
    income = rng.gamma(3.0, 15_000, rows).round(0)
    debt = rng.uniform(0, 1, rows).round(3)
    tenure = rng.integers(0, 30, rows)
    risk = 1 / (1 + np.exp(-(3 * debt - income / 40_000 - 0.05 * tenure)))
    return pd.DataFrame(
        {
            "email": [f"applicant{i}-{seed}@example.org" for i in range(rows)],
            "income": income,
            "debt_ratio": debt,
            "tenure": tenure,
            "defaulted": (rng.random(rows) < risk).astype(int),
        }
    )


def dataset_config(workdir: Path, name: str, frame: pd.DataFrame, **extra: Any) -> Path:
    data = workdir / "data" / f"{name}.csv"
    data.parent.mkdir(exist_ok=True)
    frame.to_csv(data, index=False)
    return write_yaml(
        workdir / f"{name}.yaml",
        {
            "name": name,
            "path": f"data/{name}.csv",
            "target": "defaulted",
            "pii": {"email": {"action": "hash"}},
            **extra,
        },
    )


def ingested(workdir: Path) -> pd.DataFrame:
    """The latest run's ingest output artifact (what every later step reads)."""
    latest = sorted((workdir / ".mlops" / "pipeline_root").glob("training-*"))[-1]
    return pd.read_parquet(latest / "ingest" / "dataset")


@pytest.fixture(scope="module")
def vault_key(openbao: OpenBao, vault_root: Any) -> tuple[str, str]:
    """(reference, value) of a PII hash key stored in OpenBao's KV v2 mount `secret`."""
    path = f"mlops/e2e-{uuid.uuid4().hex[:8]}/privacy"
    value = secrets.token_hex(24)
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"pii_hash_key": value})
    return f"vault://secret/{path}#pii_hash_key", value


def vault_overlay(openbao: OpenBao, reference: str, **more: Any) -> dict[str, Any]:
    return {
        "privacy": {"hash_key": reference},
        "vault": {"address": openbao.address, "auth": {"type": "token", "token": f"env://{TOKEN_VAR}"}},
        **more,
    }


def test_pii_hash_key_from_vault_configured_only_in_the_platform_config(
    workdir: Path, openbao: OpenBao, vault_key: tuple[str, str]
) -> None:
    reference, value = vault_key
    set_overlay(workdir, vault_overlay(openbao, reference))
    frame = applicants(1500, seed=1)
    cfg = dataset_config(workdir, "vault_hashed", frame)
    out = run(workdir, "run", "training", "--dataset", str(cfg), env={TOKEN_VAR: openbao.root_token})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    run_dir = latest_run(workdir)
    recorded = steps(run_dir)
    assert recorded["ingest"]["figures"]["pii"] == "email=hash"

    hashed = ingested(workdir)["email"]
    expected = [hmac.new(value.encode(), e.encode(), hashlib.sha256).hexdigest()[:32] for e in frame["email"]]
    assert hashed.tolist() == expected
    # The fairness figure of a dataset that declares no sensitive attribute.
    assert recorded["govern"]["status"] == "succeeded"
    assert recorded["govern"]["figures"]["fairness"] == "not assessed (no sensitive_attributes declared)"
    assert recorded["promote"]["status"] == "succeeded"
    assert [v["semver"] for v in registry_versions(workdir, "vault_hashed")] == ["1.0.0"]


def test_without_the_token_in_the_environment_the_run_names_the_reference(
    workdir: Path, openbao: OpenBao, vault_key: tuple[str, str]
) -> None:
    """The config says where the token is; with it unset, ingest fails naming the reference."""
    reference, _ = vault_key
    set_overlay(workdir, vault_overlay(openbao, reference))
    cfg = dataset_config(workdir, "vault_no_token", applicants(300, seed=2))
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 1, out.stdout[-4000:] + out.stderr[-4000:]
    ingest = steps(latest_run(workdir))["ingest"]
    assert ingest["status"] == "failed"
    assert TOKEN_VAR in ingest["message"]
    assert registry_versions(workdir, "vault_no_token") == []


def test_not_assessed_fairness_blocks_the_run_when_the_gate_says_fail(workdir: Path) -> None:
    set_overlay(
        workdir,
        {"privacy": {"hash_key": "file://.mlops/secrets/pii-hash-key"}, "fairness": {"not_assessed": "fail"}},
    )
    cfg = dataset_config(workdir, "strict_fairness", applicants(1500, seed=3))
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 3, out.stdout[-4000:] + out.stderr[-4000:]
    recorded = steps(latest_run(workdir))
    assert recorded["govern"]["status"] == "blocked"
    assert "not assessed" in recorded["govern"]["message"]
    assert "promote" not in recorded
    assert "gate blocked at govern" in out.stdout


def test_one_label_left_after_the_quality_gate_stops_at_train_and_registers_nothing(workdir: Path) -> None:
    set_overlay(workdir, {"privacy": {"hash_key": "file://.mlops/secrets/pii-hash-key"}})
    frame = applicants(2000, seed=4)
    frame["defaulted"] = 0
    positives = frame.sample(60, random_state=0).index  # 3 %: under the gate's 5 % allowance
    frame.loc[positives, "defaulted"] = 1
    frame.loc[positives, "income"] = np.nan
    suite = workdir / "one_label_suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "one_label",
                "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}}],
            }
        )
    )
    cfg = dataset_config(workdir, "one_label", frame, expectation_suite=str(suite))
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 1, out.stdout[-4000:] + out.stderr[-4000:]
    recorded = steps(latest_run(workdir))
    assert recorded["validate_data"]["status"] == "succeeded"
    assert recorded["train"]["status"] == "failed"
    message = recorded["train"]["message"]
    assert "only one label of target 'defaulted': 0" in message
    assert "quarantined" in message
    assert "only one label of target 'defaulted'" in out.stderr
    assert not {"evaluate", "register", "promote"} & set(recorded)
    assert registry_versions(workdir, "one_label") == []


def test_a_path_to_a_file_that_is_not_the_dataset_is_never_echoed(workdir: Path) -> None:
    set_overlay(workdir, {"privacy": {"hash_key": "file://.mlops/secrets/pii-hash-key"}})
    marker = "s3cr3t-" + secrets.token_hex(6)
    system_file = workdir / "passwd"
    system_file.write_text(f"{marker}:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:{marker},,,:/home/u:/bin/sh\n")
    cfg = write_yaml(
        workdir / "wrong_file.yaml", {"name": "wrong_file", "path": str(system_file), "format": "csv", "target": "y"}
    )
    out = run(workdir, "run", "training", "--dataset", str(cfg))
    assert out.returncode == 1, out.stdout[-4000:] + out.stderr[-4000:]
    run_dir = latest_run(workdir)
    assert steps(run_dir)["ingest"]["status"] == "failed"
    written = [out.stdout, out.stderr] + [p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()]
    assert (run_dir / "pipeline.log").exists()
    assert not [text for text in written if marker in text]
    assert "is not the dataset the config describes" in out.stderr
