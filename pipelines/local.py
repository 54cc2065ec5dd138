"""Run a pipeline with ``kfp.local`` (SubprocessRunner, no venv): the same IR as the cluster.

Used by ``mlops run training`` in a child process (``python -m pipelines.local``), so the
CLI stays responsive and can show each step's progress from the run folder.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

from mlops.state import read_run_meta, write_run_meta


def run_local(dataset_config: str, platform_config: str, run_dir: Path, pipeline_root: Path) -> None:
    from kfp import local

    from pipelines.training import training_pipeline

    # Locally the platform image is not used (SubprocessRunner runs in this environment).
    warnings.filterwarnings("ignore", message=".*non-Python base image.*")
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True)
    training_pipeline(dataset_config=dataset_config, platform_config=platform_config, run_dir=str(run_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--pipeline-root", type=Path, required=True)
    args = parser.parse_args(argv)
    meta = read_run_meta(args.run_dir)
    try:
        run_local(
            json.dumps(meta["dataset_config"]), json.dumps(meta["platform_config"]), args.run_dir, args.pipeline_root
        )
    except Exception as exc:  # the step records hold the detail; the CLI reads both
        write_run_meta(args.run_dir, {**meta, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
