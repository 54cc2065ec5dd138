"""Drift monitoring: the reference saved at register time, Evidently's comparison, the outputs and
``mlops monitor drift``, on small generated frames."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.errors import InsufficientDataError, MonitoringError, ReferenceNotFoundError
from observability.drift import (
    Reference,
    build_reference,
    detect_drift,
    load_model_reference,
    load_reference,
    reference_dir,
    save_reference,
    write_drift_outputs,
)

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = ["income", "age", "debt_ratio", "tenure"]
CATEGORICAL = ["region", "segment"]
MODEL, VERSION = "credit_risk", "1.0.0"


def make_frame(
    rows: int,
    seed: int,
    *,
    shift: dict[str, float] | None = None,
    new_region_share: float = 0.0,
    score_shift: float = 0.0,
    flip_labels: bool = False,
) -> pd.DataFrame:
    """Features, a score that depends on income, a label drawn from the score, and PII columns."""
    rng = np.random.default_rng(seed)
    shift = shift or {}
    frame = pd.DataFrame(
        {
            "income": rng.normal(50 + shift.get("income", 0.0), 10, rows),
            "age": rng.normal(40 + shift.get("age", 0.0), 12, rows),
            "debt_ratio": rng.beta(2, 5, rows) + shift.get("debt_ratio", 0.0),
            "tenure": rng.integers(0, 30, rows).astype(float),
            "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
            "segment": rng.choice([1, 2, 3], rows),
        }
    )
    if new_region_share:
        frame["region"] = np.where(rng.random(rows) < new_region_share, "offshore", frame["region"])
    score = 1 / (1 + np.exp(-(frame["income"] - 50) / 8 - score_shift))
    frame["score"] = score
    label = (rng.random(rows) < score).astype(int)
    frame["label"] = 1 - label if flip_labels else label
    frame["email"] = [f"person{i}@example.com" for i in range(rows)]
    frame["ssn"] = [f"{seed:03d}-{i:02d}-{i:04d}" for i in range(rows)]
    return frame


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    frame = make_frame(3000, seed=1)
    # An index of identifiers: never part of the reference either.
    frame.index = pd.Index([f"customer-{i}" for i in range(len(frame))], name="customer_id")
    return frame


@pytest.fixture(scope="module")
def reference(training: pd.DataFrame, state_dir: Path) -> Reference:
    """Saved and loaded back as the register step and the CLI do (800 sample rows: K-S/chi-square)."""
    ref = build_reference(
        training,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction=training["score"],
        target=training["label"],
        sample_rows=800,
    )
    save_reference(ref, reference_dir(state_dir, MODEL, VERSION))
    return load_model_reference(state_dir, MODEL, VERSION)


# --------------------------------------------------------------------------- reference
def test_unlisted_columns_never_reach_the_saved_reference(training: pd.DataFrame, tmp_path: Path) -> None:
    ref = build_reference(training, numeric=NUMERIC, categorical=CATEGORICAL, sample_rows=500)
    folder = save_reference(ref, tmp_path / "ref")
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["reference.json", "sample.parquet"]
    raw = b"".join(f.read_bytes() for f in files)
    for leaked in (b"email", b"example.com", b"ssn", b"customer", b"score", b'"label"'):
        assert leaked not in raw, leaked
    assert set(pd.read_parquet(folder / "sample.parquet").columns) == {*NUMERIC, *CATEGORICAL}
    meta = json.loads((folder / "reference.json").read_text())
    assert [f["name"] for f in meta["features"]] == NUMERIC + CATEGORICAL


def test_reference_round_trip_keeps_statistics_and_metadata(
    reference: Reference, training: pd.DataFrame, state_dir: Path
) -> None:
    assert (reference.model, reference.version) == (MODEL, VERSION)
    assert reference.training_rows == len(training)
    assert len(reference.sample) == 800
    assert reference.numeric == NUMERIC
    assert reference.categorical == CATEGORICAL
    income = reference.features["income"]
    assert income.kind == "numeric"
    assert income.count == len(training)
    assert income.null_share == 0
    assert income.quantiles is not None
    assert income.quantiles["p50"] == pytest.approx(training["income"].median())
    assert income.histogram is not None
    assert sum(income.histogram["counts"]) == len(training)
    segment = reference.features["segment"]
    assert segment.kind == "categorical"
    assert segment.value_type == "number"
    assert segment.categories is not None
    assert set(segment.categories) == {"1", "2", "3"}
    assert sum(segment.categories.values()) == pytest.approx(1.0)
    assert reference.prediction is not None
    assert reference.prediction.name == "score"
    assert reference.target is not None
    assert reference.target.name == "label"
    assert reference.positive_label == "1"
    assert reference.folder == reference_dir(state_dir, MODEL, VERSION)
    meta = json.loads((reference.folder / "reference.json").read_text())
    assert meta["format_version"] == 1
    assert meta["training_rows"] == 3000
    assert meta["created"]


def test_missing_reference_names_model_version_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ReferenceNotFoundError) as info:
        load_model_reference(tmp_path, "fraud", "2.3.1")
    message = str(info.value)
    assert "'fraud'" in message
    assert "2.3.1" in message
    assert "register" in message


@pytest.mark.parametrize(
    ("numeric", "categorical", "named"),
    [
        (["income", "nope"], [], "nope"),
        (["region"], [], "region"),
        (["income"], ["income"], "income"),
        ([], [], "at least one feature"),
    ],
)
def test_bad_reference_input_is_named(
    training: pd.DataFrame, numeric: list[str], categorical: list[str], named: str
) -> None:
    with pytest.raises(MonitoringError, match=named):
        build_reference(training, numeric=numeric, categorical=categorical)


def test_positive_label_must_be_a_target_value(training: pd.DataFrame) -> None:
    with pytest.raises(MonitoringError, match="'yes'"):
        build_reference(training, numeric=["income"], categorical=[], target=training["label"], positive_label="yes")


# --------------------------------------------------------------------------- drift
def test_same_distribution_gives_a_low_drift_share(reference: Reference) -> None:
    result = detect_drift(reference, make_frame(1000, seed=2), prediction_column="score", target_column=None)
    assert result.tested_count == 6
    # K-S and chi-square at alpha 0.05: one chance false alarm among six columns is allowed.
    assert result.drift_share <= 1 / 6
    assert not result.dataset_drift
    assert result.prediction is not None
    assert result.prediction.drifted is False
    assert (result.schema.missing, result.schema.type_changed, result.schema.all_null) == ([], {}, [])
    # Columns of the current data that are not features, nor the compared prediction: listed as new.
    assert result.schema.new == ["label", "email", "ssn"]
    assert result.features["income"].method == "K-S p_value"
    assert result.features["region"].method == "chi-square p_value"


def test_shifted_columns_and_a_new_category_are_named_drifted(reference: Reference) -> None:
    current = make_frame(1000, seed=3, shift={"income": 8.0, "age": 10.0}, new_region_share=0.3)
    result = detect_drift(reference, current, prediction_column=None, target_column=None, drift_share=0.25)
    assert {"income", "age", "region"} <= set(result.drifted_features)
    assert result.dataset_drift is True  # at least 3 of 6 columns, over the 0.25 asked for
    assert result.drift_share_threshold == 0.25
    assert result.drifted_count == len(result.drifted_features)
    assert result.drift_share == pytest.approx(result.drifted_count / result.tested_count)
    region = result.features["region"]
    assert region.unseen == ["offshore"]
    assert region.unseen_share == pytest.approx((current["region"] == "offshore").mean())
    income = result.features["income"]
    assert income.method == "K-S p_value"
    assert income.threshold == 0.05
    assert income.score is not None
    assert income.score < 0.05
    assert result.features["tenure"].unseen == []
    assert result.features["tenure"].unseen_share is None


def test_larger_reference_uses_the_distance_methods(training: pd.DataFrame) -> None:
    ref = replace(
        build_reference(training, numeric=NUMERIC, categorical=CATEGORICAL, sample_rows=1500),
        model=MODEL,
        version=VERSION,
    )
    result = detect_drift(
        ref, make_frame(1500, seed=4, shift={"income": 5.0}, new_region_share=0.2), prediction_column=None
    )
    assert result.features["income"].method == "Wasserstein distance (normed)"
    assert result.features["region"].method == "Jensen-Shannon distance"
    assert result.features["income"].threshold == 0.1
    assert {"income", "region"} <= set(result.drifted_features)
    assert "age" not in result.drifted_features


def test_prediction_drift_is_detected(reference: Reference) -> None:
    current = make_frame(1000, seed=5, score_shift=1.5).rename(columns={"score": "proba"})
    result = detect_drift(reference, current, prediction_column="proba")
    assert result.prediction is not None
    assert result.prediction.column == "score"
    assert result.prediction.drifted is True
    assert result.prediction.score is not None
    assert result.prediction.score < 0.05
    # The features did not move: only the model's output did.
    assert "income" not in result.drifted_features


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    pos, neg = scores[labels == 1], scores[labels == 0]
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def test_performance_with_labels_matches_an_independent_computation(reference: Reference) -> None:
    current = make_frame(900, seed=6)
    current.loc[current.index[:150], "label"] = np.nan  # labels not arrived yet
    result = detect_drift(reference, current, prediction_column="score", target_column="label")
    perf = result.performance
    assert perf is not None
    assert perf.labelled_rows == 750
    assert perf.compared_rows == 750
    labelled = current.dropna(subset=["label"])
    labels, scores = labelled["label"].to_numpy().astype(int), labelled["score"].to_numpy()
    assert perf.current["accuracy"] == pytest.approx(((scores >= 0.5) == labels).mean())
    assert perf.current["roc_auc"] == pytest.approx(_auc(labels, scores))
    assert set(perf.reference) == set(perf.current) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    assert 0.6 < perf.reference["roc_auc"] < 0.95
    assert result.target is not None
    assert result.target.drifted is False
    assert result.target.current_null_share == pytest.approx(150 / 900)

    flipped = detect_drift(
        reference, make_frame(900, seed=6, flip_labels=True), prediction_column="score", target_column="label"
    )
    assert flipped.performance is not None
    assert flipped.performance.current["roc_auc"] < 0.5 < perf.current["roc_auc"]


def test_performance_with_predicted_labels_and_text_classes(training: pd.DataFrame) -> None:
    def with_text_labels(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(
            decision=np.where(frame["score"] >= 0.5, "approve", "decline"),
            outcome=np.where(frame["label"] == 1, "approve", "decline"),
        )

    train = with_text_labels(training)
    ref = build_reference(
        train,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction=train["decision"],
        target=train["outcome"],
        positive_label="approve",
        sample_rows=800,
    )
    current = with_text_labels(make_frame(600, seed=15))
    current.loc[current.index[:20], "decision"] = None  # not scored: left out of performance
    result = detect_drift(
        replace(ref, model=MODEL, version=VERSION), current, prediction_column="decision", target_column="outcome"
    )
    perf = result.performance
    assert perf is not None
    assert perf.compared_rows == 580
    scored = current.dropna(subset=["decision"])
    approved, right = scored["decision"] == "approve", scored["outcome"] == "approve"
    assert perf.current["accuracy"] == pytest.approx((scored["decision"] == scored["outcome"]).mean())
    assert perf.current["precision"] == pytest.approx((approved & right).sum() / approved.sum())
    assert perf.current["recall"] == pytest.approx((approved & right).sum() / right.sum())
    assert "roc_auc" not in perf.current  # labels, not probabilities
    assert result.prediction is not None
    assert result.prediction.kind == "categorical"


def test_too_few_labels_is_a_note_not_an_error(reference: Reference) -> None:
    current = make_frame(500, seed=7)
    current.loc[current.index[50:], "label"] = np.nan
    result = detect_drift(reference, current, prediction_column="score", target_column="label")
    assert result.performance is None
    assert result.target is None
    assert any("50 labelled rows" in note for note in result.notes)


def test_schema_changes_are_reported_not_raised(reference: Reference) -> None:
    current = make_frame(600, seed=8).drop(columns=["tenure"])
    current["age"] = "unknown"
    current["debt_ratio"] = np.nan
    current["channel"] = "web"
    result = detect_drift(reference, current, prediction_column=None, ignore_columns=["email", "ssn", "score", "label"])
    schema = result.schema
    assert schema.detected
    assert schema.missing == ["tenure"]
    assert schema.new == ["channel"]
    assert schema.type_changed == {"age": {"reference": "number", "current": "string"}}
    assert schema.all_null == ["debt_ratio"]
    statuses = {c: d.status for c, d in result.features.items()}
    assert statuses == {
        "income": "tested",
        "age": "type_changed",
        "debt_ratio": "all_null",
        "tenure": "missing",
        "region": "tested",
        "segment": "tested",
    }
    assert result.tested_count == 3
    assert result.features["debt_ratio"].current_null_share == 1.0
    assert np.isfinite(result.drift_share)


def test_no_comparable_feature_is_an_error_naming_the_problems(reference: Reference) -> None:
    current = pd.DataFrame({"other": range(200)})
    with pytest.raises(MonitoringError, match="missing"):
        detect_drift(reference, current)


@pytest.mark.parametrize("rows", [0, 1, 99])
def test_empty_or_tiny_current_raises(reference: Reference, rows: int) -> None:
    current = make_frame(200, seed=9).iloc[:rows]
    with pytest.raises(InsufficientDataError, match=rf"has {rows} rows.*at least 100") as info:
        detect_drift(reference, current, prediction_column="score")
    assert MODEL in str(info.value)
    assert VERSION in str(info.value)


def test_unknown_prediction_column_is_named(reference: Reference) -> None:
    with pytest.raises(MonitoringError, match="'pred'"):
        detect_drift(reference, make_frame(200, seed=10), prediction_column="pred")


# --------------------------------------------------------------------------- outputs
def test_outputs_write_report_summary_and_gauges(reference: Reference, tmp_path: Path) -> None:
    current = make_frame(600, seed=11, shift={"income": 8.0})
    result = detect_drift(reference, current, prediction_column="score", target_column="label")
    outputs = write_drift_outputs(result, tmp_path / "out", state_dir=tmp_path / "state")

    html = outputs.html.read_text()
    assert "<html" in html
    assert 'src="http' not in html
    assert outputs.performance_html is not None
    assert outputs.performance_html.is_file()
    summary = json.loads(outputs.summary.read_text())
    assert summary["drift_share"] == pytest.approx(result.drift_share)
    assert summary["reference"] == {
        "model": MODEL,
        "version": VERSION,
        "created": reference.created,
        "training_rows": 3000,
        "sample_rows": 800,
    }
    assert summary["rows"]["current"] == 600
    assert summary["rows"]["current_sample"] == 600
    assert summary["features"]["income"]["drifted"] is True
    assert summary["features"]["income"]["method"] == "K-S p_value"
    assert summary["performance"]["current"]["accuracy"] == pytest.approx(result.performance.current["accuracy"])  # type: ignore[union-attr]

    assert outputs.metrics == tmp_path / "state" / "metrics" / f"drift_{MODEL}.prom"
    text = outputs.metrics.read_text()
    share = re.search(rf'^mlops_drift_share{{model="{MODEL}",version="{VERSION}"}} (\S+)$', text, re.MULTILINE)
    assert share is not None
    assert float(share.group(1)) == pytest.approx(result.drift_share)
    assert f'mlops_feature_drift_score{{feature="income",model="{MODEL}",version="{VERSION}"}}' in text
    assert "mlops_prediction_drift_score{" in text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failed_push_raises_after_the_gauge_file_is_written(reference: Reference, tmp_path: Path) -> None:
    result = detect_drift(reference, make_frame(300, seed=12), prediction_column="score")
    gateway = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(MonitoringError, match=re.escape(gateway)):
        write_drift_outputs(result, tmp_path / "out", state_dir=tmp_path / "state", pushgateway=gateway)
    text = (tmp_path / "state" / "metrics" / f"drift_{MODEL}.prom").read_text()
    assert f"{result.drift_share}" in text.split("mlops_drift_share{")[1].splitlines()[0]
    assert (tmp_path / "out" / "drift.json").is_file()


# --------------------------------------------------------------------------- CLI
def _config_dir(tmp_path: Path, state_dir: Path) -> Path:
    config = tmp_path / "config"
    (config / "environments").mkdir(parents=True)
    (config / "platform.yaml").write_text(f"state_dir: {state_dir}\n")
    (config / "environments" / "dev.yaml").write_text("{}\n")
    return config


def test_cli_drift_end_to_end(reference: Reference, state_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlops_cli.main import app

    current = tmp_path / "batch.csv"
    make_frame(400, seed=13, new_region_share=0.3).to_csv(current, index=False)
    out = tmp_path / "report"
    args = ["monitor", "drift", "--model", MODEL, "--version", VERSION, "--current", str(current), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--config-dir", str(_config_dir(tmp_path, state_dir))])
    assert result.exit_code == 0, result.output
    assert "drift share" in result.output
    assert "region" in result.output
    summary = json.loads((out / "drift.json").read_text())
    assert "region" in summary["drifted_features"]
    assert summary["prediction"]["column"] == "score"
    assert summary["performance"] is not None
    assert (out / "drift.html").is_file()
    assert (out / "performance.html").is_file()
    gauges = (state_dir / "metrics" / f"drift_{MODEL}.prom").read_text()
    assert f'mlops_drift_share{{model="{MODEL}",version="{VERSION}"}} {summary["drift_share"]}' in gauges


def test_cli_missing_reference_is_one_error_line(state_dir: Path, tmp_path: Path) -> None:
    current = tmp_path / "batch.csv"
    current.write_text("income\n1\n")
    args = ["monitor", "drift", "--model", MODEL, "--version", "9.9.9", "--current", str(current)]
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args, "--config-dir", str(_config_dir(tmp_path, state_dir))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: no drift reference for model 'credit_risk' version 9.9.9")


def test_load_reference_refuses_another_format_version(reference: Reference, tmp_path: Path) -> None:
    folder = save_reference(reference, tmp_path / "ref")
    meta = json.loads((folder / "reference.json").read_text())
    (folder / "reference.json").write_text(json.dumps(meta | {"format_version": 99}))
    with pytest.raises(MonitoringError, match="format version 99"):
        load_reference(folder)


class _Champion:
    semver = VERSION


class _Registry:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def get(self, name: str, ref: str) -> _Champion:
        self.asked.append((name, ref))
        return _Champion()


def test_cli_version_defaults_to_the_champion(
    reference: Reference, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlops_cli.main import app
    from platform_config import PlatformConfig

    registry = _Registry()
    monkeypatch.setattr(PlatformConfig, "open_registry", lambda self: registry)
    current = tmp_path / "batch.parquet"
    make_frame(300, seed=14).to_parquet(current)
    args = ["monitor", "drift", "--model", MODEL, "--current", str(current), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--config-dir", str(_config_dir(tmp_path, state_dir))])
    assert result.exit_code == 0, result.output
    assert registry.asked == [(MODEL, "champion")]
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["version"] == VERSION


@pytest.mark.parametrize(("text", "hours"), [("30m", 0.5), ("24h", 24), ("7d", 168), ("2w", 336)])
def test_since_parses_durations(text: str, hours: float) -> None:
    from mlops_cli.monitor_drift import parse_since

    assert parse_since(text).total_seconds() == hours * 3600


@pytest.mark.parametrize("text", ["", "0h", "3x", "h", "-1d", "1.5h"])
def test_since_refuses_other_text(text: str) -> None:
    import typer

    from mlops_cli.monitor_drift import parse_since

    with pytest.raises(typer.BadParameter, match="positive duration"):
        parse_since(text)


def test_current_file_must_be_csv_or_parquet(tmp_path: Path) -> None:
    from mlops.errors import DatasetError
    from mlops_cli.monitor_drift import read_table

    (tmp_path / "rows.json").write_text("[]")
    with pytest.raises(DatasetError, match=r"rows\.json: expected a \.csv or \.parquet file"):
        read_table(tmp_path / "rows.json")


def test_a_current_csv_is_read_as_the_versions_dataset_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --current CSV exported like the model's training data (cp1252, ";", decimal commas,
    declared in the dataset config and kept in the version's lineage) reads as its UTF-8 twin,
    as batch scoring reads it; a version the registry does not know reads it as a plain CSV."""
    from mlops.errors import DatasetError
    from mlops_cli.monitor_drift import current_data, read_table
    from platform_config import PlatformConfig

    class Registry(_Registry):
        def lineage(self, info: _Champion) -> dict[str, Any]:
            return {"roles": {"encoding": "cp1252", "decimal": ",", "na_values": ["?"]}}

    frame = make_frame(60, seed=3).assign(city="Köln")
    frame.loc[::7, "income"] = np.nan
    plain, exported = tmp_path / "plain.csv", tmp_path / "exported.csv"
    frame.to_csv(plain, index=False)
    frame.to_csv(exported, index=False, sep=";", decimal=",", encoding="cp1252", na_rep="?")
    monkeypatch.setattr(PlatformConfig, "open_registry", lambda self: Registry())
    read = current_data(
        current=exported, platform=PlatformConfig(state_dir=tmp_path), model=MODEL, version=VERSION,
        since=timedelta(hours=1), target=None,
    )  # fmt: skip
    pd.testing.assert_frame_equal(read, read_table(plain))
    assert read["income"].isna().sum() == len(range(0, 60, 7))

    told = r"exported\.csv is not UTF-8 text \(undecodable byte at offset \d+, line 2\): save it as UTF-8"
    with pytest.raises(DatasetError, match=told):
        read_table(exported)


