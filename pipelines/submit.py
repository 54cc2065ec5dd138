"""Compile pipelines to KFP IR and submit them to a Kubeflow Pipelines API server."""

from pathlib import Path
from typing import Any

from mlops.errors import PipelineError


def compile_training(out: Path) -> Path:
    from kfp import compiler

    from pipelines.training import training_pipeline

    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(training_pipeline, str(out))
    return out


def submit_training(
    host: str,
    *,
    config: str,
    run_name: str,
    experiment: str = "training",
    package_dir: Path,
    namespace: str | None = None,
) -> Any:
    """Compile, then create a run on the cluster; returns the client's run object.

    ``config`` is the run's :class:`~platform_config.RunConfig` as JSON.

    The cluster cannot read this machine's files: the dataset config's ``path`` must be a
    location the pipeline pods can read (an object-store URI or a mounted volume).
    """
    import kfp

    package = compile_training(package_dir / "training.yaml")
    try:
        client = kfp.Client(host=host, namespace=namespace)
        return client.create_run_from_pipeline_package(
            str(package),
            arguments={"config": config},
            run_name=run_name,
            experiment_name=experiment,
            enable_caching=False,
        )
    except Exception as exc:  # connection, auth and API errors all mean "not submitted"
        raise PipelineError(f"could not submit to {host}: {type(exc).__name__}: {exc}") from exc
