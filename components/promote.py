from kfp import dsl
from kfp.dsl import Artifact, Input

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def promote(registration: Input[Artifact], platform_config: str, run_dir: str) -> str:
    """Set the ``challenger`` alias (the pipeline calls this only when every gate passed)."""
    from mlops.steps import promote_step

    return promote_step(registration.path, platform_config, run_dir)
