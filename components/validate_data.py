from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Output

from components.image import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def validate_data(
    config: str,
    dataset: Input[Dataset],
    clean: Output[Dataset],
    quarantine: Output[Dataset],
    report: Output[HTML],
    metrics: Output[Metrics],
) -> bool:
    """Great Expectations gate: score, failing rows quarantined, self-contained report (which
    carries the :class:`~mlops.contracts.QualityResult`); PII found in a column the dataset
    config does not declare fails the gate too (privacy discovery).

    Returns the gate verdict as the single output: kfp.local resolves conditions on a
    component's single ``Output`` only.
    """
    from functools import partial
    from pathlib import Path

    from data_quality.step import validate_step
    from mlops.contracts import DataContract, publish, read_contract
    from platform_config import RunConfig
    from privacy.discovery.step import pii_gate

    run = RunConfig.parse(config)
    data = read_contract(dataset.metadata, DataContract, artifact="dataset")
    quality = validate_step(
        run.dataset,
        data,
        Path(dataset.path),
        Path(clean.path),
        Path(quarantine.path),
        Path(report.path),
        gate=run.platform.quality,
        state_dir=run.platform.state_dir,
        metrics=metrics.log_metric,
        pii_check=partial(pii_gate, dataset=run.dataset, config=run.platform.privacy.discovery),
    )
    publish(clean.metadata, data)
    publish(report.metadata, quality)
    return quality.passed
