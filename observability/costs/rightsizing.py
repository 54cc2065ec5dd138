"""Right-sizing hints: requests much larger than what was measured.

A pipeline step is flagged when its highest use of a resource stayed under a fraction of its
request (``right_sizing.*_below_fraction``) in each of its last ``right_sizing.runs`` succeeded
runs, and there were at least ``right_sizing.min_runs`` of them; the serving pods when one
scrape of their process metrics shows the same. Memory use is the step's peak resident
memory; CPU use its average over the step's wall time (bursts above it are served by the
limit, not the request). The suggestion is the highest use times ``right_sizing.headroom``,
rounded up to 64Mi of memory or 50m of CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from observability.costs.config import CostOptimizationConfig, ResourceRequest, RightSizing
from observability.costs.pricing import RunCost

MIB = 2**20
Resource = Literal["cpu", "memory"]


class RightSizingHint(BaseModel):
    """A request that measured use says is too large, and a smaller one to try."""

    workload: Literal["pipeline_step", "serving"]
    name: str
    resource: Resource
    requested: str
    # The highest use observed: CPU cores or memory bytes.
    observed_max: float
    fraction_of_request: float
    observations: int
    suggested: str
    message: str


def _format(resource: Resource, amount: float) -> str:
    if resource == "memory":
        return f"{amount / MIB:.0f}Mi"
    return f"{amount * 1000:.0f}m"


def _suggest(resource: Resource, amount: float) -> float:
    if resource == "memory":
        return max(math.ceil(amount / (64 * MIB)), 1) * 64 * MIB
    return max(math.ceil(amount * 1000 / 50), 1) * 50 / 1000


def usage_hint(
    workload: Literal["pipeline_step", "serving"],
    name: str,
    resource: Resource,
    request: ResourceRequest,
    observed: Sequence[float],
    rules: RightSizing,
    *,
    evidence: str,
    what: str | None = None,
) -> RightSizingHint | None:
    """A hint when every observation is under the fraction of the request, else None."""
    if not observed:
        return None
    requested = request.cpu_cores if resource == "cpu" else float(request.memory_bytes)
    limit = rules.cpu_below_fraction if resource == "cpu" else rules.memory_below_fraction
    highest = max(observed)
    if highest >= limit * requested:
        return None
    suggested = _suggest(resource, highest * rules.headroom)
    if suggested >= requested:
        return None  # the rounding ate the saving
    text_requested = request.cpu if resource == "cpu" else request.memory
    what = what or ("average CPU" if resource == "cpu" else "peak memory")
    message = (
        f"{name}: {what} at most {_format(resource, highest)} ({highest / requested:.0%} of the "
        f"{text_requested} requested) {evidence}: request {_format(resource, suggested)}"
    )
    return RightSizingHint(
        workload=workload,
        name=name,
        resource=resource,
        requested=text_requested,
        observed_max=highest,
        fraction_of_request=highest / requested,
        observations=len(observed),
        suggested=_format(resource, suggested),
        message=message,
    )


def step_hints(runs: Sequence[RunCost], config: CostOptimizationConfig) -> list[RightSizingHint]:
    """Hints for the pipeline steps, from their last succeeded, measured runs (``runs`` newest first)."""
    rules = config.right_sizing
    seen: dict[str, list[tuple[float, float]]] = {}
    for run in sorted(runs, key=lambda r: r.started.timestamp() if r.started else 0.0, reverse=True):
        for step in run.steps:
            cores = step.cpu_cores_used
            if step.status != "succeeded" or cores is None or step.peak_memory_bytes is None:
                continue
            window = seen.setdefault(step.step, [])
            if len(window) < rules.runs:
                window.append((cores, float(step.peak_memory_bytes)))
    hints = []
    for name, observations in sorted(seen.items()):
        if len(observations) < rules.min_runs:
            continue
        request = config.pipeline_steps.request(name)
        evidence = f"in the last {len(observations)} runs"
        by_resource: list[tuple[Resource, list[float]]] = [
            ("memory", [memory for _, memory in observations]),
            ("cpu", [cores for cores, _ in observations]),
        ]
        for resource, values in by_resource:
            hint = usage_hint("pipeline_step", name, resource, request, values, rules, evidence=evidence)
            if hint is not None:
                hints.append(hint)
    return hints


__all__ = ["RightSizingHint", "step_hints", "usage_hint"]
