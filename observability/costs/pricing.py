"""What one run of a pipeline costs: each step's measured usage priced by the config.

How a step is priced (the figures are in USD):

* A pod is charged its share of the node it runs on, and the share is that of its dominant
  resource: ``share = max(cpu / node vcpu, memory / node memory)``; ``hourly = share x node
  hourly price``, less ``compute.spot_discount`` when pipeline nodes are spot
  (``compute.training_spot_instances``). A pod asking for a quarter of a node's memory keeps
  other pods off that quarter whatever CPU it leaves free, and the node is billed either way.
* ``requested_usd``: the pod's requests (``pipeline_steps``) for the step's wall time. The
  scheduler reserves the requests, so this is what the cloud bills for the pod.
* ``used_usd``: what the step used, at the same prices: its average CPU (CPU-seconds / wall
  time) and its peak resident memory, held for the wall time (so an upper bound of use).
* ``cost_usd``: each resource at the larger of request and use (``max(request, used)``, the
  rule OpenCost allocates by): a step that bursts past its request is charged for the burst.

The wall time is the one ``record_step`` measured: it leaves out the pod's start-up (image
pull, interpreter, imports), which the cloud also bills, so a run's cost is a lower bound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from mlops.state import StateLayout, StepRecord, read_run_meta, read_steps
from observability.costs.config import GIB, CostOptimizationConfig, InstanceClass

SECONDS_PER_HOUR = 3600.0


def pod_hourly_usd(
    cpu_cores: float, memory_bytes: float, instance: InstanceClass, *, spot_discount: float = 0.0
) -> float:
    """The hourly price of a pod of this size on ``instance`` (its dominant share of the node)."""
    share = max(cpu_cores / instance.vcpu, memory_bytes / GIB / instance.memory_gib)
    return share * instance.hourly_usd * (1.0 - spot_discount)


class StepCost(BaseModel):
    """One step of a run: what it requested and used, and the price of each."""

    step: str
    status: str
    wall_seconds: float
    # None when the record predates the measurements: only the request is priced then.
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    request_cpu: str
    request_memory: str
    instance_class: str
    spot: bool
    requested_usd: float
    used_usd: float | None
    cost_usd: float

    @property
    def measured(self) -> bool:
        return self.cpu_seconds is not None and self.peak_memory_bytes is not None

    @property
    def cpu_cores_used(self) -> float | None:
        """Average CPU cores over the step's wall time."""
        if self.cpu_seconds is None or self.wall_seconds <= 0:
            return None
        return self.cpu_seconds / self.wall_seconds


class RunCost(BaseModel):
    """A run's steps priced at one environment's prices."""

    run_id: str
    run_dir: str
    pipeline: str
    dataset: str
    # The environment whose prices were applied, and the one the run recorded (if any).
    environment: str
    run_environment: str | None
    started: datetime | None
    steps: list[StepCost]
    # Steps without an end (still running, or the process died): not priced.
    unfinished: list[str]
    cost_usd: float
    requested_usd: float
    # Sum over the measured steps only (see ``unmeasured``).
    used_usd: float
    unmeasured: list[str]
    currency: Literal["USD"] = "USD"

    def figures(self) -> dict[str, float]:
        """Flat numbers for a run summary, KFP metrics or a registry tag (``cost_usd`` first)."""
        measured = [s for s in self.steps if s.measured]
        return {
            "cost_usd": round(self.cost_usd, 6),
            "cost_requested_usd": round(self.requested_usd, 6),
            "cost_used_usd": round(self.used_usd, 6),
            "cpu_seconds": round(sum(s.cpu_seconds or 0.0 for s in measured), 3),
            "wall_seconds": round(sum(s.wall_seconds for s in self.steps), 3),
            "peak_memory_mib": round(max((s.peak_memory_bytes or 0 for s in measured), default=0) / 2**20, 1),
        }


