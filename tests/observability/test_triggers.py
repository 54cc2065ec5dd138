"""Retraining triggers: the config file's schema and each trigger's verdict on made-up inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops.config import load_model
from mlops.errors import ConfigError, NoPredictionsError, RegistryError
from observability.triggers import (
    ChampionVersion,
    DatasetSnapshot,
    DriftTrigger,
    Evaluation,
    NewDataTrigger,
    PerformanceTrigger,
    RetrainingTriggersConfig,
    SchemaChangeTrigger,
    TriggerResult,
    TriggerSettings,
    erasure_trigger,
    evaluate_triggers,
    launch_reason,
    load_triggers_config,
    new_data_trigger,
    performance_trigger,
    schedule_trigger,
    schema_change_trigger,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL, VERSION = "credit_risk", "1.0.0"
CHAMPION = ChampionVersion(
    MODEL, VERSION, datetime(2026, 11, 2, 9, 0, tzinfo=UTC), {"income": "number", "age": "number", "region": "string"}
)


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "retraining_triggers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def config_error(tmp_path: Path, data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_triggers_config(write_config(tmp_path, data))
    return caught.value


# --------------------------------------------------------------------------- config
def test_the_repository_file_watches_credit_risk_with_every_trigger() -> None:
    config = load_triggers_config(ROOT / "config" / "retraining_triggers.yaml")
    [settings] = config.watched()
    assert settings.model == "credit_risk"
    assert settings.dataset == (ROOT / "config" / "datasets" / "credit_risk.yaml").resolve()
    assert settings.dataset.is_file()
    assert settings.enabled == ["schedule", "drift", "performance", "new_data", "schema_change", "erasure"]


def test_a_model_keeps_the_defaults_it_leaves_out_and_null_turns_one_off(tmp_path: Path) -> None:
    config = load_triggers_config(
        write_config(
            tmp_path,
            {
                "schedule": "0 3 * * 1",
                "drift": {"share_of_drifted_columns": 0.3},
                "min_hours_between_runs": 12,
                "models": [
                    {"model": "loans", "dataset": "ds/loans.yaml"},
                    {
                        "model": "churn",
                        "schedule": None,
                        "drift": {"share_of_drifted_columns": 0.5, "window_days": 3},
                        "min_hours_between_runs": 0,
                    },
                ],
            },
        )
    )
    loans, churn = config.watched()
    assert loans.schedule == "0 3 * * 1"
    assert loans.drift == DriftTrigger(share_of_drifted_columns=0.3, window_days=7)
    assert loans.min_hours_between_runs == 12
    assert loans.dataset == (tmp_path / "ds" / "loans.yaml").resolve()
    assert churn.schedule is None
    assert churn.drift == DriftTrigger(share_of_drifted_columns=0.5, window_days=3)
    assert churn.min_hours_between_runs == 0
    assert churn.dataset is None
    assert churn.enabled == ["drift"]


def test_without_models_the_default_model_is_watched(tmp_path: Path) -> None:
    config = load_triggers_config(write_config(tmp_path, {"schedule": "0 3 * * 1"}))
    assert [s.model for s in config.watched("credit_risk")] == ["credit_risk"]
    assert config.watched() == []


@pytest.mark.parametrize(
    ("data", "key", "expected"),
    [
        ({"performance": {"metric": "auc", "min_value": 0.7}}, "performance.metric", "'roc_auc'"),
        ({"drift": {"share_of_drifted_columns": 0.3, "window": 7}}, "drift.window", "no such key"),
        (
            {"models": [{"model": "loans", "drift": {"share_of_drifted_columns": 0.3, "share": 0.3}}]},
            "models.0.drift.share",
            "no such key",
        ),
        (
            {"models": [{"model": "loans", "performance": {"metric": "mae", "min_value": 1}}]},
            "models.0.performance.metric",
            "'accuracy'",
        ),
        ({"new_data": {}}, "new_data", "min_new_rows, min_new_fraction or both"),
        ({"schema_change": {"changes": ["renamed"]}}, "schema_change.changes.0", "'missing'"),
        ({"schedule": "61 3 * * 1"}, "schedule", "five-field cron expression"),
        ({"models": [{"model": "loans", "schedule": "every monday"}]}, "models.0.schedule", "five-field cron"),
        ({"models": [{"model": "loans"}, {"model": "loans"}]}, "models", "each model once (repeated: loans)"),
        ({"triggers": {}}, "triggers", "no such key"),
    ],
)
def test_a_bad_file_names_file_key_and_what_was_expected(
    tmp_path: Path, data: dict[str, Any], key: str, expected: str
) -> None:
    error = config_error(tmp_path, data)
    assert error.file == str(tmp_path / "retraining_triggers.yaml")
    assert error.key == key
    assert expected in error.expected
    assert str(error).startswith(f"{tmp_path / 'retraining_triggers.yaml'}: {key}: ")


def test_config_validate_checks_the_triggers_file_through_the_same_schema(tmp_path: Path) -> None:
    from mlops_cli.config_files import CONFIG_FILES

    assert CONFIG_FILES["retraining_triggers.yaml"] is RetrainingTriggersConfig
    path = write_config(tmp_path, {"performance": {"metric": "rmse", "min_value": 0.5}})
    with pytest.raises(ConfigError, match="performance.metric"):
        load_model(path, RetrainingTriggersConfig)


# --------------------------------------------------------------------------- schedule
MONDAY_3AM = datetime(2026, 11, 9, 3, 0, tzinfo=UTC)


def test_schedule_fires_once_an_occurrence_has_passed() -> None:
    since = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, after 03:00
    fired = schedule_trigger("0 3 * * 1", since=since, since_what="the last run", now=MONDAY_3AM + timedelta(minutes=5))
    assert fired.fired
    assert fired.reason == (
        "schedule '0 3 * * 1' came due at 2026-11-09 03:00 UTC, after the last run (2026-11-02 10:00 UTC)"
    )
    assert fired.threshold == pytest.approx(161.0)
    assert fired.figure == pytest.approx(161.08, abs=0.01)


def test_schedule_stays_quiet_before_the_next_occurrence() -> None:
    since = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    quiet = schedule_trigger("0 3 * * 1", since=since, since_what="the last run", now=MONDAY_3AM - timedelta(minutes=1))
    assert not quiet.fired
    assert quiet.outcome == "quiet"
    assert "next at 2026-11-09 03:00 UTC" in quiet.reason


# --------------------------------------------------------------------------- new data
LINEAGE = {"training_rows": 9_800, "dataset_hash": "aaa", "data_quality": {"quarantined_rows": 200}}


def snapshot(rows: int, digest: str = "bbb", features: Mapping[str, str] | None = None) -> DatasetSnapshot:
    return DatasetSnapshot("credit_risk", "/data/credit.parquet", rows, digest, features or dict(CHAMPION.features))


def test_new_data_fires_at_the_row_bound_counting_quarantined_rows_as_read() -> None:
    config = NewDataTrigger(min_new_rows=2_000)
    fired = new_data_trigger(config, snapshot(12_000), LINEAGE, champion=CHAMPION)
    quiet = new_data_trigger(config, snapshot(11_999), LINEAGE, champion=CHAMPION)
    assert fired.fired
    assert (fired.figure, fired.threshold) == (2_000, 2_000)
    assert fired.reason == (
        "2000 new rows in credit_risk since credit_risk 1.0.0 was trained (12000 now, 10000 then; +20%) ≥ 2000"
    )
    assert not quiet.fired
    assert quiet.figure == 1_999


def test_new_data_fraction_bound_and_the_first_bound_reached_wins() -> None:
    by_fraction = NewDataTrigger(min_new_fraction=0.1)
    assert new_data_trigger(by_fraction, snapshot(11_000), LINEAGE, champion=CHAMPION).fired
    assert not new_data_trigger(by_fraction, snapshot(10_999), LINEAGE, champion=CHAMPION).fired
    both = NewDataTrigger(min_new_rows=50_000, min_new_fraction=0.1)
    assert new_data_trigger(both, snapshot(11_000), LINEAGE, champion=CHAMPION).threshold == 1_000


def test_the_same_file_has_no_new_rows_and_no_lineage_decides_nothing() -> None:
    config = NewDataTrigger(min_new_rows=1)
    same = new_data_trigger(config, snapshot(50_000, digest="aaa"), LINEAGE, champion=CHAMPION)
    assert not same.fired
    assert same.figure == 0
    assert "same content hash" in same.reason
    unknown = new_data_trigger(config, snapshot(50_000), {"dataset": "x"}, champion=CHAMPION)
    assert unknown.outcome == "no_data"
    assert "no training_rows" in unknown.reason


# --------------------------------------------------------------------------- schema change
def test_schema_change_names_missing_new_and_retyped_features() -> None:
    now = {"income": "string", "region": "string", "employer": "string"}  # age gone, income retyped
    fired = schema_change_trigger(SchemaChangeTrigger(), snapshot(1, features=now), champion=CHAMPION)
    assert fired.fired
    assert fired.figure == 3
    assert fired.reason == (
        "feature schema of credit_risk changed against credit_risk 1.0.0: missing age; new employer; "
        "retyped income (number → string)"
    )
    assert fired.details == {"missing": ["age"], "new": ["employer"], "retyped": {"income": ["number", "string"]}}


def test_same_schema_is_quiet_and_uncounted_changes_do_not_fire() -> None:
    same = schema_change_trigger(SchemaChangeTrigger(), snapshot(1), champion=CHAMPION)
    assert not same.fired
    assert same.reason == "credit_risk has the 3 features of credit_risk 1.0.0, same types"
    added = {**CHAMPION.features, "employer": "string"}
    only_breaking = SchemaChangeTrigger(changes=["missing", "retyped"])
    quiet = schema_change_trigger(only_breaking, snapshot(1, features=added), champion=CHAMPION)
    assert not quiet.fired
    assert "(not counted: new employer)" in quiet.reason


# --------------------------------------------------------------------------- performance
def labelled(rows: int, *, good: bool, seed: int = 0, unlabelled: int = 0) -> pd.DataFrame:
    """Scores that rank the labels well (``good``) or no better than chance."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    score = np.clip(label * 0.6 + rng.normal(0.2, 0.15, rows), 0, 1) if good else rng.random(rows)
    frame = pd.DataFrame({"income": rng.normal(50, 10, rows), "score": score, "label": pd.array(label, dtype="Int8")})
    if unlabelled:
        extra = pd.DataFrame({"income": [1.0] * unlabelled, "score": [0.5] * unlabelled})
        extra["label"] = pd.array([pd.NA] * unlabelled, dtype="Int8")
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


