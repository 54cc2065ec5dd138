from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def anonymize(
    dataset: Input[Dataset], dataset_config: str, platform_config: str, run_dir: str, anonymized: Output[Dataset]
) -> int:
    """Apply the per-column PII policy (hash key from the secret resolver)."""
    from privacy.anonymization.step import anonymize_step

    return anonymize_step(dataset.path, dataset_config, platform_config, run_dir, anonymized.path)