def test_a_training_reference_keeps_its_scores_apart_from_a_feature_named_score(tmp_path: Path) -> None:
    """Credit data often has a column named "score": the version's own scores are stored under
    a name of their own, and drift of the logged traffic still compares both."""
    from mlops.contracts import DataContract, TrainedModel, save_model
    from mlops.roles import Roles
    from mlops.schema import ServingSchema
    from observability.drift import load_reference, save_training_reference
    from training.config import ModelConfig
    from training.modeling import FeatureSchema, build_pipeline

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"score": rng.integers(300, 850, 1500), "region": rng.choice(["n", "s"], 1500).astype(object)})
    frame["outcome"] = np.where(frame["score"] < 550, "bad", "good")
    model = build_pipeline(ModelConfig(), FeatureSchema(numeric=("score",), categorical=("region",)))
    model.fit(frame[["score", "region"]], (frame["outcome"] == "bad").astype(int))
    save_model(model, tmp_path / "model.joblib")
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    roles = Roles(
        name="cs", entity="id", timestamp="ts", target="outcome", features=["score", "region"],
        categorical=["region"], sensitive=[], positive_label="bad", negative_label="good",
    )  # fmt: skip
    trained = TrainedModel(
        family="hist_gradient_boosting", serving_schema=ServingSchema.coerce({"score": "number", "region": "string"}),
        schema_hash="s", training_fingerprint="f", holdout="random",
    )  # fmt: skip
    folder = save_training_reference(
        tmp_path / "model.joblib", tmp_path / "train.parquet", trained,
        DataContract(roles=roles, dataset_hash="h", rows=len(frame)),
        state_dir=tmp_path / "state", model_name="cs", version="1.0.0",
    )  # fmt: skip
    reference = load_reference(folder)
    assert set(reference.features) == {"score", "region"}
    assert reference.prediction is not None
    assert reference.prediction.name not in reference.features

    # Served traffic, logged: the feature "score" beside the log's own "score" (the model's output).
    from mlops_cli.monitor_drift import current_data
    from observability.prediction_log import PredictionLogger, logged_name
    from platform_config import load_platform_config

    platform = load_platform_config(ROOT / "config", "dev").model_copy(update={"state_dir": tmp_path / "state"})
    served = frame.head(600)[["score", "region"]]
    scores = model.predict_proba(served)[:, 1]
    logger = PredictionLogger(tmp_path / "state" / "predictions")
    rows = served.to_dict("records")
    for i, row in enumerate(rows):
        logger.record([row], scores[i : i + 1], model="cs", version="1.0.0", request_ids=f"r{i}")
    assert logger.close()
    assert logged_name("score") != "score"

    window = timedelta(hours=1)
    current = current_data(
        current=None, platform=platform, model="cs", version="1.0.0", since=window, target=None,
        prediction=reference.prediction.name,
    )  # fmt: skip
    np.testing.assert_array_equal(current["score"].to_numpy(), served["score"].to_numpy())
    np.testing.assert_allclose(current[reference.prediction.name].to_numpy(), scores)
    result = detect_drift(reference, current, prediction_column=reference.prediction.name)
    assert result.features["score"].status == "tested"
    assert not result.features["score"].drifted  # the feature against itself, not against the scores
    assert result.prediction is not None
    assert result.prediction.status == "tested"
    # Read as the log names them by default (the triggers): the scores as "score", the feature
    # under its logged name; the drift trigger compares the feature, never the scores, with it.
    from observability.triggers import ChampionVersion, DriftTrigger, drift_trigger

    plain = current_data(current=None, platform=platform, model="cs", version="1.0.0", since=window, target=None)
    np.testing.assert_allclose(plain["score"].to_numpy(), scores)
    np.testing.assert_array_equal(plain[logged_name("score")].to_numpy(), served["score"].to_numpy())
    champion = ChampionVersion("cs", "1.0.0", None, {"score": "number", "region": "string"})
    config = DriftTrigger(share_of_drifted_columns=0.5, window_days=1)
    judged = drift_trigger(config, reference, plain, champion=champion)
    assert judged.outcome == "quiet", judged
