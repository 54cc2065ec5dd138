"""Locust users for the online API: single rows, batches, and entity-id-only requests.

Run through `make loadtest` (performance/load_testing/run.py), or by hand:
    locust -f performance/load_testing/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8080

Payloads follow the bundled credit-risk sample's serving schema. Only the standard library is
imported here: locust's gevent patching must come before any ssl-using package.
"""

import os
import random

from locust import HttpUser, between, task

# Entity-id requests pick APP-<n> ids in this range: by default the bundled 50k sample's last
# ~30 days, which is what the online store holds.
FIRST_ID, LAST_ID = (int(n) for n in os.environ.get("MLOPS_LOADTEST_ENTITY_RANGE", "46000:49999").split(":"))

CATEGORIES = {
    "employment_type": ["salaried", "self_employed", "contract", "unemployed", "retired"],
    "home_ownership": ["rent", "mortgage", "own", "other"],
    "loan_purpose": ["car", "home_improvement", "debt_consolidation", "education", "medical", "business"],
    "region": ["north", "south", "east", "west", "central"],
}


def row(rng: random.Random) -> dict[str, object]:
    features: dict[str, object] = {
        "income": round(rng.lognormvariate(10.6, 0.45), 2),
        "loan_amount": round(rng.gammavariate(2.0, 7500) + 1000, 2),
        "loan_term_months": rng.choice([12, 24, 36, 48, 60]),
        "credit_score": rng.randint(300, 850),
        "debt_to_income": round(rng.betavariate(2, 5) * 0.9, 4),
        "open_accounts": rng.randint(0, 12),
        "late_payments_12m": rng.randint(0, 3),
    }
    features.update({name: rng.choice(values) for name, values in CATEGORIES.items()})
    return features


class ApiUser(HttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task(6)
    def single(self) -> None:
        self.client.post("/predict", json=row(self.rng), name="/predict")

    @task(2)
    def by_entity(self) -> None:
        # Recent applicants are in the online store (the last 30 days are materialised).
        entity = f"APP-{self.rng.randint(FIRST_ID, LAST_ID):07d}"
        self.client.post("/predict", json={"entity_id": entity}, name="/predict (entity id)")

    @task(1)
    def batch(self) -> None:
        self.client.post("/predict/batch", json={"rows": [row(self.rng) for _ in range(50)]}, name="/predict/batch")
