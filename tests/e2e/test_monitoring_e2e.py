"""The monitoring loop as an operator meets it: a trained and promoted model serves drifted traffic,
the prediction log holds it, ``mlops monitor drift`` finds the shifted features, the drift trigger
fires, ``mlops cost report`` prices the run and ``mlops monitor status`` shows it all.

One real kfp.local training run; the app is the one ``mlops serve`` builds (in process, its
prediction log writing to the project's state folder); the commands run as a user types them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from tests.e2e.project import ROOT, new_project, run, write_yaml
from training.sample_data import sample_feature_rows

pytestmark = pytest.mark.e2e
# Four of the sample's eleven features: a drift share over the trigger's 0.3.
SHIFTED = ("income", "loan_amount", "credit_score", "debt_to_income")


def ok(out: Any) -> str:
    assert out.returncode == 0, out.stdout + out.stderr
    return str(out.stdout)


def drifted_rows(count: int) -> list[dict[str, Any]]:
    """Unseen applicants with four numeric features moved by one standard deviation."""
    rows = sample_feature_rows(count, seed=11)
    sd = {c: float(np.std([r[c] for r in rows])) for c in SHIFTED}
    return [{**r, **{c: r[c] + sd[c] for c in SHIFTED}} for r in rows]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose sample model is trained, promoted to champion and has served drifted traffic."""
    from platform_config import load_platform_config
    from serving.server import build_app

    project = new_project(tmp_path_factory.mktemp("monitoring"))
    # The bundled dataset config, its suite found from the project (as the triggers read it too).
    dataset = project / "config" / "datasets" / "credit_risk.yaml"
    config = yaml.safe_load(dataset.read_text())
    config["expectation_suite"] = str(ROOT / "data_quality" / "expectations" / "credit_risk.yaml")
    write_yaml(dataset, config)
    ok(run(project, "run", "training"))
    ok(run(project, "models", "promote", "credit_risk", "1.0.0", "--to", "champion"))
    platform = load_platform_config(project / "config", "dev").model_copy(update={"state_dir": project / ".mlops"})
    served = build_app(platform.serving_stores(), "credit_risk", shadow=False, features=False)
    client = TestClient(served.app)
    for body in drifted_rows(400):
        assert client.post("/predict", json=body).status_code == 200
    served.close()  # the prediction log writes what it holds
    return project


def test_the_prediction_log_holds_the_served_rows_without_pii(project: Path) -> None:
    from observability.prediction_log import read_predictions

    logged = read_predictions(project / ".mlops" / "predictions", "credit_risk")
    assert len(logged) == 400
    assert set(logged["model_version"]) == {"1.0.0"}
    assert not {"full_name", "email", "phone", "national_id", "note"} & set(logged.columns)


def test_drift_of_the_logged_traffic_names_the_shifted_features(project: Path) -> None:
    # As on another machine (the triggers' pod): the reference comes back from the registry.
    shutil.rmtree(project / ".mlops" / "references")
    out = ok(run(project, "monitor", "drift", "--model", "credit_risk", "--since", "1h"))
    assert (project / ".mlops" / "references" / "credit_risk" / "1.0.0" / "reference.json").exists()
    assert "dataset drift" in out
    summary = json.loads((project / ".mlops" / "monitoring" / "drift" / "credit_risk" / "latest.json").read_text())
    drifted = {name for name, column in summary["features"].items() if column["drifted"]}
    assert set(SHIFTED) <= drifted
    assert summary["drift_share"] >= 0.3
    gauges = (project / ".mlops" / "metrics" / "drift_credit_risk.prom").read_text()
    assert 'mlops_drift_share{model="credit_risk",version="1.0.0"}' in gauges


def test_the_drift_trigger_fires_and_a_dry_run_starts_nothing(project: Path) -> None:
    out = ok(run(project, "monitor", "triggers", "--dry-run"))
    assert "drift share" in out
    assert "fired" in out
    assert len(list((project / ".mlops" / "runs").iterdir())) == 1  # the training run only


def test_cost_report_prices_the_run_and_status_shows_the_drift(project: Path) -> None:
    report = json.loads(ok(run(project, "cost", "report", "--json")))
    runs = report["runs"]
    assert len(runs) == 1
    assert runs[0]["cost_usd"] > 0
    status = json.loads(ok(run(project, "monitor", "status", "--json")))
    assert status["models"][0]["drift"]["drift_share"] >= 0.3
