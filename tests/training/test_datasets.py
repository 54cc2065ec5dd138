"""Ingest for any dataset: target labels, generated columns, column roles, sensitive groups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import DatasetConfig
from mlops.errors import DatasetError
from mlops.roles import Roles, group_labels
from tests.byod import credit_file
from training.datasets import (
    GENERATED_ID,
    GENERATED_TS,
    as_category_text,
    binary_target,
    check_dataset,
    decide_roles,
    identifier_reason,
    ingest,
    prepare_features,
    target_labels,
)


def config(tmp_path: Path, **overrides: Any) -> DatasetConfig:
    data: dict[str, Any] = {"name": "ds", "path": str(tmp_path / "data.parquet"), "target": "y"}
    data.update(overrides)
    return DatasetConfig.model_validate(data)


# --------------------------------------------------------------------------- target labels
@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        ([0, 1, 1, 0], None, (1, 0)),
        ([0.0, 1.0], None, (1.0, 0.0)),
        ([True, False], None, (True, False)),
        (["good", "bad", "good"], "bad", ("bad", "good")),
        (["yes", "no"], True, ("yes", "no")),  # YAML reads `positive_label: yes` as true
        ([1, 2, 2], 2, (2, 1)),
        (["1", "0"], 1, ("1", "0")),  # a label typed differently in YAML than in the column
    ],
)
def test_binary_targets_with_any_two_labels(
    tmp_path: Path, values: list[Any], positive: Any, expected: tuple[Any, Any]
) -> None:
    cfg = config(tmp_path, positive_label=positive)
    assert target_labels(pd.Series(values), cfg) == expected


def test_string_labels_without_positive_label_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"positive_label.*'bad', 'good'"):
        target_labels(pd.Series(["good", "bad"]), config(tmp_path))


def test_positive_label_must_be_one_of_the_labels(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"`positive_label`.*'risky' is not one of"):
        target_labels(pd.Series(["good", "bad"]), config(tmp_path, positive_label="risky"))


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["a", "b", "c"], "multiclass"),
        ([1, 2, 3, 4], "multiclass"),
        (list(np.linspace(0, 1, 50)), "regression"),
        (["only"] * 5, "single label"),
    ],
)
def test_other_targets_are_refused_naming_the_target_key(tmp_path: Path, values: list[Any], kind: str) -> None:
    with pytest.raises(DatasetError, match=rf"`target`.*{kind}"):
        target_labels(pd.Series(values), config(tmp_path))


ADULT_LABELS = [" <=50K", " >50K", " <=50K.", " >50K.", " <=50K", " <=50K."]  # train and test files joined


def test_label_variants_are_one_class_each_and_the_target_is_written_with_one_label(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, path=str(tmp_path / "adult.csv"), positive_label=[">50K", ">50K."], negative_label=["<=50K", "<=50K."]
    )
    assert target_labels(pd.Series(ADULT_LABELS), cfg) == (" >50K", " <=50K")
    frame = pd.DataFrame({"y": ADULT_LABELS * 20, "age": range(120), "hours": [40, 20, 35] * 40})
    frame.loc[3, "y"] = None
    frame.to_csv(tmp_path / "adult.csv", index=False)
    assert check_dataset(cfg)  # what `mlops config validate --dataset` runs
    got = ingest(cfg)
    assert sorted(got.frame["y"].dropna().unique()) == [" <=50K", " >50K"]
    assert got.frame["y"].isna().sum() == 1
    positive, _ = target_labels(got.frame["y"], cfg)
    encoded = binary_target(got.frame["y"].dropna(), positive, "y")
    assert encoded.sum() == frame["y"].str.strip().isin([">50K", ">50K."]).sum()
    # Variants of the positive class alone: the one other label is the negative class.
    just_positive = config(tmp_path, positive_label=["yes", "y"])
    assert target_labels(pd.Series(["yes", "y", "no"]), just_positive) == ("yes", "no")


@pytest.mark.parametrize(
    ("values", "labels", "message"),
    [
        (ADULT_LABELS, {"positive_label": [">50K", ">50K."]}, r"`negative_label`.*2 labels besides.*' <=50K'"),
        (
            [*ADULT_LABELS, "unknown"],
            {"positive_label": [">50K", ">50K."], "negative_label": ["<=50K", "<=50K."]},
            r"`negative_label`.*neither.*'unknown'",
        ),
        (ADULT_LABELS, {"positive_label": ["rich", "wealthy"]}, r"`positive_label`.*none of"),
        (["a", "b", "c", "d"], {"positive_label": "a"}, r"`target`.*multiclass"),  # no variants: as before
    ],
)
def test_label_variants_that_do_not_cover_the_target_are_errors_naming_the_key(
    tmp_path: Path, values: list[str], labels: dict[str, Any], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        target_labels(pd.Series(values), config(tmp_path, **labels))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"positive_label": ["a", "b"], "negative_label": ["b", "c"]}, "both positive and negative: b"),
        ({"negative_label": "no"}, "negative_label needs positive_label"),
        ({"positive_label": []}, "empty list"),
    ],
)
def test_label_variant_configs_that_cannot_work_are_refused(
    tmp_path: Path, labels: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **labels)


def test_binary_target_encodes_the_positive_label_and_refuses_empty_labels() -> None:
    assert binary_target(pd.Series(["bad", "good", "bad"]), "bad", "Risk").tolist() == [1, 0, 1]
    assert binary_target(pd.Series([True, False]), True, "y").tolist() == [1, 0]
    assert binary_target(pd.Series(["1", "0"]), 1, "y").tolist() == [1, 0]
    with pytest.raises(DatasetError, match=r"'Risk' has 1 empty values"):
        binary_target(pd.Series(["bad", None]), "bad", "Risk")


# --------------------------------------------------------------------------- ingest
def test_generated_columns_never_enter_the_dataset_hash(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    cfg = config(tmp_path)
    first = ingest(cfg, now=datetime(2026, 1, 1, tzinfo=UTC))
    second = ingest(cfg, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert first.generated == [GENERATED_ID, GENERATED_TS]
    assert first.frame[GENERATED_TS].iloc[0] != second.frame[GENERATED_TS].iloc[0]
    assert first.dataset_hash == second.dataset_hash
    frame.assign(x=[1.0, 2.0, 4.0]).to_parquet(tmp_path / "data.parquet", index=False)
    assert ingest(cfg).dataset_hash != first.dataset_hash


# --------------------------------------------------------------------------- roles
def identifier_frame(rows: int = 3000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_no": np.arange(1, rows + 1),
            "contact": [f"person{i}@example.net" for i in range(rows)],
            "card_number": rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, rows),
            "order_ref": [f"ORD{rng.integers(0, 10**9):09d}" for _ in range(rows)],
            "income": rng.lognormal(10, 0.4, rows),
            "visits": rng.poisson(3, rows),
            "region": rng.choice(["n", "s", "e", "w"], rows),
            "zip": [f"{z:05d}" for z in rng.integers(0, 400, rows)],
            "empty": np.full(rows, np.nan),
            "signup": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "y": rng.integers(0, 2, rows),
        }
    )


def test_identifier_like_columns_are_left_out_with_their_reason(tmp_path: Path) -> None:
    frame = identifier_frame()
    roles = decide_roles(config(tmp_path, max_categories=500), frame, "customer_no", "ts")
    assert roles.features == ["income", "visits", "region", "zip"]
    assert set(roles.left_out) == {"contact", "card_number", "order_ref", "empty", "signup"}
    assert "identifier-like" in roles.left_out["contact"]
    assert "10+ digit" in roles.left_out["card_number"]
    assert "include:" in roles.left_out["order_ref"]
    assert "empty" in roles.left_out["empty"]
    assert "date/time" in roles.left_out["signup"]


def test_high_cardinality_categoricals_are_left_out_unless_included(tmp_path: Path) -> None:
    frame = identifier_frame()
    roles = decide_roles(config(tmp_path, max_categories=50), frame, "customer_no", "ts")
    assert "zip" not in roles.features
    assert "max_categories (50)" in roles.left_out["zip"]
    kept = decide_roles(config(tmp_path, max_categories=50, include=["zip", "order_ref"]), frame, "customer_no", "ts")
    assert {"zip", "order_ref"} <= set(kept.features)
    assert "zip" in kept.categorical


def test_sequential_ids_are_identifiers_but_ordinary_numbers_are_not() -> None:
    assert identifier_reason(pd.Series(np.arange(100)), max_categories=200) is not None
    assert identifier_reason(pd.Series(np.random.default_rng(0).normal(size=100)), max_categories=200) is None
    assert identifier_reason(pd.Series(np.random.default_rng(0).permutation(100)), max_categories=200) is None


def test_the_credit_file_keeps_its_features_and_drops_the_order_reference(tmp_path: Path) -> None:
    frame = credit_file(1000)
    cfg = config(tmp_path, target="Risk", positive_label="bad", sensitive_attributes=["Age"])
    roles = decide_roles(cfg, frame, GENERATED_ID, GENERATED_TS, generated=[GENERATED_ID, GENERATED_TS])
    assert "order_ref" in roles.left_out
    assert "Age" not in roles.features
    assert roles.sensitive == ["Age"]
    assert (roles.positive_label, roles.negative_label) == ("bad", "good")
    assert not roles.has_event_time
    assert Roles.from_json(roles.to_json()) == roles


def test_numeric_sensitive_attributes_are_binned_by_quantiles_or_configured_edges(tmp_path: Path) -> None:
    frame = credit_file(2000)
    auto = decide_roles(config(tmp_path, target="Risk", positive_label="bad", sensitive_attributes=["Age"]), frame,
                        "i", "t")  # fmt: skip
    edges = auto.sensitive_bins["Age"]
    assert edges is not None
    assert len(edges) == 3
    counts = group_labels(frame["Age"], edges).value_counts()
    assert len(counts) == 4
    assert counts.min() > 0.15 * len(frame)
    fixed = decide_roles(
        config(
            tmp_path, target="Risk", positive_label="bad", sensitive_attributes=[{"column": "Age", "bins": [30, 50]}]
        ),
        frame,
        "i",
        "t",
    )
    assert fixed.sensitive_bins == {"Age": [30.0, 50.0]}
    assert group_labels(pd.Series([18, 30, 49.5, 50, None]), [30.0, 50.0]).tolist() == [
        "< 30",
        "30 to < 50",
        "30 to < 50",
        ">= 50",
        None,
    ]


def test_bins_on_a_text_attribute_are_a_config_error(tmp_path: Path) -> None:
    frame = credit_file(200)
    cfg = config(tmp_path, target="Risk", positive_label="bad", sensitive_attributes=[{"column": "housing", "bins": 3}])
    with pytest.raises(DatasetError, match=r"`sensitive_attributes`.*'housing' is not numeric"):
        decide_roles(cfg, frame, "i", "t")


def test_few_valued_numeric_attributes_are_grouped_by_value(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=100), "sex01": [0, 1] * 50, "y": [0, 1] * 50})
    roles = decide_roles(config(tmp_path, sensitive_attributes=["sex01"]), frame, "i", "t")
    assert roles.sensitive_bins == {"sex01": None}


def test_categorical_numbers_become_the_text_a_request_sends() -> None:
    assert as_category_text(pd.Series([1.0, 2.0, np.nan, 3.5])).tolist() == ["1", "2", None, "3.5"]
    assert as_category_text(pd.Series(["a", None])).tolist() == ["a", None]
    roles = Roles("n", "i", "t", "y", ["code", "x"], ["code"], [])
    out = prepare_features(pd.DataFrame({"code": [7, 8], "x": [1.5, 2.5]}), roles)
    assert out["code"].tolist() == ["7", "8"]
    assert out["x"].tolist() == [1.5, 2.5]


# --------------------------------------------------------------------------- config validate --dataset
def test_check_dataset_reads_the_header_and_the_target(tmp_path: Path) -> None:
    frame = credit_file(300)
    frame.to_csv(tmp_path / "credit.csv", index=False)
    base = {"name": "credit", "path": str(tmp_path / "credit.csv"), "target": "Risk", "sensitive_attributes": ["Age"]}
    lines = check_dataset(DatasetConfig.model_validate({**base, "positive_label": "bad"}))
    assert any("positive label 'bad'" in line for line in lines)
    assert any("Age (groups: < " in line for line in lines)
    with pytest.raises(DatasetError, match="positive_label"):
        check_dataset(DatasetConfig.model_validate(base))
    with pytest.raises(DatasetError, match=r"target names columns not in credit.csv: Outcome"):
        check_dataset(DatasetConfig.model_validate({**base, "target": "Outcome"}))
    with pytest.raises(DatasetError, match=r"pii names columns not in credit.csv: email"):
        check_dataset(
            DatasetConfig.model_validate({**base, "positive_label": "bad", "pii": {"email": {"action": "hash"}}})
        )
    frame.assign(Risk=np.where(frame.index % 3 == 0, "bad", np.where(frame.index % 3 == 1, "good", "ok"))).to_csv(
        tmp_path / "credit.csv", index=False
    )
    with pytest.raises(DatasetError, match=r"3 distinct values.*multiclass"):
        check_dataset(DatasetConfig.model_validate({**base, "positive_label": "bad"}))