def test_performance_fires_below_the_minimum_and_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    config = PerformanceTrigger(metric="roc_auc", min_value=0.65, window_days=30, min_labelled_rows=200)
    bad = labelled(400, good=False, unlabelled=50)
    fired = performance_trigger(config, bad, champion=CHAMPION)
    expected = roc_auc_score(bad["label"][:400].astype(int), bad["score"][:400])
    assert fired.fired
    assert fired.figure == pytest.approx(expected)
    assert fired.reason == (
        f"roc_auc {expected:.3f} < 0.65 on 400 labelled predictions over the last 30 days (credit_risk 1.0.0)"
    )
    quiet = performance_trigger(config, labelled(400, good=True), champion=CHAMPION)
    assert not quiet.fired
    assert quiet.figure is not None
    assert quiet.figure > 0.9


def test_label_metrics_cut_the_score_at_one_half() -> None:
    frame = pd.DataFrame({"score": [0.9, 0.6, 0.4, 0.2, 0.7, 0.1], "label": [1, 0, 0, 0, 1, 1]})
    config = PerformanceTrigger(metric="accuracy", min_value=0.9, min_labelled_rows=6)
    result = performance_trigger(config, frame, champion=CHAMPION)
    assert result.figure == pytest.approx(4 / 6)  # predicted 1,1,0,0,1,0
    recall = performance_trigger(config.model_copy(update={"metric": "recall"}), frame, champion=CHAMPION)
    assert recall.figure == pytest.approx(2 / 3)


