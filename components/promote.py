from kfp import dsl

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def promote(model_name: str, version: str, platform_config: str, run_dir: str) -> str:
    """Set the ``challenger`` alias (the pipeline calls this only when every gate passed)."""
    from mlops.steps import promote_step

    return promote_step(model_name, version, platform_config, run_dir)
