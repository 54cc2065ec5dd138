"""Deterministic synthetic credit-risk data (the bundled sample).

Everything here is SYNTHETIC: names, e-mails, phone numbers and national ids are generated
from fixed word lists and a seeded random generator; no row describes a real person. The
same ``(rows, seed)`` always yields the same frame, so runs and tests are reproducible.

Columns: ``applicant_id`` (entity), ``application_ts`` (event time, 2025-01-01 .. 2025-12-31,
UTC), ``defaulted`` (binary target), numeric and categorical features (their one definition
is :func:`sample_feature_schema`, derived from the generated columns), PII (``full_name``,
``email``, ``phone``, ``national_id``, ``note``) and sensitive attributes (``sex``,
``age_band``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from training.modeling import FeatureSchema

# The columns that are not model features (config/datasets/credit_risk.yaml gives them these roles).
ENTITY_COLUMN = "applicant_id"
TIMESTAMP_COLUMN = "application_ts"
TARGET_COLUMN = "defaulted"
PII_COLUMNS = ("full_name", "email", "phone", "national_id", "note")
SENSITIVE_COLUMNS = ("sex", "age_band")

FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jae", "Kofi", "Lena"]
LAST = ["Moreau", "Novak", "Okafor", "Park", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Varga"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed", "retired"]
HOME = ["rent", "mortgage", "own", "other"]
PURPOSE = ["car", "home_improvement", "debt_consolidation", "education", "medical", "business"]
REGION = ["north", "south", "east", "west", "central"]
AGE_BANDS = ["18-25", "26-35", "36-45", "46-55", "56-65", "66+"]
NOTES = [
    "Applicant called about the rate.",
    "Asked to be contacted at {email}.",
    "Prefers phone contact: {phone}.",
    "Documents received.",
    "Income verified by employer letter.",
    "",
]


def generate_credit_risk(rows: int = 50_000, seed: int = 7) -> pd.DataFrame:
    """Return the synthetic credit-risk frame (deterministic for ``rows`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(rows)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    seconds = rng.integers(0, 364 * 24 * 3600, size=rows)
    ts = start + pd.to_timedelta(np.sort(seconds), unit="s")

    age = rng.integers(18, 80, size=rows)
    age_band = pd.cut(age, [17, 25, 35, 45, 55, 65, 200], labels=AGE_BANDS).astype(str)
    sex = rng.choice(["female", "male"], size=rows, p=[0.49, 0.51])
    employment = rng.choice(EMPLOYMENT, size=rows, p=[0.55, 0.15, 0.15, 0.08, 0.07])
    income = np.round(rng.lognormal(mean=10.6, sigma=0.45, size=rows), 2)
    income = np.where(employment == "unemployed", income * 0.3, income)
    loan = np.round(rng.gamma(shape=2.0, scale=7_500, size=rows) + 1_000, 2)
    term = rng.choice([12, 24, 36, 48, 60], size=rows)
    credit_score = np.clip(rng.normal(680, 70, size=rows), 300, 850).round().astype(int)
    dti = np.clip(rng.beta(2, 5, size=rows) * 0.9, 0, 0.95).round(4)
    open_accounts = rng.poisson(4, size=rows)
    late_payments = rng.poisson(0.4, size=rows)

    logit = (
        -1.2
        - 0.012 * (credit_score - 680)
        + 3.0 * (dti - 0.25)
        + 0.35 * late_payments
        + 0.9 * np.log(loan / income + 1e-6).clip(-4, 2) * 0.5
        + 0.6 * (employment == "unemployed")
        + 0.02 * (term - 36) / 12
    )
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)

    first = rng.choice(FIRST, size=rows)
    last = rng.choice(LAST, size=rows)
    full_name = pd.Series(first, dtype=object) + " " + pd.Series(last, dtype=object)
    email = (
        pd.Series(np.char.lower(first.astype(str)), dtype=object)
        + "."
        + pd.Series(np.char.lower(last.astype(str)), dtype=object)
        + (idx % 9973).astype(str)
        + "@example.com"
    )
    phone = pd.Series([f"+1-555-{(i * 7919) % 1000:03d}-{(i * 104729) % 10000:04d}" for i in idx])
    national_id = pd.Series([f"{(i * 48271) % 900 + 100:03d}-{(i * 16807) % 90 + 10:02d}-{i % 10000:04d}" for i in idx])
    note_tpl = rng.choice(NOTES, size=rows)
    note = [t.format(email=e, phone=p) for t, e, p in zip(note_tpl, email, phone, strict=True)]

    return pd.DataFrame(
        {
            ENTITY_COLUMN: [f"APP-{i:07d}" for i in idx],
            TIMESTAMP_COLUMN: ts,
            "full_name": full_name,
            "email": email,
            "phone": phone,
            "national_id": national_id,
            "note": note,
            "sex": sex,
            "age_band": age_band,
            "income": income,
            "loan_amount": loan,
            "loan_term_months": term,
            "credit_score": credit_score,
            "debt_to_income": dti,
            "open_accounts": open_accounts,
            "late_payments_12m": late_payments,
            "employment_type": employment,
            "home_ownership": rng.choice(HOME, size=rows, p=[0.4, 0.35, 0.2, 0.05]),
            "loan_purpose": rng.choice(PURPOSE, size=rows),
            "region": rng.choice(REGION, size=rows),
            TARGET_COLUMN: defaulted,
        }
    )


@cache
def sample_feature_schema() -> FeatureSchema:
    """The sample's model features, as training derives them from the generated columns.

    Every column that is not the entity, the event time, the target, PII or a sensitive
    attribute is a feature; numeric columns are numbers, the others categories. Column order
    is the generator's.
    """
    frame = generate_credit_risk(rows=1)
    reserved = {ENTITY_COLUMN, TIMESTAMP_COLUMN, TARGET_COLUMN, *PII_COLUMNS, *SENSITIVE_COLUMNS}
    features = [str(c) for c in frame.columns if c not in reserved]
    return FeatureSchema(
        numeric=tuple(c for c in features if is_numeric_dtype(frame[c])),
        categorical=tuple(c for c in features if not is_numeric_dtype(frame[c])),
    )


def sample_feature_rows(rows: int, seed: int = 7) -> list[dict[str, Any]]:
    """``rows`` rows of the sample's features as a client sends them: plain Python values, one dict a row."""
    frame = generate_credit_risk(rows, seed)[sample_feature_schema().columns]
    records = frame.to_dict("records")
    return [{str(k): v.item() if isinstance(v, np.generic) else v for k, v in r.items()} for r in records]


def write_sample(path: Path, rows: int = 50_000, seed: int = 7) -> Path:
    """Write the sample as parquet (or CSV when ``path`` ends in .csv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df = generate_credit_risk(rows, seed)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path