def test_too_few_labelled_rows_or_one_class_decide_nothing() -> None:
    config = PerformanceTrigger(min_value=0.99, min_labelled_rows=200)
    few = performance_trigger(config, labelled(199, good=False, unlabelled=500), champion=CHAMPION)
    assert few.outcome == "no_data"
    assert (
        few.reason == "199 labelled predictions of credit_risk 1.0.0 over the last 30 days; roc_auc needs at least 200"
    )
    one_class = pd.DataFrame({"score": np.linspace(0, 1, 300), "label": [1] * 300})
    assert "one class only" in performance_trigger(config, one_class, champion=CHAMPION).reason
    no_labels = performance_trigger(config, pd.DataFrame({"score": [0.1] * 300}), champion=CHAMPION)
    assert no_labels.outcome == "no_data"


# --------------------------------------------------------------------------- all triggers, fake inputs
@dataclass
class FakeInputs:
    """Inputs made up by a test; ``broken`` names inputs that raise."""

    champion_version: ChampionVersion | None = CHAMPION
    frame: pd.DataFrame | None = None
    dataset_rows: int = 10_000
    features: dict[str, str] = field(default_factory=lambda: dict(CHAMPION.features))
    broken: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def champion(self) -> ChampionVersion | None:
        self.calls.append("champion")
        if "champion" in self.broken:
            raise RegistryError("registry at http://mlflow:5000 unreachable")
        return self.champion_version

    def lineage(self, version: str) -> Mapping[str, Any]:
        self.calls.append("lineage")
        return LINEAGE

    def reference(self, version: str) -> Any:
        raise AssertionError("drift is not enabled in these tests")

    def predictions(self, version: str, window: timedelta, *, labels: bool) -> pd.DataFrame:
        self.calls.append(f"predictions({window.days}d, labels={labels})")
        if self.frame is None:
            raise NoPredictionsError(f"no predictions logged for {MODEL} {version}")
        return self.frame

    def dataset(self) -> DatasetSnapshot:
        self.calls.append("dataset")
        if "dataset" in self.broken:
            from mlops.errors import DatasetError

            raise DatasetError("dataset 'credit_risk' (key `path`): file /data/x.parquet does not exist")
        return snapshot(self.dataset_rows, features=self.features)


