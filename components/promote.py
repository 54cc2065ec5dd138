from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def promote(config: str, registration: Input[Artifact], metrics: Output[Metrics]) -> str:
    """Set the ``challenger`` alias (the pipeline calls this only when every gate passed)."""
    from mlops.contracts import Registration, read_contract
    from model_registry.steps import promote_step
    from platform_config import RunConfig

    return promote_step(
        RunConfig.parse(config).platform.open_registry(),
        read_contract(registration.metadata, Registration, artifact="registration"),
        metrics=metrics.log_metric,
    )
