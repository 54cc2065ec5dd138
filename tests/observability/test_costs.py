"""Cost tracking: step usage priced by the cost config, the budget, serving cost per 1,000
predictions, right-sizing hints, and ``mlops cost report`` / ``mlops cost serving``."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mlops.config import CLUSTER_ENVIRONMENTS
from mlops.errors import ConfigError, MonitoringError
from mlops.state import StepRecord, write_run_meta
from observability.costs import (
    CostOptimizationConfig,
    budget_status,
    load_cost_config,
    parse_serving_metrics,
    run_cost,
    run_costs,
    serving_cost,
    serving_deployment,
    serving_hints,
    step_hints,
)

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
MIB = 2**20


def make_config(**overrides: Any) -> CostOptimizationConfig:
    """Round numbers for hand-checked arithmetic: one node type of 4 vCPU, 16 GiB at $0.40/h."""
    data: dict[str, Any] = {
        "cost_center": "ml",
        "owner": "team",
        "budgets": {"dev": {"monthly_usd": 1.0, "alert_at_fraction": 0.8}},
        "compute": {"training_spot_instances": False, "spot_discount": 0.6},
        "instance_classes": {"node": {"vcpu": 4, "memory_gib": 16, "hourly_usd": 0.40}},
        "environments": {"dev": {"pipeline_instance": "node", "serving_instance": "node"}},
        "pipeline_steps": {
            "default": {"cpu": "500m", "memory": "1Gi"},
            "steps": {"train": {"cpu": "2", "memory": "4Gi"}},
        },
    }
    data.update(overrides)
    return CostOptimizationConfig.model_validate(data)


def write_step(run_dir: Path, name: str, **fields: Any) -> None:
    rec = StepRecord(name=name, status=fields.pop("status", "succeeded"), **fields)
    (run_dir / "steps").mkdir(parents=True, exist_ok=True)
    (run_dir / "steps" / f"{name}.json").write_text(json.dumps(asdict(rec)))


def make_run(
    runs: Path,
    run_id: str,
    started: float,
    *,
    train_peak: int = 2 * GIB,
    train_cpu: float = 900.0,
    environment: str = "dev",
) -> Path:
    """A run of two measured steps, plus one still running.

    ingest: 360 s, 720 CPU-s (2 cores: a burst past its 500m request), peak 0.5 GiB.
    train: 1800 s, 900 CPU-s by default (0.5 cores of its 2 requested), peak 2 GiB of its 4 GiB.
    """
    run_dir = runs / run_id
    write_run_meta(
        run_dir,
        {"run_id": run_id, "pipeline": "training", "dataset": "loans", "environment": environment, "started": started},
    )
    write_step(
        run_dir,
        "ingest",
        started=started,
        ended=started + 360,
        cpu_seconds=720.0,
        wall_seconds=360.0,
        peak_memory_bytes=GIB // 2,
        peak_memory_scope="step",
    )
    write_step(
        run_dir,
        "train",
        started=started + 400,
        ended=started + 2200,
        cpu_seconds=train_cpu,
        wall_seconds=1800.0,
        peak_memory_bytes=train_peak,
        peak_memory_scope="step",
    )
    write_step(run_dir, "evaluate", status="running", started=started + 2300)
    return run_dir


# --------------------------------------------------------------------------- pricing
def test_pricing_arithmetic_on_a_run_folder(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", "20261105-100000-abcd", datetime(2026, 11, 5, 10, tzinfo=UTC).timestamp())
    cost = run_cost(run_dir, make_config(), "dev")

    ingest, train = cost.steps
    # Share of the node = the dominant resource: 500m/4 = 0.125 vs 1Gi/16Gi = 0.0625 -> $0.05/h.
    assert ingest.requested_usd == pytest.approx(0.05 * 360 / 3600)  # 0.005
    # Used 2 cores (0.5 of the node) -> $0.20/h.
    assert ingest.used_usd == pytest.approx(0.20 * 360 / 3600)  # 0.02
    # Billed: max(request, use) per resource = 2 cores, 1Gi -> $0.20/h.
    assert ingest.cost_usd == pytest.approx(0.02)
    # train: 2 of 4 vCPU -> $0.20/h for 0.5 h; used 0.5 cores and 2 GiB -> 0.125 -> $0.05/h.
    assert train.requested_usd == pytest.approx(0.10)
    assert train.used_usd == pytest.approx(0.025)
    assert train.cost_usd == pytest.approx(0.10)
    assert train.cpu_cores_used == pytest.approx(0.5)

    assert cost.cost_usd == pytest.approx(0.12)
    assert cost.requested_usd == pytest.approx(0.105)
    assert cost.used_usd == pytest.approx(0.045)
    assert cost.unfinished == ["evaluate"]
    assert cost.unmeasured == []
    assert cost.started == datetime(2026, 11, 5, 10, tzinfo=UTC)
    figures = cost.figures()
    assert figures["cost_usd"] == pytest.approx(0.12)
    assert figures["cpu_seconds"] == pytest.approx(1620.0)
    assert figures["peak_memory_mib"] == pytest.approx(2048.0)


def test_spot_discount_applies_to_pipeline_steps_when_spot_is_on(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", "r1", time.time())
    on_demand = run_cost(run_dir, make_config(), "dev")
    spot = run_cost(run_dir, make_config(compute={"training_spot_instances": True, "spot_discount": 0.6}), "dev")
    assert spot.cost_usd == pytest.approx(on_demand.cost_usd * 0.4)
    assert all(s.spot for s in spot.steps)


def test_a_record_without_usage_is_priced_by_its_request(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "old"
    write_step(run_dir, "train", started=0.0, ended=1800.0)
    cost = run_cost(run_dir, make_config(), "dev")
    assert cost.unmeasured == ["train"]
    assert cost.steps[0].used_usd is None
    assert cost.cost_usd == pytest.approx(0.10)


def test_an_environment_without_prices_is_a_config_error(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", "r1", time.time())
    with pytest.raises(ConfigError, match=r"cost_optimization.yaml: environments.prod: "):
        run_cost(run_dir, make_config(), "prod")


# --------------------------------------------------------------------------- budget
def _runs_costing(tmp_path: Path, now: datetime, train_cpu_this_month: list[float]) -> list[Any]:
    runs = tmp_path / "runs"
    last_month = (now.replace(day=1) - timedelta(days=2)).timestamp()
    make_run(runs, "20260101-000000-0000", last_month)  # not this month: not counted
    for i, cpu in enumerate(train_cpu_this_month):
        make_run(runs, f"2026110{i + 1}-000000-0000", now.timestamp() - 3600 * (i + 1), train_cpu=cpu)
    make_run(runs, "20261101-000000-prod", now.timestamp() - 60, environment="prod")  # another environment
    return run_costs(tmp_path, make_config(), "dev")


def test_budget_fraction_under_the_alert_threshold(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    runs = _runs_costing(tmp_path, now, [900.0] * 5)  # 5 runs x $0.12
    status = budget_status(runs, make_config(), "dev", now=now)
    assert status.runs_counted == 5
    assert status.month == "2026-11"
    assert status.month_to_date_usd == pytest.approx(0.60)
    assert status.fraction == pytest.approx(0.60)
    assert not status.over_threshold
    assert not status.over_budget


def test_budget_over_the_alert_threshold(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    runs = _runs_costing(tmp_path, now, [900.0] * 7)  # 7 runs x $0.12 = $0.84 of $1
    status = budget_status(runs, make_config(), "dev", now=now)
    assert status.fraction == pytest.approx(0.84)
    assert status.over_threshold
    assert not status.over_budget


# --------------------------------------------------------------------------- config
def test_the_repository_config_is_valid_and_priced_for_every_environment() -> None:
    config = load_cost_config(ROOT / "config")
    for env in ("dev", "staging", "prod"):
        assert config.instance(env, "pipeline").hourly_usd > 0
        assert config.instance(env, "serving").hourly_usd > 0
    assert config.pipeline_steps.request("train").memory_bytes == 4 * GIB
    assert config.pipeline_steps.request("promote").cpu_cores == pytest.approx(0.5)


def test_the_priced_node_types_are_the_ones_terraform_creates() -> None:
    """environments.<env> names the first type of each node group in the tfvars (local-stack, which
    no Terraform creates, is priced as the dev cluster it stands in for)."""
    import hcl2

    def strings(value: Any) -> list[str]:
        # python-hcl2 keeps the quotes; checkov's fork wraps values in a one-element list.
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            value = value[0]
        return [str(v).strip('"') for v in value]

    config = load_cost_config(ROOT / "config")
    assert config.environments["local-stack"] == config.environments["dev"]
    for env in CLUSTER_ENVIRONMENTS:
        compute = config.environments[env]
        tfvars = hcl2.loads((ROOT / f"infrastructure/terraform/live/environments/{env}/terraform.tfvars").read_text())
        assert compute.pipeline_instance == strings(tfvars["training_node_instance_types"])[0], env
        assert compute.serving_instance == strings(tfvars["system_node_instance_types"])[0], env


def _write_config(tmp_path: Path, mutate: Any) -> Path:
    data = yaml.safe_load((ROOT / "config" / "cost_optimization.yaml").read_text())
    mutate(data)
    (tmp_path / "cost_optimization.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize(
    ("mutate", "key", "expected"),
    [
        (
            lambda d: d["environments"]["dev"].update(pipeline_instance="m9.huge"),
            "environments.dev.pipeline_instance",
            "instance_classes",
        ),
        (
            lambda d: d["pipeline_steps"]["steps"]["train"].update(cpu="two"),
            "pipeline_steps.steps.train.cpu",
            "Kubernetes quantity",
        ),
        (
            lambda d: d["instance_classes"]["m7i.large"].update(price=1),
            "instance_classes.m7i.large.price",
            "no such key",
        ),
        (
            lambda d: d["instance_classes"]["m7i.large"].update(hourly_usd=-1),
            "instance_classes.m7i.large.hourly_usd",
            "greater than 0",
        ),
        (lambda d: d["environments"].pop("staging"), "environments.staging", "every environment with a budget"),
        (lambda d: d["compute"].update(spot_discount=1.5), "compute.spot_discount", "less than 1"),
    ],
)
def test_a_bad_config_names_the_file_and_the_key(tmp_path: Path, mutate: Any, key: str, expected: str) -> None:
    config_dir = _write_config(tmp_path, mutate)
    with pytest.raises(ConfigError) as caught:
        load_cost_config(config_dir)
    assert caught.value.file == str(config_dir / "cost_optimization.yaml")
    assert caught.value.key == key
    assert expected in caught.value.expected


# --------------------------------------------------------------------------- right-sizing
def test_a_step_using_a_fraction_of_its_request_gets_a_hint(tmp_path: Path) -> None:
    now = time.time()
    for i in range(3):  # train: peak 300 MiB of its 4 GiB (7 %), 1.5 of 2 cores
        make_run(tmp_path / "runs", f"r{i}", now - 3600 * i, train_peak=300 * MIB, train_cpu=2700.0)
    hints = step_hints(run_costs(tmp_path, make_config(), "dev"), make_config())
    assert [(h.name, h.resource) for h in hints] == [("train", "memory")]
    hint = hints[0]
    assert hint.requested == "4Gi"
    assert hint.observations == 3
    # 300 MiB x 1.5 headroom = 450 MiB, rounded up to 64 MiB.
    assert hint.suggested == "512Mi"
    assert (
        hint.message == "train: peak memory at most 300Mi (7% of the 4Gi requested) in the last 3 runs: request 512Mi"
    )


def test_no_hint_when_the_request_is_used_or_there_are_too_few_runs(tmp_path: Path) -> None:
    now = time.time()
    for i in range(3):  # train: peak 2 GiB of 4 GiB; ingest bursts past its request
        make_run(tmp_path / "used" / "runs", f"r{i}", now - 3600 * i)
    assert step_hints(run_costs(tmp_path / "used", make_config(), "dev"), make_config()) == []
    for i in range(2):  # over-provisioned, but only 2 runs of the 3 needed
        make_run(tmp_path / "few" / "runs", f"r{i}", now - 3600 * i, train_peak=300 * MIB)
    assert step_hints(run_costs(tmp_path / "few", make_config(), "dev"), make_config()) == []


# --------------------------------------------------------------------------- serving
def serving_text(champion: int, challenger: int, *, process: bool = False) -> str:
    """What the serving app's /metrics answers, produced by the app's own metrics class; without
    ``process``, as a server that exposes no process metrics (the cost needs a given window)."""
    from serving.metrics import ServingMetrics

    metrics = ServingMetrics()
    metrics.predictions.labels("champion").inc(champion)
    metrics.predictions.labels("challenger").inc(challenger)
    metrics.shadow_compared.inc(challenger)  # each challenger prediction is a mirrored row
    text = metrics.render().decode()
    if process:
        return text
    return "".join(line for line in text.splitlines(keepends=True) if "process_" not in line)


def write_chart(tmp_path: Path, values: dict[str, Any], env_values: dict[str, Any] | None = None) -> Path:
    chart = tmp_path / "serving"
    chart.mkdir()
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    if env_values is not None:
        (chart / "values-dev.yaml").write_text(yaml.safe_dump(env_values))
    return chart


CHART = {
    "replicas": 2,
    "autoscaling": {"enabled": False, "minReplicas": 3, "maxReplicas": 6},
    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
    "shadow": {"mode": "inProcess", "replicas": 1, "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
}


def test_cost_per_1000_predictions_from_a_scrape(tmp_path: Path) -> None:
    sample = parse_serving_metrics(serving_text(9000, 1000))
    assert sample.predictions_by_variant == {"champion": 9000.0, "challenger": 1000.0}
    assert sample.served == 9000.0  # the mirrored rows are not answers
    assert sample.cpu_seconds is None  # a server without process metrics: no used figures

    deployment = serving_deployment(write_chart(tmp_path, CHART), "dev")
    cost = serving_cost(sample, deployment, make_config(), window_s=2 * 3600)
    # Pod: max(1/4 vCPU, 2/16 GiB) = 0.25 of a $0.40 node = $0.10/h; 2 replicas = $0.20/h.
    assert cost.pod_hourly_usd == pytest.approx(0.10)
    assert cost.deployment_hourly_usd == pytest.approx(0.20)
    assert cost.deployment_monthly_usd == pytest.approx(0.20 * 730)
    # 9000 in 2 h on the scraped pod = 4500 per pod-hour; 1000 x 0.20 / (2 x 4500).
    assert cost.predictions_per_pod_hour == pytest.approx(4500)
    assert cost.cost_per_1000_usd == pytest.approx(1000 * 0.20 / 9000)
    assert cost.used_cost_per_1000_usd is None


def test_a_shadow_deployment_adds_its_pods_to_the_cost(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, CHART, {"shadow": {"mode": "deployment"}})
    deployment = serving_deployment(chart, "dev")
    assert deployment.shadow_replicas == 1
    cost = serving_cost(parse_serving_metrics(serving_text(9000, 0)), deployment, make_config(), window_s=7200)
    # + one 500m/1Gi pod: 0.125 of the node = $0.05/h.
    assert cost.deployment_hourly_usd == pytest.approx(0.25)
    assert cost.cost_per_1000_usd == pytest.approx(1000 * 0.25 / 9000)


def test_the_window_comes_from_the_process_start_when_exposed(tmp_path: Path) -> None:
    text = serving_text(9000, 0, process=True)
    sample = parse_serving_metrics(text)
    assert sample.process_start_time is not None
    deployment = serving_deployment(write_chart(tmp_path, CHART), "dev")
    cost = serving_cost(sample, deployment, make_config(), scraped_at=sample.process_start_time + 7200)
    assert cost.window_seconds == pytest.approx(7200)
    assert cost.used_cpu_cores is not None
    assert cost.used_memory_bytes is not None
    assert cost.used_memory_bytes > 10 * MIB  # this test process's resident memory
    assert cost.used_cost_per_1000_usd is not None
    with pytest.raises(MonitoringError, match="give the window"):
        serving_cost(parse_serving_metrics(serving_text(1, 0)), deployment, make_config())


def test_serving_right_sizing_from_process_metrics(tmp_path: Path) -> None:
    deployment = serving_deployment(write_chart(tmp_path, CHART), "dev")

    def hints_for(rss: float, cpu_seconds: float) -> list[str]:
        text = serving_text(9000, 0) + f"process_cpu_seconds_total {cpu_seconds}\nprocess_resident_memory_bytes {rss}\n"
        cost = serving_cost(parse_serving_metrics(text), deployment, make_config(), window_s=7200)
        return [h.message for h in serving_hints(cost, make_config())]

    # 300 MiB of 2Gi (15 %) and 0.5 of 1 CPU: memory only.
    assert hints_for(300 * MIB, 3600) == [
        "serving: resident memory at most 300Mi (15% of the 2Gi requested) over 2.0 h of uptime (one scrape): "
        "request 512Mi"
    ]
    assert hints_for(1.5 * GIB, 3600) == []


def test_the_real_serving_chart_values_parse() -> None:
    chart = ROOT / "infrastructure" / "helm" / "serving"
    prod = serving_deployment(chart, "prod")
    assert prod.autoscaling
    assert prod.replicas == 3  # the HPA's floor
    assert (prod.requests.cpu, prod.requests.memory) == ("1", "2Gi")
    staging = serving_deployment(chart, "staging")
    assert staging.replicas == 2
    assert staging.requests.memory == "1Gi"


def test_a_bad_chart_value_names_the_values_file_and_key(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, CHART, {"resources": {"requests": {"memory": "lots"}}})
    with pytest.raises(ConfigError) as caught:
        serving_deployment(chart, "dev")
    assert caught.value.file == str(chart / "values-dev.yaml")
    assert caught.value.key == "resources.requests.memory"


def test_text_without_serving_counters_is_refused() -> None:
    with pytest.raises(MonitoringError, match="no serving_predictions_total"):
        parse_serving_metrics("process_cpu_seconds_total 3.0\n", source="saved.prom")


# --------------------------------------------------------------------------- the CLI
@pytest.fixture
def cli_setup(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of config/ whose dev state folder holds three runs of this month, and a budget
    of $0.40 with the alert at 80 %: three runs at $0.12 each are over the threshold."""
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    state = tmp_path / "state"
    with (config_dir / "environments" / "dev.yaml").open("a") as fh:
        fh.write(f"\nstate_dir: {state}\n")
    cost_file = config_dir / "cost_optimization.yaml"
    data = yaml.safe_load(cost_file.read_text())
    data["budgets"]["dev"] = {"monthly_usd": 0.40, "alert_at_fraction": 0.8}
    data["compute"]["training_spot_instances"] = False
    data["instance_classes"] = {"node": {"vcpu": 4, "memory_gib": 16, "hourly_usd": 0.40}}
    data["environments"] = {
        env: {"pipeline_instance": "node", "serving_instance": "node"} for env in ("dev", "staging", "prod")
    }
    data["pipeline_steps"] = {
        "default": {"cpu": "500m", "memory": "1Gi"},
        "steps": {"train": {"cpu": "2", "memory": "4Gi"}},
    }
    cost_file.write_text(yaml.safe_dump(data))
    now = time.time()
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    for i in range(3):
        make_run(state / "runs", f"run-{i}", max(now - 3600 * (i + 1), month_start + 3 - i), train_peak=300 * MIB)
    return config_dir, state


