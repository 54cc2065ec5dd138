"""The kernel's pipeline steps (ingest, train, evaluate, register, promote).

Each function is what one KFP component calls: it takes parameters and artifact paths,
records the step under the run folder (when one is given) and returns the component's
outputs as a plain tuple.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mlops.config import DatasetConfig, PlatformConfig
from mlops.datasets import Roles, decide_roles, ingest, prepare_features, target_labels
from mlops.registry import ModelRegistry
from mlops.state import StateLayout, StepRecord, record_step

# Applies the dataset's PII policy to a frame: (frame, dataset config, platform config) ->
# (anonymised frame, {column: action}). Given by the component (privacy room).
Anonymiser = Callable[[pd.DataFrame, DatasetConfig, PlatformConfig], tuple[pd.DataFrame, dict[str, str]]]


def registry_for(config: PlatformConfig) -> ModelRegistry:
    if config.registry.tracking_uri:
        return ModelRegistry(config.registry.tracking_uri, config.registry.artifact_root)
    return ModelRegistry.local(StateLayout(config.state_dir).registry)


def ingest_step(
    dataset_config: str, platform_config: str, run_dir: str, out_dataset: str, *, anonymise: Anonymiser
) -> tuple[str, str, int]:
    """Read the dataset, add ids/timestamps if absent, decide column roles, anonymise PII.

    PII is anonymised here, before the first write: raw personal data never reaches an
    artifact, the quarantine, a report or the feature store. Returns (roles, hash, rows).
    """
    cfg = DatasetConfig.model_validate_json(dataset_config)
    platform = PlatformConfig.model_validate_json(platform_config)
    with record_step(run_dir, "ingest") as rec:
        got = ingest(cfg)
        labels = target_labels(got.frame[cfg.target], cfg)
        roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated, labels=labels)
        frame, actions = anonymise(got.frame, cfg, platform)
        frame = prepare_features(frame, roles)
        Path(out_dataset).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out_dataset, index=False)
        rec.figures.update(
            rows=len(frame),
            columns=got.frame.shape[1] - len(got.generated),
            features=len(roles.features),
            dataset_hash=got.dataset_hash,
        )
        if actions:
            rec.figures["pii"] = ", ".join(f"{c}={a}" for c, a in actions.items())
        if roles.left_out:
            rec.figures["left_out"] = len(roles.left_out)
            rec.notes += [f"not a feature: {c} — {why}" for c, why in roles.left_out.items()]
        if roles.generated:
            rec.notes.append(f"generated (not in the file): {', '.join(roles.generated)}")
        if (roles.positive_label, roles.negative_label) not in ((1, 0), (True, False)):
            rec.notes.append(f"target {roles.target}: {roles.positive_label!r} is the positive label (1)")
    return roles.to_json(), got.dataset_hash, len(frame)


def train_step(
    training_set: str, roles_json: str, platform_config: str, run_dir: str, out_model: str, out_holdout: str
) -> tuple[str, str, str, str]:
    """Fit the model. Returns (serving schema JSON, schema hash, training fingerprint, holdout description)."""
    from mlops.training import save_model, train

    config = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    with record_step(run_dir, "train") as rec:
        model, holdout, result = train(pd.read_parquet(training_set), roles, config.model)
        save_model(model, Path(out_model))
        holdout.to_parquet(out_holdout, index=False)
        rec.figures.update(
            family=config.model.family,
            rows_train=result.rows_train,
            rows_holdout=result.rows_holdout,
            holdout=result.holdout_method,
            fit_seconds=round(result.train_metrics["fit_seconds"], 2),
        )
        if result.schema.nullable:
            rec.figures["nullable_features"] = len(result.schema.nullable)
        rec.notes.append(f"holdout: {result.holdout}")
    return result.schema.to_json(), result.schema_hash, result.training_fingerprint, result.holdout


def evaluate_step(
    model_path: str, holdout: str, roles_json: str, schema_hash: str, platform_config: str, run_dir: str
) -> tuple[bool, str]:
    """Holdout metrics and the champion comparison. Returns (passed, evaluation JSON)."""
    from mlops.training import evaluate, load_model

    config = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    with record_step(run_dir, "evaluate") as rec:
        result = evaluate(
            load_model(Path(model_path)),
            pd.read_parquet(holdout),
            roles,
            config.evaluation,
            registry=registry_for(config),
            schema_hash=schema_hash,
        )
        rec.figures.update({k: round(v, 4) for k, v in result.metrics.items()})
        rec.figures["champion"] = result.champion or "none"
        if not result.passed:
            rec.block("; ".join(result.reasons))
    return result.passed, result.to_json()


def register_step(
    *,
    model: str,
    training_set: str,
    reports: dict[str, str],
    roles: str,
    platform_config: str,
    run_dir: str,
    serving_schema: str,
    schema_hash: str,
    training_fingerprint: str,
    holdout_description: str,
    dataset_hash: str,
    quality_summary: str,
    feature_refs: str,
    evaluation: str,
    evaluation_passed: bool,
    governance_passed: bool,
    out_registration: str,
) -> bool:
    """Register the next semantic version with its lineage; write {model, version}; return all gates passed."""
    import tempfile

    from mlops.training import load_model

    config = PlatformConfig.model_validate_json(platform_config)
    parsed_roles = Roles.from_json(roles)
    evaluation_result = json.loads(evaluation)
    quality = json.loads(Path(quality_summary).read_text())
    refs = json.loads(feature_refs)
    feature_view = refs[0].partition(":")[0] if refs else ""
    gates = {"data_quality": True, "evaluation": evaluation_passed, "fairness": governance_passed}
    with record_step(run_dir, "register") as rec, tempfile.TemporaryDirectory() as tmp:
        training = pd.read_parquet(training_set, columns=[parsed_roles.entity, parsed_roles.timestamp])
        # Which entities (and as of when) fed this version: what right-to-erasure will need.
        ids_path = Path(tmp) / "entity_ids.parquet"
        training.to_parquet(ids_path, index=False)
        lineage = {
            "dataset": parsed_roles.name,
            "dataset_hash": dataset_hash,
            "training_rows": len(training),
            "entity_ids_artifact": "lineage/entity_ids.parquet",
            "roles": json.loads(roles),
            "holdout": holdout_description,
            "data_quality": quality,
            "feature_view": feature_view,
            "feature_refs": refs,
            "params": {"family": config.model.family, **config.model.params},
            "metrics": evaluation_result["metrics"],
            "champion_comparison": {
                "champion": evaluation_result["champion"],
                "champion_metrics": evaluation_result["champion_metrics"],
            },
            "gates": gates,
            "code_version": _code_version(),
            "run_dir": run_dir,
        }
        files = {f"reports/{name}": Path(p) for name, p in reports.items() if p and Path(p).exists()}
        files["lineage"] = ids_path
        info = registry_for(config).register(
            parsed_roles.name,
            load_model(Path(model)),
            serving_schema=json.loads(serving_schema),
            schema_hash=schema_hash,
            training_fingerprint=training_fingerprint,
            params=lineage["params"],
            metrics=evaluation_result["metrics"],
            gates=gates,
            lineage=lineage,
            artifacts=files,
            # The Feast view this version reads online (each feature schema keeps its own view).
            extra_tags={"feature_view": feature_view} if feature_view else None,
        )
        rec.figures.update(model=parsed_roles.name, version=info.semver, bump=info.tags["bump"])
        accepted = _accept_baseline(quality)
        if accepted:
            rec.notes.append(f"baseline suite accepted (later runs are checked against it): {accepted}")
        rec.figures.update({f"gate_{k}": "pass" if v else "fail" for k, v in gates.items()})
        Path(out_registration).write_text(json.dumps({"model": parsed_roles.name, "version": info.semver}))
    return all(gates.values())


def promote_step(registration: str, platform_config: str, run_dir: str) -> str:
    """Point the ``challenger`` alias at the registered version (called only when every gate passed)."""
    config = PlatformConfig.model_validate_json(platform_config)
    registered = json.loads(Path(registration).read_text())
    with record_step(run_dir, "promote") as rec:
        info = registry_for(config).set_alias(registered["model"], registered["version"], "challenger")
        rec.figures.update(alias="challenger", version=info.semver)
    return info.semver


def _accept_baseline(quality: dict[str, object]) -> Path | None:
    """A baseline profiled in this run becomes the dataset's accepted one once a version is registered."""
    pending, accepted = quality.get("baseline_pending"), quality.get("baseline")
    if not (isinstance(pending, str) and isinstance(accepted, str) and Path(pending).exists()):
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


__all__ = [
    "Anonymiser",
    "StepRecord",
    "evaluate_step",
    "ingest_step",
    "promote_step",
    "register_step",
    "registry_for",
    "train_step",
]
