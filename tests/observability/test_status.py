"""The SLOs of ``mlops monitor status`` and the command itself.

The p95 is checked against Prometheus's own ``histogram_quantile`` (promtool evaluates the same
bucket counts), on the text a real ``serving.metrics.ServingMetrics`` renders. The command runs
through typer's CliRunner on a state folder holding a real MLflow registry (two versions, champion
and challenger), a real Feast store (a served view ten minutes old and an unserved stale one), run
folders written by ``record_step``, and a drift summary.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from mlops.errors import MonitoringError
from mlops.state import RUN_DIR_ENV, StateLayout, record_step, write_run_meta
from observability.status import (
    LatencySummary,
    SloConfig,
    drift_summary_path,
    evaluate_slos,
    histogram_quantile,
    latest_drift,
    serving_latency,
)
from serving.metrics import LATENCY_BUCKETS, ServingMetrics
from tests.observability.test_alerts import prometheus_binary

ROOT = Path(__file__).resolve().parents[2]
INF = math.inf
PROMQL_P95 = "histogram_quantile(0.95, sum by (endpoint, le) (serving_request_latency_seconds_bucket))"


# --------------------------------------------------------------------------- histogram_quantile
def test_quantile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # The serving alert's unit test: 30 / 40 / 60 / 60 cumulative, p95 462.5 ms.
    assert histogram_quantile(0.95, [(0.1, 30), (0.25, 40), (0.5, 60), (INF, 60)]) == pytest.approx(0.4625)
    # In the first bucket the lower bound is 0.
    assert histogram_quantile(0.5, [(0.1, 10), (INF, 10)]) == pytest.approx(0.05)
    # Unordered, split input (two pods) is merged and sorted first.
    assert histogram_quantile(
        0.95, [(INF, 30), (0.5, 30), (0.25, 20), (0.1, 15), (0.1, 15), (0.25, 20), (0.5, 30), (INF, 30)]
    ) == (pytest.approx(0.4625))


def test_quantile_edge_cases_follow_prometheus() -> None:
    assert histogram_quantile(0.95, [(0.1, 1), (0.25, 2), (INF, 10)]) == 0.25  # rank in +Inf: highest finite bound
    assert histogram_quantile(0.95, [(0.1, 0), (INF, 0)]) is None  # no observations
    assert histogram_quantile(0.95, [(0.1, 5), (0.25, 10)]) is None  # no +Inf bucket
    assert histogram_quantile(0.95, [(INF, 10)]) is None  # fewer than two buckets
    # A non-monotonic scrape is evened out rather than giving a negative bucket.
    assert histogram_quantile(0.5, [(0.1, 10), (0.25, 8), (INF, 10)]) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="between 0 and 1"):
        histogram_quantile(1.5, [(0.1, 1), (INF, 1)])


def serving_text() -> str:
    """What /metrics of a serving process shows after 100 /predict requests (90 fast, 10 at 300 ms)
    and 20 /predict/batch requests at 20 ms."""
    metrics = ServingMetrics()
    for _ in range(90):
        metrics.request_latency.labels("/predict").observe(0.003)
    for _ in range(10):
        metrics.request_latency.labels("/predict").observe(0.3)
    for _ in range(20):
        metrics.request_latency.labels("/predict/batch").observe(0.02)
    metrics.request_latency.labels("/health")  # a label set with no requests
    metrics.predictions.labels("champion").inc(120)
    return metrics.render().decode()


def test_p95_per_endpoint_from_a_serving_scrape() -> None:
    summary = serving_latency(serving_text(), source="saved.prom")
    by = {e.endpoint: e for e in summary.endpoints}
    assert set(by) == {"/predict", "/predict/batch", "/health"}
    assert (by["/predict"].requests, by["/predict"].p95_s) == (100.0, pytest.approx(0.375))
    assert (by["/predict/batch"].requests, by["/predict/batch"].p95_s) == (20.0, pytest.approx(0.02425))
    assert (by["/health"].requests, by["/health"].p95_s) == (0.0, None)
    assert summary.worst is by["/predict"]
    assert not by["/predict"].beyond_buckets


def test_p95_matches_prometheus_histogram_quantile(tmp_path: Path) -> None:
    """promtool evaluates histogram_quantile on the same cumulative counts: the values must agree."""
    from prometheus_client.parser import text_string_to_metric_families

    text = serving_text()
    ours = {e.endpoint: e.p95_s for e in serving_latency(text).endpoints if e.p95_s is not None}
    series = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "serving_request_latency_seconds_bucket" and s.labels["endpoint"] in ours:
                labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
                series.append(
                    {"series": f"serving_request_latency_seconds_bucket{{{labels}}}", "values": f"{s.value:g}"}
                )
    (tmp_path / "rules.yaml").write_text("groups: []\n")
    expected = [{"labels": f'{{endpoint="{ep}"}}', "value": value} for ep, value in sorted(ours.items())]
    tests = {
        "rule_files": ["rules.yaml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": PROMQL_P95,
                        "eval_time": "0m",
                        "exp_samples": expected,
                    }
                ],
            }
        ],
    }
    (tmp_path / "p95_test.yaml").write_text(yaml.safe_dump(tests))
    out = subprocess.run(
        [prometheus_binary("promtool"), "test", "rules", "p95_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(ours) == 2


def test_a_rank_beyond_the_last_bucket_is_flagged() -> None:
    metrics = ServingMetrics()
    for _ in range(10):
        metrics.request_latency.labels("/predict").observe(9.0)  # over the largest bucket (5 s)
    (endpoint,) = serving_latency(metrics.render().decode()).endpoints
    assert (endpoint.p95_s, endpoint.beyond_buckets) == (LATENCY_BUCKETS[-1], True)


def test_text_without_the_histogram_or_not_prometheus_is_a_clear_error() -> None:
    with pytest.raises(MonitoringError, match="saved.prom: no serving_request_latency_seconds histogram"):
        serving_latency("process_cpu_seconds_total 3.0\n", source="saved.prom")
    with pytest.raises(MonitoringError, match="page.html: not Prometheus text format"):
        serving_latency("<html>{oops</html>\n", source="page.html")


# --------------------------------------------------------------------------- SLO evaluation
def latency(p95: float | None, requests: float = 50.0) -> LatencySummary:
    return LatencySummary.model_validate(
        {"source": "m", "endpoints": [{"endpoint": "/predict", "requests": requests, "p95_s": p95}]}
    )


def states(**kwargs: object) -> dict[str, str]:
    args: dict[str, object] = {"feature_ages": {}, "quality_scores": {}, "latency": None, **kwargs}
    return {s.name: s.state for s in evaluate_slos(SloConfig(), **args)}  # type: ignore[arg-type]


def test_slos_met() -> None:
    got = evaluate_slos(
        SloConfig(),
        feature_ages={"a": 600.0, "b": 3600.0},  # exactly at the limit is met, as the alert rule has it
        quality_scores={"credit_risk": 0.95, "loans": 0.99},
        latency=latency(0.25),
    )
    assert [(s.name, s.state) for s in got] == [
        ("feature freshness", "met"),
        ("data quality", "met"),
        ("serving latency", "met"),
    ]
    assert [s.value for s in got] == [3600.0, 0.95, 0.25]
    assert "oldest b" in got[0].detail


def test_slos_violated() -> None:
    got = {
        s.name: s
        for s in evaluate_slos(
            SloConfig(),
            feature_ages={"a": 600.0, "b": 3601.0, "c": None},
            quality_scores={"credit_risk": 0.9499, "loans": 0.99},
            latency=latency(0.2501),
        )
    }
    assert {n: s.state for n, s in got.items()} == {
        "feature freshness": "violated",
        "data quality": "violated",
        "serving latency": "violated",
    }
    assert "stale: b" in got["feature freshness"].detail
    assert "credit_risk 94.99%" in got["data quality"].detail
    assert got["serving latency"].value == 0.2501


def test_slos_unknown() -> None:
    assert states() == {"feature freshness": "unknown", "data quality": "unknown", "serving latency": "unknown"}
    # A view never materialised, no requests yet, a store that could not be read.
    assert states(feature_ages={"a": 60.0, "b": None}, latency=latency(None, 0.0))["feature freshness"] == "unknown"
    assert states(latency=latency(None, 0.0))["serving latency"] == "unknown"
    assert (
        states(feature_ages={"a": 60.0}, features_error="feature store unavailable")["feature freshness"] == "unknown"
    )


def test_freshness_is_judged_on_the_served_views_when_known() -> None:
    ages = {"old_shape": 90 * 86400.0, "served": 120.0}
    assert states(feature_ages=ages)["feature freshness"] == "violated"
    assert states(feature_ages=ages, served_views={"served"})["feature freshness"] == "met"
    assert states(feature_ages=ages, served_views={"gone"})["feature freshness"] == "unknown"


def test_thresholds_are_configurable_and_checked() -> None:
    strict = SloConfig(max_feature_age_s=60, min_data_quality_score=0.999, max_serving_p95_s=0.01)
    got = evaluate_slos(strict, feature_ages={"a": 61.0}, quality_scores={"d": 0.99}, latency=latency(0.02))
    assert [s.state for s in got] == ["violated", "violated", "violated"]
    with pytest.raises(ValueError, match="min_data_quality_score"):
        SloConfig(min_data_quality_score=1.5)
    with pytest.raises(ValueError, match="extra"):
        SloConfig.model_validate({"max_p99": 1})


# --------------------------------------------------------------------------- drift summary
def test_latest_drift_summary(tmp_path: Path) -> None:
    assert latest_drift(tmp_path, "credit_risk") is None
    path = drift_summary_path(tmp_path, "credit_risk")
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "model": "credit_risk",
                "version": "1.0.0",
                "computed_at": "2025-06-01T11:00:00+00:00",
                "drift_share": 0.25,
                "drift_share_threshold": 0.5,
                "dataset_drift": False,
                "features": {},
            }
        )
    )
    got = latest_drift(tmp_path, "credit_risk")
    assert got is not None
    assert (got.version, got.drift_share, got.dataset_drift) == ("1.0.0", 0.25, False)
    assert got.computed_at == datetime(2025, 6, 1, 11, tzinfo=UTC)
    path.write_text(json.dumps({"drift_share": 0.5, "computed_at": ""}))
    undated = latest_drift(tmp_path, "credit_risk")
    assert undated is not None
    assert undated.computed_at is not None  # the file's time stands in
    path.write_text("{not json")
    with pytest.raises(MonitoringError, match="latest.json: not a readable drift summary"):
        latest_drift(tmp_path, "credit_risk")
    path.write_text(json.dumps({"drift_share": "lots"}))
    with pytest.raises(MonitoringError, match="not a readable drift summary"):
        latest_drift(tmp_path, "credit_risk")


# --------------------------------------------------------------------------- the command
MODEL = "credit_risk"


def features_frame(end: pd.Timestamp, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 20
    return pd.DataFrame(
        {
            "applicant_id": [f"A{seed}-{i:03d}" for i in range(n)],
            "application_ts": end - pd.to_timedelta(np.arange(n)[::-1], unit="h"),
            "income": rng.normal(50_000, 5_000, n).round(0),
            "defaulted": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def platform_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A config copy whose dev state folder holds a registry, a Feast store, runs and a drift summary."""
    from sklearn.linear_model import LogisticRegression

    from feature_store.config import FeatureConfig
    from feature_store.store import build_training_set
    from model_registry.registry import ModelRegistry

    tmp = tmp_path_factory.mktemp("status")
    config_dir, state = tmp / "config", tmp / "state"
    shutil.copytree(ROOT / "config", config_dir)
    with (config_dir / "environments" / "dev.yaml").open("a") as fh:
        fh.write(f"\nstate_dir: {state}\n")
    layout = StateLayout(state)

    # Feast: the served view is ten minutes old; an older shape's view is 40 days old.
    now = pd.Timestamp.now(tz="UTC").floor("s")
    views: dict[str, str] = {}
    for key, end, columns in (
        ("served", now - pd.Timedelta(minutes=10), ["income"]),
        ("old", now - pd.Timedelta(days=40), []),
    ):
        frame = features_frame(end, seed=len(views))
        if key == "old":
            frame["income_band"] = (frame["income"] // 10_000).astype("int64")
            columns = ["income", "income_band"]
        result = build_training_set(
            frame,
            name=MODEL,
            entity_column="applicant_id",
            timestamp_column="application_ts",
            feature_columns=columns,
            carry_columns=["defaulted"],
            state_dir=layout.feast,
            config=FeatureConfig(),
        )
        views[key] = result.feature_views[0]

    # The registry: 1.0.0 champion and 1.1.0 challenger, both reading the served view.
    registry = ModelRegistry.local(layout.registry)
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((40, 1)), rng.integers(0, 2, 40))
    for fingerprint in ("data-1", "data-2"):
        registry.register(
            MODEL,
            model,
            serving_schema={"income": "number"},
            schema_hash="s1",
            training_fingerprint=fingerprint,
            params={},
            metrics={"roc_auc": 0.7},
            gates={"evaluation": True},
            lineage={"dataset_hash": fingerprint},
            extra_tags={"feature_view": views["served"]},
        )
    registry.set_alias(MODEL, "1.0.0", "champion")
    registry.set_alias(MODEL, "1.1.0", "challenger")

    # Two runs: the older passed, the newer was blocked at 93 % with 70 rows quarantined.
    with pytest.MonkeyPatch.context() as mp:
        for run_id, rate, quarantined, exit_code in (
            ("20250601-100000-aaaa", 0.99, 10, 0),
            ("20250601-110000-bbbb", 0.93, 70, 0),  # a blocked gate ends the runner normally
        ):
            run_dir = layout.run_dir(run_id)
            write_run_meta(
                run_dir,
                {
                    "run_id": run_id,
                    "dataset": MODEL,
                    "environment": "dev",
                    "started": 1748772000.0,
                    "exit_code": exit_code,
                },
            )
            mp.setenv(RUN_DIR_ENV, str(run_dir))
            with record_step("validate_data") as rec:
                rec.figures.update(rows=1000, row_pass_rate=rate, quarantined=quarantined, gate=0.95)
                if rate < 0.95:
                    rec.block("row pass rate under the gate")

    summary = drift_summary_path(state, MODEL)
    summary.parent.mkdir(parents=True)
    summary.write_text(
        json.dumps(
            {
                "model": MODEL,
                "version": "1.0.0",
                "computed_at": "2025-06-01T11:30:00+00:00",
                "drift_share": 0.25,
                "drift_share_threshold": 0.5,
                "dataset_drift": False,
            }
        )
    )
    (tmp / "serving.prom").write_text(serving_text())
    return config_dir, state, views


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    from mlops_cli.main import app

    result = CliRunner().invoke(app, ["monitor", *args])
    return result.exit_code, result.output, result.exception