def test_cost_report_table(cli_setup: tuple[Path, Path]) -> None:
    from mlops_cli.main import app

    config_dir, state = cli_setup
    result = CliRunner().invoke(app, ["cost", "report", "--config-dir", str(config_dir), "--env", "dev"])
    assert result.exit_code == 0, result.output
    out = result.output
    for run_id in ("run-0", "run-1", "run-2"):
        assert run_id in out
    assert "$0.3600 of $0.4000 = 90.0%" in out
    assert "over the alert threshold" in out
    assert "train: peak memory at most 300Mi" in out
    gauges = (state / "metrics" / "cost-dev.prom").read_text()
    assert 'mlops_cost_month_to_date_usd{environment="dev"} 0.36' in gauges
    assert 'mlops_cost_budget_usd{environment="dev"} 0.4' in gauges


def test_cost_report_json(cli_setup: tuple[Path, Path]) -> None:
    from mlops_cli.main import app

    config_dir, _ = cli_setup
    result = CliRunner().invoke(app, ["cost", "report", "--config-dir", str(config_dir), "--json", "--since", "30d"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["run_id"] for r in report["runs"]] == ["run-0", "run-1", "run-2"]  # newest first
    assert report["runs"][0]["cost_usd"] == pytest.approx(0.12)
    assert [s["step"] for s in report["runs"][0]["steps"]] == ["ingest", "train"]
    assert report["budget"]["fraction"] == pytest.approx(0.9)
    assert report["budget"]["over_threshold"] is True
    assert [(h["name"], h["resource"]) for h in report["hints"]] == [("train", "memory")]


def test_cost_report_bad_since_and_bad_config(cli_setup: tuple[Path, Path]) -> None:
    from mlops_cli.main import app

    config_dir, _ = cli_setup
    result = CliRunner().invoke(app, ["cost", "report", "--config-dir", str(config_dir), "--since", "a month"])
    assert result.exit_code == 2
    cost_file = config_dir / "cost_optimization.yaml"
    cost_file.write_text(cost_file.read_text().replace("pipeline_instance: node", "pipeline_instance: nodes", 1))
    result = CliRunner().invoke(app, ["cost", "report", "--config-dir", str(config_dir)])
    assert isinstance(result.exception, ConfigError)
    assert "pipeline_instance" in str(result.exception)


def test_cost_serving_from_a_saved_scrape(cli_setup: tuple[Path, Path], tmp_path: Path) -> None:
    from mlops_cli.main import app

    config_dir, _ = cli_setup
    saved = tmp_path / "metrics.prom"
    saved.write_text(serving_text(9000, 1000))
    helm = tmp_path / "helm"
    helm.mkdir()
    write_chart(helm, CHART)
    args = [
        "cost",
        "serving",
        "--metrics",
        str(saved),
        "--window",
        "2h",
        "--helm-dir",
        str(helm),
        "--config-dir",
        str(config_dir),
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["served_predictions"] == 9000
    assert got["cost_per_1000_usd"] == pytest.approx(1000 * 0.20 / 9000)
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "cost per 1,000 predictions: $0.0222" in table.output
