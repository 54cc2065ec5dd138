"""What serving costs per 1,000 predictions, from the serving process's ``/metrics``.

Inputs: one scrape of ``/metrics`` (a URL, or text saved from one), the serving pods' requests
and replica count from the serving chart's values (``values.yaml`` with ``values-<env>.yaml``
merged over it, read as YAML, not rendered), and the price of the instance class serving runs
on (``environments.<env>.serving_instance``; on-demand, never spot).

    pod_hourly      = max(cpu_request / node vcpu, memory_request / node memory) x node hourly price
    deployment/hour = replicas x pod_hourly  (+ shadow_replicas x shadow_pod_hourly when the
                      challenger runs as its own deployment; in-process it shares the pods)
    served          = sum(serving_predictions_total) - serving_shadow_compared_total
                      (rows the shadow challenger scored are copies of served rows, not answers)
    rate            = served / pods_in_scrape / window_hours        (predictions per pod-hour)
    per 1,000       = 1000 x deployment/hour / (replicas x rate)

``window`` is how long the counters have counted: the process's uptime (scrape time minus
``process_start_time_seconds``) unless given. A scrape of one pod (``/metrics`` of one
process: ``pods_in_scrape`` = 1) stands for every replica, so the load is assumed to be
spread evenly; a text that sums several pods (federation) says how many with
``pods_in_scrape``. When the process metrics are exposed (``process_cpu_seconds_total``,
``process_resident_memory_bytes``), the figure for what the pods used (average CPU, resident
memory) is shown too, and compared with the request for a right-sizing hint.

``serving/metrics.py`` registers its metrics in its own ``CollectorRegistry``, which has no
process collector: without one the window must be given and the used figures are missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from mlops.config import deep_merge, read_yaml
from mlops.errors import ConfigError, MonitoringError
from observability.costs.config import CostOptimizationConfig, ResourceRequest, parse_quantity
from observability.costs.pricing import SECONDS_PER_HOUR, pod_hourly_usd
from observability.costs.rightsizing import RightSizingHint, usage_hint

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12, as cloud price lists count a month


class ServingDeployment(BaseModel):
    """The serving chart's pod size and replica count for one environment."""

    environment: str
    requests: ResourceRequest
    replicas: int
    autoscaling: bool
    max_replicas: int | None
    shadow_mode: Literal["inProcess", "deployment", "off"]
    shadow_replicas: int
    shadow_requests: ResourceRequest | None
    values_files: list[str]


