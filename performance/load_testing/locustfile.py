"""Locust users for the online API: single rows, batches, and entity-id-only requests.

Run through `make loadtest` (``python -m performance.load_testing.run``), or by hand:
    locust -f performance/load_testing/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8080

Payloads are rows of the bundled credit-risk sample (its features, as a client sends them).
With ``MLOPS_LOADTEST_DRIFT`` set (``run.py --drift 0.5``), every numeric feature is shifted by
that many of its standard deviations: traffic drifted on purpose, for ``mlops monitor drift``.
Locust must be imported first, by its own CLI: its gevent patching has to come before any
ssl-using package; the sample generator (numpy, pandas) is imported after it.
"""

import os
import random
import statistics
from typing import Any

from locust import HttpUser, between, task

from training.sample_data import sample_feature_rows

# Entity-id requests pick APP-<n> ids in this range: by default the bundled 50k sample's last
# ~30 days, which is what the online store holds.
FIRST_ID, LAST_ID = (int(n) for n in os.environ.get("MLOPS_LOADTEST_ENTITY_RANGE", "46000:49999").split(":"))


def shifted(rows: list[dict[str, Any]], by_sd: float) -> list[dict[str, Any]]:
    """``rows`` with each numeric feature moved by ``by_sd`` of its standard deviation."""
    numeric = [k for k, v in rows[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    sd = {k: statistics.pstdev(r[k] for r in rows if r[k] is not None) for k in numeric}
    return [{**r, **{k: r[k] + by_sd * sd[k] for k in numeric if r[k] is not None}} for r in rows]


# Bodies are drawn from these rows (a seed apart from the bundled sample's, so unseen applicants).
ROWS = shifted(sample_feature_rows(5000, seed=2), float(os.environ.get("MLOPS_LOADTEST_DRIFT", "0")))


class ApiUser(HttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task(6)
    def single(self) -> None:
        self.client.post("/predict", json=self.rng.choice(ROWS), name="/predict")

    @task(2)
    def by_entity(self) -> None:
        # Recent applicants are in the online store (the last 30 days are materialised).
        entity = f"APP-{self.rng.randint(FIRST_ID, LAST_ID):07d}"
        self.client.post("/predict", json={"entity_id": entity}, name="/predict (entity id)")

    @task(1)
    def batch(self) -> None:
        self.client.post("/predict/batch", json={"rows": self.rng.sample(ROWS, 50)}, name="/predict/batch")