def test_status_json(platform_state: tuple[Path, Path, dict[str, str]]) -> None:
    config_dir, state, views = platform_state
    metrics = config_dir.parent / "serving.prom"
    code, out, exc = invoke("status", "--config-dir", str(config_dir), "--metrics", str(metrics), "--json")
    assert code == 0, (out, exc)
    report = json.loads(out)
    (model,) = report["models"]
    assert (model["name"], model["versions"], model["message"]) == (MODEL, 2, "")
    assert (model["champion"]["semver"], model["challenger"]["semver"]) == ("1.0.0", "1.1.0")
    assert model["champion"]["aliases"] == ["champion"]
    assert model["champion"]["feature_view"] == views["served"]
    assert (model["drift"]["drift_share"], model["drift"]["version"]) == (0.25, "1.0.0")

    ages = {v["feature_view"]: v["age_s"] for v in report["features"]}
    assert set(ages) == set(views.values())
    # Measured against the wall clock while the command ran: ten minutes plus the test's own time.
    assert 600 <= ages[views["served"]] < 600 + 120
    assert ages[views["old"]] > 40 * 86400

    last = report["last_run"]
    assert (last["run_id"], last["status"], last["dq_score"], last["quarantined"]) == (
        "20250601-110000-bbbb",
        "blocked",
        0.93,
        70,
    )
    slos = {s["name"]: s for s in report["slos"]}
    # Only the served view counts: the old shape's stale view does not break the freshness SLO.
    assert slos["feature freshness"]["state"] == "met"
    assert slos["data quality"]["state"] == "violated"
    assert slos["data quality"]["value"] == 0.93
    assert slos["serving latency"]["state"] == "violated"
    assert slos["serving latency"]["value"] == pytest.approx(0.375)

    # The gauges were written as a side effect: what a scrape of the text files shows.
    gauges = (state / "metrics" / "data_quality.prom").read_text()
    assert f'mlops_data_quality_score{{dataset="{MODEL}"}} 0.93' in gauges
    assert f'mlops_rows_quarantined{{dataset="{MODEL}"}} 70.0' in gauges
    freshness = (state / "metrics" / "feature_freshness.prom").read_text()
    assert f'mlops_feature_freshness_seconds{{feature_view="{views["served"]}"}}' in freshness
    assert sorted(report["gauges"]) == sorted(str(p) for p in (state / "metrics").glob("*.prom"))


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that no cell of the table folds."""
    from mlops_cli import monitor_status

    monkeypatch.setattr(monitor_status, "console", Console(width=250, highlight=False, soft_wrap=True))


def test_status_table(platform_state: tuple[Path, Path, dict[str, str]], wide: None) -> None:
    config_dir, _, views = platform_state
    code, out, exc = invoke("status", "--config-dir", str(config_dir), "--model", MODEL)
    assert code == 0, (out, exc)
    flat = " ".join(out.split())
    for text in (
        f"model {MODEL} │ 2 versions │ latest 1.1.0",
        "champion │ 1.0.0 │ gates pass",
        "challenger │ 1.1.0 │ gates pass",
        "drift │ share 0.25 │ no dataset drift · version 1.0.0 at 2025-06-01 11:30 UTC",
        f"view {views['served']} │ 10 min old",
        f"served by {MODEL} champion, {MODEL} challenger",
        f"view {views['old']} │ 40.0 d old",
        "20250601-110000-bbbb",
        "blocked",
        "DQ 93.00%",
        "SLO feature freshness │ met",
        "SLO data quality │ violated",
        "SLO serving latency │ unknown",
        "no serving metrics given",
    ):
        assert text in flat, text


def test_a_model_without_versions_is_a_message_not_a_traceback(
    platform_state: tuple[Path, Path, dict[str, str]], wide: None
) -> None:
    config_dir, _, _ = platform_state
    code, out, exc = invoke("status", "--config-dir", str(config_dir), "--model", "no_such_model")
    assert code == 0, (out, exc)
    assert "model 'no_such_model' has no registered versions" in " ".join(out.split())
    code, out, _ = invoke("status", "--config-dir", str(config_dir), "--model", "no_such_model", "--json")
    (model,) = json.loads(out)["models"]
    assert (model["versions"], model["champion"]) == (0, None)
    assert "no registered versions" in model["message"]


def test_status_of_an_empty_state_folder(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    state = tmp_path / "state"
    with (config_dir / "environments" / "dev.yaml").open("a") as fh:
        fh.write(f"\nstate_dir: {state}\n")
    code, out, exc = invoke("status", "--config-dir", str(config_dir), "--json")
    assert code == 0, (out, exc)
    report = json.loads(out)
    assert (report["models"], report["features"], report["last_run"], report["quality"]) == ([], [], None, [])
    assert {s["state"] for s in report["slos"]} == {"unknown"}
    # Reading did not create a Feast registry or an MLflow database.
    assert not (state / "feast").exists()
    assert not (state / "registry" / "mlflow.db").exists()


def test_unreadable_metrics_is_an_error(platform_state: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    config_dir, _, _ = platform_state
    code, _, exc = invoke("status", "--config-dir", str(config_dir), "--metrics", str(tmp_path / "absent.prom"))
    assert code != 0
    assert isinstance(exc, MonitoringError)
    assert "absent.prom" in str(exc)


def test_freshness_command(platform_state: tuple[Path, Path, dict[str, str]], wide: None) -> None:
    config_dir, _, views = platform_state
    code, out, exc = invoke("freshness", "--config-dir", str(config_dir), "--json")
    assert code == 0, (out, exc)
    got = {v["feature_view"]: v for v in json.loads(out)["views"]}
    assert got[views["served"]]["basis"] == "online"
    assert got[views["old"]]["age_s"] > 40 * 86400
    code, out, _ = invoke("freshness", "--config-dir", str(config_dir))
    assert code == 0
    flat = " ".join(out.split())
    assert f"{views['served']} │ 10 min │" in flat
    assert f"{views['old']} │ 40.0 d │" in flat