def _step_cost(rec: StepRecord, config: CostOptimizationConfig, environment: str) -> StepCost | None:
    wall = rec.wall_seconds if rec.wall_seconds is not None else rec.duration_s
    if wall is None:
        return None
    instance = config.instance(environment, "pipeline")
    spot = config.compute.training_spot_instances
    discount = config.compute.spot_discount if spot else 0.0
    request = config.pipeline_steps.request(rec.name)
    hours = wall / SECONDS_PER_HOUR
    req_cpu, req_mem = request.cpu_cores, request.memory_bytes
    requested = pod_hourly_usd(req_cpu, req_mem, instance, spot_discount=discount) * hours
    used: float | None = None
    billed_cpu, billed_mem = req_cpu, float(req_mem)
    if rec.cpu_seconds is not None and rec.peak_memory_bytes is not None:
        cores = rec.cpu_seconds / wall if wall > 0 else 0.0
        used = pod_hourly_usd(cores, rec.peak_memory_bytes, instance, spot_discount=discount) * hours
        billed_cpu, billed_mem = max(req_cpu, cores), max(float(req_mem), float(rec.peak_memory_bytes))
    cost = pod_hourly_usd(billed_cpu, billed_mem, instance, spot_discount=discount) * hours
    return StepCost(
        step=rec.name,
        status=rec.status,
        wall_seconds=wall,
        cpu_seconds=rec.cpu_seconds,
        peak_memory_bytes=rec.peak_memory_bytes,
        request_cpu=request.cpu,
        request_memory=request.memory,
        instance_class=config.compute_for(environment).pipeline_instance,
        spot=spot,
        requested_usd=requested,
        used_usd=used,
        cost_usd=cost,
    )


def run_started(run_dir: Path, meta: dict[str, object], records: dict[str, StepRecord]) -> datetime | None:
    """When the run started: its meta, else its first step, else the time in its id."""
    started = meta.get("started")
    if isinstance(started, int | float):
        return datetime.fromtimestamp(started, UTC)
    if records:
        return datetime.fromtimestamp(min(r.started for r in records.values()), UTC)
    try:
        return datetime.strptime(run_dir.name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def run_cost(run_dir: Path, config: CostOptimizationConfig, environment: str) -> RunCost:
    """Price the steps recorded in ``run_dir`` at ``environment``'s prices.

    Steps still running (or whose process died before recording its end) are listed in
    ``unfinished`` and not priced; steps recorded before usage was measured are priced by
    their request only and listed in ``unmeasured``.
    """
    meta = read_run_meta(run_dir)
    records = read_steps(run_dir)
    config.instance(environment, "pipeline")  # a ConfigError now rather than per step
    steps: list[StepCost] = []
    unfinished: list[str] = []
    for name, rec in records.items():
        priced = _step_cost(rec, config, environment) if rec.ended is not None else None
        if priced is None:
            unfinished.append(name)
        else:
            steps.append(priced)
    # Steps in the order they ran.
    steps.sort(key=lambda s: records[s.step].started)
    run_env = meta.get("environment")
    return RunCost(
        run_id=run_dir.name,
        run_dir=str(run_dir),
        pipeline=str(meta.get("pipeline", "?")),
        dataset=str(meta.get("dataset", "?")),
        environment=environment,
        run_environment=run_env if isinstance(run_env, str) else None,
        started=run_started(run_dir, meta, records),
        steps=steps,
        unfinished=unfinished,
        cost_usd=sum(s.cost_usd for s in steps),
        requested_usd=sum(s.requested_usd for s in steps),
        used_usd=sum(s.used_usd or 0.0 for s in steps),
        unmeasured=[s.step for s in steps if not s.measured],
    )


def run_costs(state_dir: Path, config: CostOptimizationConfig, environment: str) -> list[RunCost]:
    """Every run under ``<state>/runs`` recorded for ``environment`` (or recording none), newest first."""
    runs_dir = StateLayout(state_dir).runs
    if not runs_dir.is_dir():
        return []
    out = []
    for run_dir in (p for p in runs_dir.iterdir() if p.is_dir()):
        cost = run_cost(run_dir, config, environment)
        # Runs recorded before the meta named an environment count for the one asked about.
        if cost.run_environment in (None, environment):
            out.append(cost)
    # Run ids sort by time too, but only to the second: the recorded start decides.
    out.sort(key=lambda r: (r.started.timestamp() if r.started else 0.0, r.run_id), reverse=True)
    return out


__all__ = ["SECONDS_PER_HOUR", "RunCost", "StepCost", "pod_hourly_usd", "run_cost", "run_costs", "run_started"]
