"""Datasets unlike the bundled sample, as users bring them (bring your own data).

- :func:`credit_file`: a few thousand rows of credit applications with string labels
  (``good``/``bad``), no id and no timestamp, a numeric ``Age`` as sensitive attribute, ~5 %
  missing values in several columns, an order reference per row, and the rows sorted by the
  target (as exports often are: a holdout of the last rows would hold one class only).
- :func:`wide_loans_file`: 10k rows by 55 columns with an integer id, an issue date, a free-text
  job title and a borrower name/e-mail declared as PII, columns null in ~85 % of the rows, a
  high-cardinality ZIP prefix, and labels ``Fully Paid`` / ``Charged Off``.

Both are deterministic for a seed; the values a test must never find outside the anonymised
path are returned by :func:`raw_pii_values`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

JOBS = [
    "Registered Nurse at Saint Mary Hospital",
    "Senior Software Engineer, Acme Robotics",
    "Truck driver for Northwind Freight",
    "Teacher - Lincoln Elementary",
    "Owner of Bluebird Bakery",
    "Warehouse associate",
    "Dental hygienist",
    "Police officer, city of Springfield",
]
FIRST = ["Olivia", "Mateo", "Aiko", "Kwame", "Ingrid", "Rahul", "Sofia", "Dmitri", "Amara", "Lucas"]
LAST = ["Hernandez", "Okonkwo", "Lindqvist", "Takahashi", "Moreau", "Kowalski", "Nguyen", "Barros"]


def credit_file(rows: int = 4500, seed: int = 3) -> pd.DataFrame:
    """Credit applications: string labels, no id/timestamp, numeric Age, ~5 % nulls, sorted by target."""
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 76, rows)
    duration = rng.choice([6, 12, 18, 24, 36, 48, 60], rows)
    amount = rng.gamma(2.0, 1600, rows).round(0)
    income = rng.lognormal(10.4, 0.5, rows).round(0)
    checking = rng.choice(["<0", "0-200", ">200", "none"], rows, p=[0.27, 0.27, 0.06, 0.40])
    history = rng.choice(["critical", "paid", "delayed", "existing"], rows)
    purpose = rng.choice(["car", "furniture", "radio/tv", "education", "business", "repairs"], rows)
    savings = rng.choice(["<100", "100-500", "500-1000", ">1000", "unknown"], rows).astype(object)
    housing = rng.choice(["own", "rent", "free"], rows, p=[0.7, 0.2, 0.1])
    installment = rng.integers(1, 5, rows)
    logit = (
        -1.2
        + 0.9 * (checking == "<0")
        - 0.7 * (checking == "none")
        + 0.02 * duration
        + amount / 15000
        - 0.015 * (age - 35)
        + 0.4 * (history == "critical")
        - 0.3 * (income > 40000)
    )
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "checking_status": checking,
            "duration_months": duration,
            "credit_history": history,
            "purpose": purpose,
            "credit_amount": amount,
            "savings": savings,
            "installment_rate": installment,
            "yearly_income": income,
            "housing": housing,
            "Age": age,
            # A per-row order reference: an identifier, never a useful feature.
            "order_ref": [f"ORD-{2024 + i % 3}-{rng.integers(10**6, 10**7)}-{i:05d}" for i in range(rows)],
            "Risk": np.where(bad, "bad", "good"),
        }
    )
    for column, share in (("yearly_income", 0.05), ("savings", 0.05), ("credit_amount", 0.03)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    # Exported sorted by the label: the last 20 % of the file are all "good".
    return frame.sort_values("Risk", kind="stable").reset_index(drop=True)


def wide_loans_file(rows: int = 10_000, seed: int = 5) -> pd.DataFrame:
    """55 columns: id, issue date, free-text PII, mostly-null columns, labels Fully Paid / Charged Off."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list("ABCDEFG"), rows, p=[0.2, 0.28, 0.24, 0.14, 0.08, 0.04, 0.02])
    rate = {g: 6 + 4 * i for i, g in enumerate("ABCDEFG")}
    int_rate = np.array([rate[g] for g in grade]) + rng.normal(0, 1.5, rows).round(2)
    annual_inc = rng.lognormal(11, 0.6, rows).round(0)
    dti = rng.uniform(0, 40, rows).round(2)
    loan_amnt = (rng.gamma(2.5, 6000, rows) // 25 * 25).astype(float)
    names = [f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]} {i}" for i in range(rows)]
    frame = pd.DataFrame(
        {
            "loan_id": np.arange(900_000, 900_000 + rows),
            "issue_d": pd.date_range("2023-01-01", periods=rows, freq="37min", tz="UTC"),
            "borrower_name": names,
            "borrower_email": [f"{n.split()[0].lower()}.{i}@mailbox.example" for i, n in enumerate(names)],
            "emp_title": [f"{JOBS[i % len(JOBS)]} #{i}" for i in range(rows)],
            "loan_amnt": loan_amnt,
            "term": rng.choice([" 36 months", " 60 months"], rows, p=[0.7, 0.3]),
            "int_rate": int_rate,
            "grade": grade,
            "home_ownership": rng.choice(["RENT", "MORTGAGE", "OWN"], rows),
            "annual_inc": annual_inc,
            "purpose": rng.choice(["debt_consolidation", "credit_card", "home_improvement", "other"], rows),
            "addr_state": rng.choice([f"S{i:02d}" for i in range(50)], rows),
            # ~900 distinct values: too many to one-hot encode by default.
            "zip3": [f"{z:03d}xx" for z in rng.integers(100, 1000, rows)],
            "dti": dti,
            "revol_util": rng.uniform(0, 100, rows).round(1),
            "applicant_age": rng.integers(21, 80, rows),
        }
    )
    for i in range(30):  # numeric bureau attributes, a few with small gaps
        col = rng.poisson(2 + i % 5, rows).astype(float)
        if i % 4 == 0:
            col[rng.random(rows) < 0.02] = np.nan
        frame[f"bureau_{i:02d}"] = col
    for i in range(4):
        frame[f"flag_{i}"] = rng.choice(["Y", "N"], rows)
    # Columns empty in ~85 % of rows (as hardship and joint-application fields are).
    mostly_null = rng.random(rows) < 0.85
    frame["mths_since_last_delinq"] = np.where(mostly_null, np.nan, rng.integers(0, 120, rows).astype(float))
    frame["hardship_reason"] = pd.Series(
        np.where(
            rng.random(rows) < 0.86, None, rng.choice(["INCOME_CURTAILMENT", "MEDICAL", "NATURAL_DISASTER"], rows)
        ),
        dtype=object,
    )
    frame["sec_app_revol_util"] = np.where(rng.random(rows) < 0.87, np.nan, rng.uniform(0, 100, rows).round(1))
    logit = -2.2 + 0.35 * (pd.Series(grade).map({g: i for i, g in enumerate("ABCDEFG")}).to_numpy()) + dti / 40
    charged_off = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame["loan_status"] = np.where(charged_off, "Charged Off", "Fully Paid")
    assert frame.shape[1] == 55, frame.shape
    return frame


PII_COLUMNS = {"wide_loans": ["borrower_name", "borrower_email", "emp_title"]}


def raw_pii_values(frame: pd.DataFrame, columns: list[str], sample: int = 200, seed: int = 0) -> list[str]:
    """Raw values of declared PII columns to search for (a seeded sample, the longer the safer)."""
    values = pd.concat([frame[c].dropna().astype(str) for c in columns])
    picked = values.sample(min(sample, len(values)), random_state=seed)
    return sorted(set(picked))


__all__ = ["PII_COLUMNS", "credit_file", "raw_pii_values", "wide_loans_file"]
