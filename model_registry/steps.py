"""The registry room's pipeline steps: register (next semantic version, lineage) and promote."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.contracts import DataContract, Evaluation, GateResult, QualityResult, Registration, TrainedModel, load_model
from mlops.state import MetricsSink, StateLayout, current_run_dir, record_step
from model_registry.compiled import CompileResult, compile_and_verify
from model_registry.config import RegistryConfig
from model_registry.registry import COMPILED_ARTIFACT, ModelRegistry


def registry_for(config: RegistryConfig, state_dir: Path) -> ModelRegistry:
    """The registry the config names; without a tracking URI, SQLite under the state folder."""
    if config.tracking_uri:
        return ModelRegistry(config.tracking_uri, config.artifact_root)
    return ModelRegistry.local(StateLayout(state_dir).registry)


def register_step(
    registry: ModelRegistry,
    *,
    model: Path,
    trained: TrainedModel,
    training_set: Path,
    data: DataContract,
    quality_report: Path,
    quality: QualityResult,
    evaluation: Evaluation,
    governance: GateResult,
    reason: str = "manual",
    metrics: MetricsSink | None = None,
    holdout: Path | None = None,
    threshold: float = 0.5,
) -> Registration:
    """Register the next semantic version with its lineage and the quality report.

    ``reason``: why the run started (a person, or the retraining trigger that fired). With a
    ``holdout``, the model is compiled and verified on it (:mod:`model_registry.compiled`,
    labels at ``threshold``, the serving threshold); the verified graph is stored beside the
    model, and the outcome is in the lineage (``scorer``) and the tags either way.
    """
    roles = data.roles
    gates = {"data_quality": quality.passed, "evaluation": evaluation.passed, "fairness": governance.passed}
    with record_step("register", metrics=metrics) as rec, tempfile.TemporaryDirectory() as tmp:
        training = pd.read_parquet(training_set, columns=[roles.entity, roles.timestamp])
        # Which entities (and as of when) fed this version: what right-to-erasure will need.
        ids_path = Path(tmp) / "entity_ids.parquet"
        training.to_parquet(ids_path, index=False)
        params = {"family": trained.family, **trained.params}
        fitted = load_model(model)
        compiled = _compile(fitted, trained, holdout, threshold)
        lineage = {
            "dataset": roles.name,
            "dataset_hash": data.dataset_hash,
            "training_rows": len(training),
            "entity_ids_artifact": "lineage/entity_ids.parquet",
            "roles": json.loads(roles.to_json()),
            "holdout": trained.holdout,
            "data_quality": quality.model_dump(mode="json"),
            "feature_view": data.feature_view,
            "feature_refs": data.feature_refs,
            # Rows left out because their subject had no consent for training (None: not checked).
            "consent": data.consent.model_dump(mode="json") if data.consent else None,
            "params": params,
            "metrics": evaluation.metrics,
            "champion_comparison": {
                "champion": evaluation.champion,
                "champion_metrics": evaluation.champion_metrics,
            },
            "gates": gates,
            "code_version": _code_version(),
            "reason": reason,
            "run_dir": str(current_run_dir() or ""),
            "scorer": compiled.record if compiled is not None else None,
        }
        # Artifact paths have no suffix; the registry's file names do.
        report = Path(tmp) / "quality.html"
        if quality_report.exists():
            report.write_bytes(quality_report.read_bytes())
        files = {"reports/quality": report} if report.exists() else {}
        files["lineage"] = ids_path
        tags = {"feature_view": data.feature_view} if data.feature_view else {}
        if compiled is not None:
            tags.update(compiled.tags)
            if compiled.onnx_bytes is not None:
                graph = Path(tmp) / COMPILED_ARTIFACT.rpartition("/")[2]
                graph.write_bytes(compiled.onnx_bytes)
                files[COMPILED_ARTIFACT.rpartition("/")[0]] = graph
        info = registry.register(
            roles.name,
            fitted,
            serving_schema=trained.serving_schema.model_dump(mode="json"),
            schema_hash=trained.schema_hash,
            training_fingerprint=trained.training_fingerprint,
            params=params,
            metrics=evaluation.metrics,
            gates=gates,
            lineage=lineage,
            artifacts=files,
            # The Feast view this version reads online (each feature schema keeps its own view);
            # what scores it (the compiled scorer or the fitted model) and its verification.
            extra_tags=tags or None,
        )
        rec.figures.update(model=roles.name, version=info.semver, bump=info.tags["bump"])
        if compiled is not None:
            rec.figures.update(scorer=compiled.record["runtime"], compile_s=compiled.record["seconds"])
            if compiled.record["reason"]:
                rec.notes.append(f"no compiled scorer, the fitted model serves: {compiled.record['reason']}")
        accepted = _accept_baseline(quality)
        if accepted:
            rec.notes.append(f"baseline suite accepted (later runs are checked against it): {accepted}")
        rec.figures.update({f"gate_{k}": "pass" if v else "fail" for k, v in gates.items()})
    return Registration(model=roles.name, version=info.semver, gates=gates)


def _compile(fitted: Any, trained: TrainedModel, holdout: Path | None, threshold: float) -> CompileResult | None:
    if holdout is None:
        return None
    frame = pd.read_parquet(holdout, columns=list(trained.serving_schema.kinds))
    return compile_and_verify(fitted, trained.serving_schema, frame, threshold=threshold)


def promote_step(registry: ModelRegistry, registered: Registration, *, metrics: MetricsSink | None = None) -> str:
    """Point the ``challenger`` alias at the registered version (called only when every gate passed)."""
    with record_step("promote", metrics=metrics) as rec:
        info = registry.set_alias(registered.model, registered.version, "challenger")
        rec.figures.update(alias="challenger", version=info.semver)
    return info.semver


def _accept_baseline(quality: QualityResult) -> Path | None:
    """A baseline profiled in this run becomes the dataset's accepted one once a version is registered."""
    pending, accepted = quality.baseline_pending, quality.baseline
    if not (pending and accepted and Path(pending).exists()):
        return None
    Path(pending).replace(accepted)
    return Path(accepted)


def _code_version() -> str:
    """The git commit of the code that ran, when there is one, else the package version."""
    import subprocess

    from mlops import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5).stdout
        return f"{__version__}+g{sha}{'.dirty' if dirty.strip() else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


__all__ = ["promote_step", "register_step", "registry_for"]