def settings(**changes: Any) -> TriggerSettings:
    base: dict[str, Any] = {
        "model": MODEL,
        "dataset": None,
        "schedule": "0 3 * * 1",
        "drift": None,
        "performance": PerformanceTrigger(min_value=0.65, min_labelled_rows=200),
        "new_data": NewDataTrigger(min_new_rows=1_000),
        "schema_change": SchemaChangeTrigger(),
        "min_hours_between_runs": 24,
    }
    return TriggerSettings(**{**base, **changes})


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_every_enabled_trigger_is_evaluated_and_the_dataset_read_once() -> None:
    inputs = FakeInputs(frame=labelled(300, good=False), dataset_rows=12_000)
    evaluation = evaluate_triggers(
        settings(), inputs, last_launch=None, first_evaluated=NOW - timedelta(hours=1), now=NOW
    )
    assert [(r.trigger, r.outcome) for r in evaluation.results] == [
        ("schedule", "fired"),  # counted from the champion's registration (2026-11-02)
        ("performance", "fired"),
        ("new_data", "fired"),
        ("schema_change", "quiet"),
    ]
    assert "after credit_risk 1.0.0 was registered (2026-11-02 09:00 UTC)" in evaluation.results[0].reason
    assert inputs.calls.count("dataset") == 1
    assert "predictions(30d, labels=True)" in inputs.calls
    assert set(evaluation.timings) == {"champion", "schedule", "performance", "new_data", "schema_change"}
    assert evaluation.champion == VERSION


def test_the_schedule_counts_from_the_last_trigger_started_run_first() -> None:
    inputs = FakeInputs(frame=labelled(300, good=True))
    recent = evaluate_triggers(
        settings(), inputs, last_launch=datetime(2026, 11, 16, 4, 0, tzinfo=UTC), first_evaluated=NOW, now=NOW
    )
    assert recent.results[0].outcome == "quiet"
    assert "the last trigger-started run: 2026-11-16 04:00 UTC" in recent.results[0].reason
    never_seen = evaluate_triggers(
        settings(), FakeInputs(champion_version=None), last_launch=None, first_evaluated=NOW, now=NOW
    )
    assert never_seen.results[0].outcome == "quiet"
    assert "the triggers first looked" in never_seen.results[0].reason


