"""The training pipeline's steps called in-process, in pipeline order, on a small sample.

A pytest plugin (loaded through ``-p tests.steps`` in pyproject's addopts), so every room's
step tests share one chain of session fixtures. Each fixture calls one step exactly as its
component does (``components/*.py``): its rooms' sections of the run's
:class:`~platform_config.RunConfig`, the contracts the step's inputs carry, artifact paths
without suffixes, a metrics sink; and it hands the step's contract on to the next fixture::

    sample_run → ingested → validated → featured → trained → evaluated → governed
               → registered → carded → promoted

No kfp.local and no servers: MLflow on SQLite, Feast on local files, all under one temporary
state folder; the steps record into the run folder given by ``MLOPS_RUN_DIR``. A fixture runs
only when a selected test needs it, so one room's tests run no step after theirs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mlops.config import DatasetConfig, load_dataset_config
from mlops.contracts import DataContract, Evaluation, GateResult, QualityResult, Registration, TrainedModel
from mlops.state import RUN_DIR_ENV, MetricsSink
from model_registry.registry import ModelRegistry
from platform_config import PlatformConfig, RunConfig, load_platform_config
from privacy.config import PrivacyConfig

ROOT = Path(__file__).resolve().parents[1]
# Small enough to keep every step's tests fast, large enough for the default gates to decide
# (the fairness gate needs groups of at least `min_group_size` rows in the holdout).
SAMPLE_ROWS = 2000
SAMPLE_SEED = 7
# Stands for the per-machine key `make run` writes to .mlops/secrets/pii-hash-key.
HASH_KEY = "step-tests-pii-key-0123456789abcdef"  # pragma: allowlist secret
R = TypeVar("R")
# An artifact a step made: (step, output).
Artifact = tuple[str, str]
DATASET: Artifact = ("ingest", "dataset")
CLEAN: Artifact = ("validate_data", "clean")
TRAINING_SET: Artifact = ("build_features", "training_set")
MODEL: Artifact = ("train", "model")
HOLDOUT: Artifact = ("train", "holdout")


@dataclass(frozen=True)
class StepRun:
    """One in-process pipeline run: its config, state and run folders, and what the steps logged.

    ``metrics`` holds, per step, what its metrics sink received (a KFP ``Metrics.log_metric``
    in a component); it is shared by the variants of a run.
    """

    config: RunConfig
    state: Path
    run_dir: Path
    artifacts: Path
    raw: Path
    hash_key_file: Path
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def platform(self) -> PlatformConfig:
        return self.config.platform

    def registry(self) -> ModelRegistry:
        return self.platform.open_registry()

    def artifact(self, step: str, output: str) -> Path:
        """Where ``step`` writes its output ``output`` (no suffix, as KFP's artifact paths)."""
        path = self.artifacts / step / output
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def sink(self, step: str) -> MetricsSink:
        received = self.metrics.setdefault(f"{self.run_dir.name}/{step}", {})

        def log_metric(key: str, value: float) -> None:
            received[key] = value

        return log_metric

    def received(self, step: str) -> dict[str, float]:
        """What ``step``'s metrics sink received in this run."""
        return self.metrics.get(f"{self.run_dir.name}/{step}", {})

    def call(self, step: str, function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Call a step function with this run's folder in its environment and a metrics sink."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(RUN_DIR_ENV, str(self.run_dir))
            return function(*args, metrics=self.sink(step), **kwargs)

    def step(
        self,
        name: str,
        function: Callable[..., R],
        *args: Any,
        inputs: tuple[Artifact, ...] = (),
        outputs: tuple[str, ...] = (),
        source: StepRun | None = None,
        **kwargs: Any,
    ) -> R:
        """Call step ``name`` as its component does: ``args`` (its config sections, then the
        contracts its inputs carry), the paths of its input artifacts (made by ``source``, by
        default this run), then of its outputs (in this run); keyword arguments pass through."""
        made_by = source or self
        paths = [made_by.artifact(*artifact) for artifact in inputs] + [self.artifact(name, o) for o in outputs]
        return self.call(name, function, *args, *paths, **kwargs)

    def record(self, step: str) -> dict[str, Any]:
        """The step's record in the run folder (``steps/<step>.json``)."""
        data: dict[str, Any] = json.loads((self.run_dir / "steps" / f"{step}.json").read_text())
        return data

    def variant(self, name: str, **platform: Any) -> StepRun:
        """Another run on the same state folder (registry, Feast), with its own run folder and
        artifacts, and platform settings changed: ``variant("strict", evaluation=EvaluationGate(...))``."""
        changed = PlatformConfig.model_validate(self.config.platform.model_dump() | platform)
        config = RunConfig(platform=changed, dataset=self.config.dataset)
        return dataclasses.replace(
            self, config=config, run_dir=self.run_dir.parent / name, artifacts=self.artifacts.parent / name
        )


def recorded(run: StepRun, step: str, status: str = "succeeded") -> dict[str, Any]:
    """The step's record, checked: it ended with ``status``, and its numeric figures (and only
    those) reached the metrics sink when it succeeded or was blocked."""
    rec = run.record(step)
    assert rec["name"] == step
    assert rec["status"] == status, rec.get("message")
    assert rec["ended"] is not None
    assert rec["ended"] >= rec["started"]
    assert rec["run_dir"] == str(run.run_dir)
    numbers = {k: float(v) for k, v in rec["figures"].items() if isinstance(v, int | float)}
    if status in ("succeeded", "blocked"):
        assert run.received(step) == numbers
    return rec


def step_platform(state: Path, key_file: Path) -> PlatformConfig:
    """``config/platform.yaml`` (dev) with the state folder and the PII key file moved to ``state``."""
    platform = load_platform_config(ROOT / "config", "dev").model_dump()
    return PlatformConfig.model_validate(
        platform | {"state_dir": state, "privacy": PrivacyConfig(hash_key=f"file://{key_file}")}
    )


def sample_dataset(path: Path) -> DatasetConfig:
    """The bundled sample's dataset config (PII policy, sensitive attributes, suite) on ``path``."""
    from training.sample_data import write_sample

    write_sample(path, rows=SAMPLE_ROWS, seed=SAMPLE_SEED)
    dataset = load_dataset_config(ROOT / "config" / "datasets" / "credit_risk.yaml").model_dump()
    return DatasetConfig.model_validate(dataset | {"path": path, "synthetic": None})


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> StepRun:
    """The state folder with the sample written, a PII hash key, and the run's config."""
    return new_step_run(tmp_path_factory.mktemp("steps") / ".mlops", "step-tests")


def new_step_run(state: Path, name: str) -> StepRun:
    """A run named ``name`` in the state folder ``state``: the sample written, a PII hash key."""
    key_file = state / "secrets" / "pii-hash-key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(HASH_KEY + "\n")
    raw = state / "data" / "credit_risk_sample.parquet"
    config = RunConfig(platform=step_platform(state, key_file), dataset=sample_dataset(raw))
    return StepRun(
        config=config,
        state=state,
        run_dir=state / "runs" / name,
        artifacts=state / "pipeline_root" / name,
        raw=raw,
        hash_key_file=key_file,
    )


def ingest(run: StepRun) -> DataContract:
    """The ingest step in ``run``, its anonymiser bound to the run's privacy and Vault settings."""
    from privacy.anonymization.step import anonymize_frame
    from training.steps import ingest_step

    anonymise = partial(anonymize_frame, privacy=run.platform.privacy, vault=run.platform.vault)
    return run.step("ingest", ingest_step, run.config.dataset, outputs=("dataset",), anonymise=anonymise)


def validate(run: StepRun, data: DataContract, source: StepRun | None = None) -> QualityResult:
    """The validate_data step in ``run`` on the dataset ``source`` (default ``run``) ingested."""
    from data_quality.step import validate_step

    return run.step(
        "validate_data",
        validate_step,
        run.config.dataset,
        data,
        inputs=(DATASET,),
        outputs=("clean", "quarantine", "report"),
        source=source,
        gate=run.platform.quality,
        state_dir=run.platform.state_dir,
    )


@pytest.fixture(scope="session")
def ingested(sample_run: StepRun) -> DataContract:
    return ingest(sample_run)


@pytest.fixture(scope="session")
def validated(sample_run: StepRun, ingested: DataContract) -> QualityResult:
    return validate(sample_run, ingested)


@pytest.fixture(scope="session")
def featured(sample_run: StepRun, ingested: DataContract, validated: QualityResult) -> DataContract:
    """The training set's contract (the pipeline builds features only when the quality gate passed)."""
    from feature_store.step import build_features_step

    assert validated.passed, validated.failed_expectations
    run = sample_run
    return run.step(
        "build_features",
        build_features_step,
        ingested,
        inputs=(CLEAN,),
        outputs=("training_set",),
        config=run.platform.features,
        state_dir=run.platform.state_dir,
    )


@pytest.fixture(scope="session")
def trained(sample_run: StepRun, featured: DataContract) -> TrainedModel:
    from training.steps import train_step

    model = sample_run.platform.model
    return sample_run.step("train", train_step, model, featured, inputs=(TRAINING_SET,), outputs=("model", "holdout"))


@pytest.fixture(scope="session")
def evaluated(sample_run: StepRun, featured: DataContract, trained: TrainedModel) -> Evaluation:
    from training.steps import evaluate_step

    run = sample_run
    return run.step(
        "evaluate", evaluate_step, run.platform.evaluation, run.registry(), featured, trained, inputs=(MODEL, HOLDOUT)
    )


@pytest.fixture(scope="session")
def governed(sample_run: StepRun, featured: DataContract, trained: TrainedModel) -> GateResult:
    from model_governance.step import govern_step

    run, inputs = sample_run, (MODEL, TRAINING_SET, HOLDOUT)
    return run.step(
        "govern", govern_step, run.platform.fairness, featured, trained, inputs=inputs, outputs=("governance",)
    )


@dataclass(frozen=True)
class Candidate:
    """What the register step reads: the training set's contract, the quality gate, the model, its
    evaluation and the fairness gate."""

    data: DataContract
    quality: QualityResult
    trained: TrainedModel
    evaluation: Evaluation
    governance: GateResult


@pytest.fixture(scope="session")
def candidate(
    featured: DataContract, validated: QualityResult, trained: TrainedModel, evaluated: Evaluation, governed: GateResult
) -> Candidate:
    return Candidate(featured, validated, trained, evaluated, governed)


def register(run: StepRun, source: StepRun, candidate: Candidate) -> Registration:
    """The register step in ``run`` on the model, training set and quality report ``source`` made."""
    from model_registry.steps import register_step

    return run.call(
        "register",
        register_step,
        run.registry(),
        model=source.artifact(*MODEL),
        trained=candidate.trained,
        training_set=source.artifact(*TRAINING_SET),
        data=candidate.data,
        quality_report=source.artifact("validate_data", "report"),
        quality=candidate.quality,
        evaluation=candidate.evaluation,
        governance=candidate.governance,
        holdout=source.artifact(*HOLDOUT),
    )


@pytest.fixture(scope="session")
def registered(sample_run: StepRun, candidate: Candidate) -> Registration:
    return register(sample_run, sample_run, candidate)


@pytest.fixture(scope="session")
def carded(sample_run: StepRun, registered: Registration, evaluated: Evaluation, governed: GateResult) -> str:
    """The model card step's answer: the version whose card it rendered and attached."""
    from model_governance.step import model_card_step

    run = sample_run
    return run.call(
        "model_card",
        model_card_step,
        run.config.dataset,
        run.platform.evaluation,
        run.registry(),
        run.artifact("govern", "governance"),
        registered,
        evaluated,
        run.artifact("model_card", "card_markdown"),
        run.artifact("model_card", "card_html"),
    )


@pytest.fixture(scope="session")
def promoted(sample_run: StepRun, registered: Registration, carded: str) -> str:
    """The promote step's answer (the pipeline promotes after the card, when every gate passed)."""
    from model_registry.steps import promote_step

    assert registered.passed, registered.gates
    return sample_run.call("promote", promote_step, sample_run.registry(), registered)


__all__ = [
    "CLEAN",
    "DATASET",
    "HASH_KEY",
    "HOLDOUT",
    "MODEL",
    "SAMPLE_ROWS",
    "TRAINING_SET",
    "Artifact",
    "Candidate",
    "StepRun",
    "candidate",
    "carded",
    "evaluated",
    "featured",
    "governed",
    "ingest",
    "ingested",
    "promoted",
    "recorded",
    "register",
    "registered",
    "sample_dataset",
    "sample_run",
    "step_platform",
    "trained",
    "validate",
    "validated",
]