def _lookup(values: dict[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def serving_deployment(chart_dir: Path, environment: str) -> ServingDeployment:
    """Requests and replicas of the serving pods from ``<chart>/values.yaml`` + ``values-<env>.yaml``.

    Autoscaled deployments are priced at ``autoscaling.minReplicas`` (the floor the HPA keeps).
    A missing or malformed key is a ConfigError naming the values file and the key.
    """
    base_path, env_path = chart_dir / "values.yaml", chart_dir / f"values-{environment}.yaml"
    base = read_yaml(base_path)
    overlay = read_yaml(env_path) if env_path.exists() else {}
    values = deep_merge(base, overlay)

    def get(key: str, kind: Literal["quantity", "count", "flag", "mode"]) -> Any:
        value = _lookup(values, key)
        culprit = env_path if _lookup(overlay, key) is not None else base_path
        if kind == "quantity":
            try:
                if value is None or parse_quantity(value) <= 0:
                    raise ValueError
            except ValueError:
                raise ConfigError(culprit, key, f"a Kubernetes quantity such as 500m or 2Gi (got {value!r})") from None
            return str(value)
        if kind == "count":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(culprit, key, f"a whole number of replicas (got {value!r})")
            return value
        if kind == "flag":
            return bool(value)
        if value not in ("inProcess", "deployment", "off"):
            raise ConfigError(culprit, key, f"one of inProcess, deployment, off (got {value!r})")
        return value

    autoscaling = get("autoscaling.enabled", "flag")
    shadow_mode = get("shadow.mode", "mode") if _lookup(values, "shadow") is not None else "off"
    shadow = shadow_mode == "deployment"
    return ServingDeployment(
        environment=environment,
        requests=ResourceRequest(
            cpu=get("resources.requests.cpu", "quantity"), memory=get("resources.requests.memory", "quantity")
        ),
        replicas=get("autoscaling.minReplicas" if autoscaling else "replicas", "count"),
        autoscaling=autoscaling,
        max_replicas=get("autoscaling.maxReplicas", "count") if autoscaling else None,
        shadow_mode=shadow_mode,
        shadow_replicas=get("shadow.replicas", "count") if shadow else 0,
        shadow_requests=ResourceRequest(
            cpu=get("shadow.resources.requests.cpu", "quantity"),
            memory=get("shadow.resources.requests.memory", "quantity"),
        )
        if shadow
        else None,
        values_files=[str(base_path)] + ([str(env_path)] if overlay else []),
    )


class ServingSample(BaseModel):
    """The figures of one scrape that cost needs."""

    predictions_by_variant: dict[str, float]
    shadow_compared: float
    cpu_seconds: float | None
    resident_memory_bytes: float | None
    process_start_time: float | None

    @property
    def served(self) -> float:
        return max(sum(self.predictions_by_variant.values()) - self.shadow_compared, 0.0)


def parse_serving_metrics(text: str, *, source: str = "metrics") -> ServingSample:
    """Read the serving counters (and process metrics, when present) from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    by_variant: dict[str, float] = {}
    totals: dict[str, float] = {}
    found = False
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "serving_predictions_total":
                    found = True
                    variant = sample.labels.get("variant", "")
                    by_variant[variant] = by_variant.get(variant, 0.0) + sample.value
                elif sample.name in (
                    "serving_shadow_compared_total",
                    "process_cpu_seconds_total",
                    "process_resident_memory_bytes",
                    "process_start_time_seconds",
                ):
                    # Summed: a text may hold several pods' samples.
                    totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    except ValueError as exc:
        raise MonitoringError(f"{source}: not Prometheus text format ({exc})") from None
    if not found:
        raise MonitoringError(f"{source}: no serving_predictions_total samples (is it the serving process's /metrics?)")
    return ServingSample(
        predictions_by_variant=by_variant,
        shadow_compared=totals.get("serving_shadow_compared_total", 0.0),
        cpu_seconds=totals.get("process_cpu_seconds_total"),
        resident_memory_bytes=totals.get("process_resident_memory_bytes"),
        process_start_time=totals.get("process_start_time_seconds"),
    )


def read_metrics(source: str, *, timeout_s: float = 5.0) -> tuple[str, float]:
    """The text at ``source`` (an http(s) URL or a file) and when it was taken (a file: its mtime)."""
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(source, timeout=timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise MonitoringError(f"cannot scrape {source}: {exc}") from None
        return response.text, time.time()
    path = Path(source)
    try:
        return path.read_text(), path.stat().st_mtime
    except OSError as exc:
        raise MonitoringError(f"cannot read metrics from {source}: {exc.strerror}") from None


class ServingCost(BaseModel):
    """Serving cost over one scrape's window, per hour, per month and per 1,000 predictions."""

    environment: str
    instance_class: str
    requests: ResourceRequest
    replicas: int
    pod_hourly_usd: float
    shadow_replicas: int
    shadow_pod_hourly_usd: float
    deployment_hourly_usd: float
    deployment_monthly_usd: float
    window_seconds: float
    pods_in_scrape: int
    predictions_by_variant: dict[str, float]
    served_predictions: float
    predictions_per_pod_hour: float
    # None without served predictions in the window.
    cost_per_1000_usd: float | None
    # From the process metrics, when exposed: average CPU cores and resident memory per pod.
    used_cpu_cores: float | None
    used_memory_bytes: float | None
    used_cost_per_1000_usd: float | None
    notes: list[str]


def _window(sample: ServingSample, window_s: float | None, scraped_at: float | None, pods: int) -> float:
    if window_s is not None:
        if window_s <= 0:
            raise MonitoringError(f"the window must be positive (got {window_s} s)")
        return window_s
    if sample.process_start_time is not None and scraped_at is not None:
        # Summed over the pods in the text: their mean start time.
        uptime = scraped_at - sample.process_start_time / pods
        if uptime > 0:
            return uptime
    raise MonitoringError(
        "how long the counters have counted is unknown: the metrics have no process_start_time_seconds, "
        "so give the window (the serving process's uptime)"
    )


def serving_cost(
    sample: ServingSample,
    deployment: ServingDeployment,
    config: CostOptimizationConfig,
    *,
    window_s: float | None = None,
    scraped_at: float | None = None,
    pods_in_scrape: int = 1,
    replicas: int | None = None,
) -> ServingCost:
    """Cost per 1,000 served predictions (formula in the module docstring)."""
    if pods_in_scrape < 1:
        raise MonitoringError(f"pods_in_scrape must be at least 1 (got {pods_in_scrape})")
    env = deployment.environment
    instance = config.instance(env, "serving")
    window = _window(sample, window_s, scraped_at, pods_in_scrape)
    hours = window / SECONDS_PER_HOUR
    count = deployment.replicas if replicas is None else replicas
    if count < 1:
        raise MonitoringError(f"serving in {env} has {count} replicas: nothing to price per prediction")
    req = deployment.requests
    pod_hourly = pod_hourly_usd(req.cpu_cores, req.memory_bytes, instance)
    shadow_hourly = 0.0
    if deployment.shadow_requests is not None:
        shadow = deployment.shadow_requests
        shadow_hourly = pod_hourly_usd(shadow.cpu_cores, shadow.memory_bytes, instance)
    hourly = count * pod_hourly + deployment.shadow_replicas * shadow_hourly
    served = sample.served
    rate = served / pods_in_scrape / hours
    per_1000 = 1000.0 * hourly / (count * rate) if rate > 0 else None
    notes: list[str] = []
    if deployment.autoscaling and replicas is None:
        notes.append(
            f"autoscaled from {deployment.replicas} to {deployment.max_replicas} replicas: priced at "
            f"{deployment.replicas} (the floor); pass the replica count seen to price more"
        )
    if served == 0:
        notes.append("no served predictions in the window: the pods cost money but answer nothing")
    used_cores = used_memory = used_per_1000 = None
    if sample.cpu_seconds is not None and sample.resident_memory_bytes is not None:
        used_cores = sample.cpu_seconds / pods_in_scrape / window
        used_memory = sample.resident_memory_bytes / pods_in_scrape
        if rate > 0:
            used_per_1000 = 1000.0 * pod_hourly_usd(used_cores, used_memory, instance) / rate
    else:
        notes.append("no process metrics (process_cpu_seconds_total) in the scrape: used figures unavailable")
    return ServingCost(
        environment=env,
        instance_class=config.compute_for(env).serving_instance,
        requests=req,
        replicas=count,
        pod_hourly_usd=pod_hourly,
        shadow_replicas=deployment.shadow_replicas,
        shadow_pod_hourly_usd=shadow_hourly,
        deployment_hourly_usd=hourly,
        deployment_monthly_usd=hourly * HOURS_PER_MONTH,
        window_seconds=window,
        pods_in_scrape=pods_in_scrape,
        predictions_by_variant=sample.predictions_by_variant,
        served_predictions=served,
        predictions_per_pod_hour=rate,
        cost_per_1000_usd=per_1000,
        used_cpu_cores=used_cores,
        used_memory_bytes=used_memory,
        used_cost_per_1000_usd=used_per_1000,
        notes=notes,
    )


def serving_hints(cost: ServingCost, config: CostOptimizationConfig) -> list[RightSizingHint]:
    """Right-sizing hints for the serving pods from one scrape's process metrics (none without them).

    Memory is the resident size at the scrape (a model server's stays near its peak once the
    model is loaded); CPU the average since the process started.
    """
    evidence = f"over {cost.window_seconds / SECONDS_PER_HOUR:.1f} h of uptime (one scrape)"
    candidates = [
        ("memory", cost.used_memory_bytes, "resident memory"),
        ("cpu", cost.used_cpu_cores, "average CPU"),
    ]
    hints = []
    for resource, used, what in candidates:
        if used is None:
            continue
        hint = usage_hint(
            "serving",
            "serving",
            "memory" if resource == "memory" else "cpu",
            cost.requests,
            [used],
            config.right_sizing,
            evidence=evidence,
            what=what,
        )
        if hint is not None:
            hints.append(hint)
    return hints


__all__ = [
    "HOURS_PER_MONTH",
    "ServingCost",
    "ServingDeployment",
    "ServingSample",
    "parse_serving_metrics",
    "read_metrics",
    "serving_cost",
    "serving_deployment",
    "serving_hints",
]
