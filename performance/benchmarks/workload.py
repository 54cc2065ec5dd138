"""What the benchmarks score: the synthetic credit-risk sample's feature schema (one definition)."""

from training.modeling import FeatureSchema

SCHEMA = FeatureSchema(
    numeric=(
        "income",
        "loan_amount",
        "loan_term_months",
        "credit_score",
        "debt_to_income",
        "open_accounts",
        "late_payments_12m",
    ),
    categorical=("employment_type", "home_ownership", "loan_purpose", "region"),
)
