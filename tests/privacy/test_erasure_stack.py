"""Erasure on the local reference deployment: the stores the cluster uses — the dataset in the
object store, Feast's PostgreSQL offline tables and Redis online store, MLflow's lineage
artifacts in the bucket — after a real training run on it (the shared ``trained_stack``)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.local_stack import TrainedStack

pytestmark = pytest.mark.e2e


def test_a_subject_is_erased_from_every_store_of_the_stack(trained_stack: TrainedStack) -> None:
    assert trained_stack.training.returncode == 0, trained_stack.training.stdout + trained_stack.training.stderr
    copy = next(trained_stack.state.glob("pipeline_root/*/ingest/dataset"))
    rows = pd.read_parquet(copy, columns=["applicant_id", "application_ts"])
    subject = str(rows.loc[rows["application_ts"].idxmax(), "applicant_id"])  # online too

    dry = trained_stack.mlops("privacy", "erase", "--subject", subject, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    planned = json.loads(dry.stdout)

    erased = trained_stack.mlops("privacy", "erase", "--subject", subject, "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    receipt = json.loads(erased.stdout)
    stores = {name: result["rows"] for name, result in receipt["stores"].items()}
    assert stores == {name: result["rows"] for name, result in planned["stores"].items()}
    for store in ("dataset-copies", "dataset-sources", "feast-online", "feast-offline-tables", "registry-artifacts"):
        assert stores[store] >= 1, (store, stores)
    assert "credit_risk 1.0.0" in receipt["model_versions"]

    again = trained_stack.mlops("privacy", "erase", "--subject", subject, "--dry-run", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["rows"] == 0
    # The lineage no longer lists the subject either (the version keeps its erasure_pending tag).
    assert json.loads(again.stdout)["model_versions"] == []