def test_without_a_champion_only_the_schedule_can_fire() -> None:
    inputs = FakeInputs(champion_version=None)
    evaluation = evaluate_triggers(
        settings(), inputs, last_launch=None, first_evaluated=NOW - timedelta(days=30), now=NOW
    )
    assert [r.outcome for r in evaluation.results] == ["fired", "no_data", "no_data", "no_data"]
    assert evaluation.results[1].reason == "credit_risk has no champion version to compare with"
    assert evaluation.results[1].threshold_text == "< 0.65 (roc_auc)"
    assert "dataset" not in inputs.calls


def test_an_unreadable_input_is_an_error_of_its_triggers_only() -> None:
    inputs = FakeInputs(frame=labelled(300, good=False), broken={"dataset"})
    evaluation = evaluate_triggers(settings(), inputs, last_launch=None, first_evaluated=NOW, now=NOW)
    outcomes = {r.trigger: r.outcome for r in evaluation.results}
    assert outcomes == {"schedule": "fired", "performance": "fired", "new_data": "error", "schema_change": "error"}
    assert evaluation.errors[0].reason.startswith("cannot evaluate: dataset 'credit_risk' (key `path`)")
    down = evaluate_triggers(
        settings(), FakeInputs(broken={"champion"}), last_launch=None, first_evaluated=NOW, now=NOW
    )
    assert [r.outcome for r in down.results] == ["quiet", "error", "error", "error"]
    assert "registry at http://mlflow:5000 unreachable" in down.results[1].reason


def test_no_predictions_logged_is_no_data_for_performance() -> None:
    evaluation = evaluate_triggers(
        settings(schedule=None, new_data=None, schema_change=None),
        FakeInputs(frame=None),
        last_launch=None,
        first_evaluated=NOW,
        now=NOW,
    )
    [result] = evaluation.results
    assert result.outcome == "no_data"
    assert result.reason.startswith("0 labelled predictions of credit_risk 1.0.0")


# --------------------------------------------------------------------------- the run's reason
def result(trigger: Any, reason: str, outcome: Any = "fired") -> TriggerResult:
    return TriggerResult(trigger, outcome, reason)


def test_the_launch_reason_lists_every_fired_trigger() -> None:
    evaluation = Evaluation(
        MODEL,
        NOW,
        [
            result("drift", "drift share 0.42 ≥ 0.30 over the last 7 days (credit_risk 1.0.0)"),
            result("performance", "roc_auc 0.700 ≥ 0.65 on 300 labelled predictions", "quiet"),
            result("new_data", "12000 new rows in credit_risk"),
        ],
    )
    assert launch_reason(evaluation) == (
        "retraining triggers drift, new_data: drift share 0.42 ≥ 0.30 over the last 7 days (credit_risk 1.0.0); "
        "12000 new rows in credit_risk"
    )


def test_a_long_reason_is_cut_to_the_run_configs_bound() -> None:
    from platform_config import RunConfig

    many = Evaluation(MODEL, NOW, [result("schema_change", "x" * 300), result("drift", "y" * 300)])
    text = launch_reason(many)
    assert len(text) == 500
    assert text.endswith("…")
    assert any(getattr(m, "max_length", None) == 500 for m in RunConfig.model_fields["reason"].metadata)
    with pytest.raises(ValueError, match="no trigger fired"):
        launch_reason(Evaluation(MODEL, NOW, [result("drift", "quiet", "quiet")]))


def test_erasure_fires_while_the_champion_is_tagged_erasure_pending() -> None:
    from dataclasses import replace

    quiet = erasure_trigger(CHAMPION)
    assert quiet.outcome == "quiet"
    tagged = erasure_trigger(replace(CHAMPION, erasure_pending="erasure-20261130T120000Z-abc123"))
    assert tagged.fired
    assert "erasure-20261130T120000Z-abc123" in tagged.reason
    assert "credit_risk 1.0.0" in tagged.reason
