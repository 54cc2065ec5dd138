"""``config/cost_optimization.yaml``: the schema this room owns.

Besides the cost-allocation tags and budgets (which Terraform's ``modules/cost-tags`` reads
from the same file), it prices compute: the node types (instance classes) with their size and
hourly price, which node type each workload runs on per environment, the discount of spot
capacity for the pipeline (training) nodes, the resources each pipeline step's pod requests,
and when the cost report suggests a smaller request.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mlops.config import StrictModel, load_model
from mlops.errors import ConfigError

CONFIG_FILE = "cost_optimization.yaml"
Environment = Literal["dev", "local-stack", "staging", "prod"]
GIB = 1024**3


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity (``500m``, ``2``, ``4Gi``) as a number; ValueError if it is not one."""
    # kubernetes' own parser (the rules the API server applies); its package is slow to import.
    from kubernetes.utils.quantity import parse_quantity as k8s_parse_quantity

    try:
        return Decimal(k8s_parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        raise ValueError("a Kubernetes quantity such as 500m, 2 or 4Gi") from None


def _quantity(value: str) -> str:
    amount = parse_quantity(value)
    if amount <= 0:
        raise ValueError("a positive Kubernetes quantity such as 500m, 2 or 4Gi")
    return value


# Written as in a pod spec (and in the Helm values), so a figure can be copied between them.
Quantity = Annotated[str, AfterValidator(_quantity)]


class InstanceClass(StrictModel):
    """A node type: its allocatable size and its on-demand hourly price."""

    vcpu: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    hourly_usd: float = Field(gt=0)


class EnvironmentCompute(StrictModel):
    """Which instance class each workload of one environment runs on."""

    # The node group pipeline step pods run on (Terraform's training node group).
    pipeline_instance: str
    # The node group the serving pods run on (Terraform's system node group).
    serving_instance: str


class ResourceRequest(StrictModel):
    """What a pod requests: CPU and memory as Kubernetes quantities."""

    cpu: Quantity
    memory: Quantity

    @property
    def cpu_cores(self) -> float:
        return float(parse_quantity(self.cpu))

    @property
    def memory_bytes(self) -> int:
        return int(parse_quantity(self.memory))


class PipelineSteps(StrictModel):
    """The requests of each pipeline step's pod; a step not listed requests ``default``."""

    default: ResourceRequest = ResourceRequest(cpu="1", memory="2Gi")
    steps: dict[str, ResourceRequest] = Field(default_factory=dict)

    def request(self, step: str) -> ResourceRequest:
        return self.steps.get(step, self.default)


class RightSizing(StrictModel):
    """When the report suggests a smaller request for a pipeline step or the serving pods."""

    # Suggest less when the highest use stays under this fraction of the request...
    memory_below_fraction: float = Field(default=0.25, gt=0, lt=1)
    cpu_below_fraction: float = Field(default=0.25, gt=0, lt=1)
    # ...in each of the last `runs` succeeded runs of the step, and there were at least `min_runs`.
    runs: int = Field(default=5, ge=1)
    min_runs: int = Field(default=3, ge=1)
    # The suggested request: the highest use seen times this.
    headroom: float = Field(default=1.5, ge=1)


class CostOptimizationConfig(StrictModel):
    """``config/cost_optimization.yaml``: tags on every resource, budgets, idle policies, prices."""

    class Budget(StrictModel):
        monthly_usd: float = Field(gt=0)
        alert_at_fraction: float = Field(default=0.8, gt=0, le=1)

    class Compute(StrictModel):
        training_spot_instances: bool = True
        scale_to_zero_after_minutes: int = Field(default=30, ge=0)
        # Average discount of spot capacity against the on-demand price, applied to pipeline
        # steps while training_spot_instances is on (spot prices move; use the recent average).
        spot_discount: float = Field(default=0.6, ge=0, lt=1)

    cost_center: str
    owner: str
    tags: dict[str, str] = Field(default_factory=dict)
    budgets: dict[Environment, Budget]
    compute: Compute = Compute()
    instance_classes: dict[str, InstanceClass] = Field(min_length=1)
    environments: dict[Environment, EnvironmentCompute]
    pipeline_steps: PipelineSteps = PipelineSteps()
    right_sizing: RightSizing = RightSizing()

    @model_validator(mode="after")
    def _references(self) -> CostOptimizationConfig:
        # Each error is located at the key that holds the bad reference, so the message names it.
        errors: list[InitErrorDetails] = []
        known = ", ".join(sorted(self.instance_classes))
        for env, compute in self.environments.items():
            for key in ("pipeline_instance", "serving_instance"):
                name = getattr(compute, key)
                if name not in self.instance_classes:
                    message = "the name of an entry of instance_classes ({known})"
                    errors.append(
                        {
                            "type": PydanticCustomError("unknown_instance_class", message, {"known": known}),
                            "loc": ("environments", env, key),
                            "input": name,
                        }
                    )
        for env in self.budgets:
            if env not in self.environments:
                message = "the instance classes this environment runs on (every environment with a budget needs them)"
                errors.append(
                    {
                        "type": PydanticCustomError("missing_environment", message),
                        "loc": ("environments", env),
                        "input": None,
                    }
                )
        if self.right_sizing.min_runs > self.right_sizing.runs:
            message = "at most right_sizing.runs ({runs})"
            errors.append(
                {
                    "type": PydanticCustomError("too_large", message, {"runs": self.right_sizing.runs}),
                    "loc": ("right_sizing", "min_runs"),
                    "input": self.right_sizing.min_runs,
                }
            )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def compute_for(self, environment: str) -> EnvironmentCompute:
        """The instance classes of ``environment``; a ConfigError if none are configured."""
        compute = next((c for env, c in self.environments.items() if env == environment), None)
        if compute is None:
            raise ConfigError(
                CONFIG_FILE, f"environments.{environment}", "the instance classes this environment runs on"
            )
        return compute

    def instance(self, environment: str, workload: Literal["pipeline", "serving"]) -> InstanceClass:
        """The instance class ``workload`` runs on in ``environment``."""
        compute = self.compute_for(environment)
        return self.instance_classes[compute.pipeline_instance if workload == "pipeline" else compute.serving_instance]


def load_cost_config(config_dir: Path = Path("config")) -> CostOptimizationConfig:
    """``<config_dir>/cost_optimization.yaml``, validated; a bad file is a ConfigError naming the key."""
    return load_model(config_dir / CONFIG_FILE, CostOptimizationConfig)


__all__ = [
    "CONFIG_FILE",
    "GIB",
    "CostOptimizationConfig",
    "Environment",
    "EnvironmentCompute",
    "InstanceClass",
    "PipelineSteps",
    "Quantity",
    "ResourceRequest",
    "RightSizing",
    "load_cost_config",
    "parse_quantity",
]
