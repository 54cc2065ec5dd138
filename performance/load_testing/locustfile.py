"""Locust users for the online API: single rows, batches, and entity-id-only requests.

Run through `make loadtest` (``python -m performance.load_testing.run``), or by hand:
    locust -f performance/load_testing/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8080

Payloads are rows of the bundled credit-risk sample (its features, as a client sends them).
Locust must be imported first, by its own CLI: its gevent patching has to come before any
ssl-using package; the sample generator (numpy, pandas) is imported after it.
"""

import os
import random

from locust import HttpUser, between, task

from training.sample_data import sample_feature_rows

# Entity-id requests pick APP-<n> ids in this range: by default the bundled 50k sample's last
# ~30 days, which is what the online store holds.
FIRST_ID, LAST_ID = (int(n) for n in os.environ.get("MLOPS_LOADTEST_ENTITY_RANGE", "46000:49999").split(":"))

# Bodies are drawn from these rows (a seed apart from the bundled sample's, so unseen applicants).
ROWS = sample_feature_rows(5000, seed=2)


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
