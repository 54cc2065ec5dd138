"""Model registry on MLflow, with semantic versions and enforced aliases.

MLflow numbers versions 1, 2, 3…; the platform's semantic version lives in the version's
``semver`` tag, with the tags that decide the next bump (``schema_hash``,
``training_fingerprint``) and the serving schema that makes the compatibility matrix.
Only two aliases exist: ``challenger`` (set by the pipeline when every gate passes) and
``champion`` (set by a person with ``mlops models promote``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops.errors import RegistryError
from mlops.schema import ServingSchema
from mlops.versioning import SemVer, classify_change, next_version

if TYPE_CHECKING:
    from mlflow import MlflowClient

Alias = Literal["champion", "challenger"]
ALIASES: tuple[Alias, ...] = ("champion", "challenger")
EXPERIMENT = "training"
# Types skops will not load unless named. These are the tree structures of the model families
# in mlops.modeling.FAMILIES, reviewed: models are written only by this platform's pipeline
# into a registry it controls, never loaded from users' uploads.
SKOPS_TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    # SimpleImputer keeps the dtype it was fitted on (families without native missing values).
    "numpy.dtype",
]


@dataclass(frozen=True)
class VersionInfo:
    name: str
    semver: str
    mlflow_version: str
    run_id: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    created_ms: int = 0

    @property
    def schema(self) -> ServingSchema | None:
        """The full serving schema (features with nullability, sensitive attributes, PII names)."""
        text = self.tags.get("serving_schema")
        return ServingSchema.parse(text) if text else None

    @property
    def serving_schema(self) -> dict[str, str]:
        """``{feature: "number" | "string"}`` (empty when the version has no schema)."""
        schema = self.schema
        return schema.kinds if schema is not None else {}

    @property
    def gates_passed(self) -> bool:
        return self.tags.get("gates_passed") == "true"


class ModelRegistry:
    """Thin, typed layer over the MLflow client (imported lazily: ~4 s)."""

    def __init__(self, tracking_uri: str, artifact_root: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self._client: MlflowClient | None = None

    @classmethod
    def local(cls, registry_dir: Path) -> ModelRegistry:
        registry_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{registry_dir.resolve()}/mlflow.db", (registry_dir / "artifacts").resolve().as_uri())

    def _is_empty_local(self) -> bool:
        prefix = "sqlite:///"
        return self.tracking_uri.startswith(prefix) and not Path(self.tracking_uri[len(prefix) :]).exists()

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            # The project's uv files are not the model's environment; skip their detection.
            os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
            os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            import mlflow
            from mlflow import MlflowClient

            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            self._client = MlflowClient(self.tracking_uri, self.tracking_uri)
        return self._client

    # ------------------------------------------------------------------ reads
    def list_models(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest semantic version first."""
        found = self.client.search_model_versions(f"name='{name}'")
        if not found:
            return []
        # Search results do not carry aliases; the registered model does.
        aliases: dict[str, list[str]] = {}
        for alias, version in self.client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        infos = [self._info(mv, aliases.get(str(mv.version), [])) for mv in found if "semver" in mv.tags]
        return sorted(infos, key=lambda v: SemVer.parse(v.semver))

    def latest(self, name: str) -> VersionInfo | None:
        versions = self.versions(name)
        return versions[-1] if versions else None

    def get(self, name: str, ref: str) -> VersionInfo:
        """A version by semantic version (``1.2.0``) or alias (``champion``)."""
        if ref in ALIASES:
            info = self.by_alias(name, ref)
            if info is None:
                raise RegistryError(f"model {name!r} has no {ref} version")
            return info
        SemVer.parse(ref)
        for info in self.versions(name):
            if info.semver == ref:
                return info
        raise RegistryError(f"model {name!r} has no version {ref}")

    def by_alias(self, name: str, alias: Alias) -> VersionInfo | None:
        if self._is_empty_local():
            return None  # nothing registered yet: skip importing MLflow (~4 s) and creating the DB
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return self._info(mv)

    def load_model(self, info: VersionInfo) -> Any:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(f"models:/{info.name}/{info.mlflow_version}")

    def _info(self, mv: Any, aliases: list[str] | None = None) -> VersionInfo:
        metrics: dict[str, float] = {}
        if mv.run_id:
            metrics = dict(self.client.get_run(mv.run_id).data.metrics)
        return VersionInfo(
            name=mv.name,
            semver=mv.tags.get("semver", "?"),
            mlflow_version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=tuple(sorted(aliases if aliases is not None else mv.aliases)),
            tags=dict(mv.tags),
            metrics=metrics,
            created_ms=int(mv.creation_timestamp or 0),
        )

    # ------------------------------------------------------------------ writes
    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root))

    def register(
        self,
        name: str,
        model: Any,
        *,
        serving_schema: ServingSchema | dict[str, str],
        schema_hash: str,
        training_fingerprint: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        gates: dict[str, bool],
        lineage: dict[str, Any],
        artifacts: dict[str, Path] | None = None,
        extra_tags: dict[str, str] | None = None,
    ) -> VersionInfo:
        """Log ``model`` with its lineage and register the next semantic version."""
        import mlflow
        import mlflow.sklearn

        previous = self.latest(name)
        change = classify_change(
            previous.tags if previous else None, schema_hash=schema_hash, training_fingerprint=training_fingerprint
        )
        version = next_version(SemVer.parse(previous.semver) if previous else None, change)
        passed = all(gates.values())
        tags = {
            "semver": str(version),
            "bump": change or "initial",
            "schema_hash": schema_hash,
            "training_fingerprint": training_fingerprint,
            "serving_schema": ServingSchema.coerce(serving_schema).to_json(),
            "gates_passed": "true" if passed else "false",
            **{f"gate.{k}": "pass" if v else "fail" for k, v in gates.items()},
            **(extra_tags or {}),
        }
        self.client  # noqa: B018 - sets the tracking URI before the fluent API is used
        with mlflow.start_run(experiment_id=self._experiment_id(), run_name=f"{name}-{version}") as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})  # skip NaN
            info = mlflow.sklearn.log_model(
                model, name="model", pip_requirements=["scikit-learn"], skops_trusted_types=SKOPS_TRUSTED_TYPES
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "lineage.json"
                path.write_text(json.dumps({**lineage, "semver": str(version)}, indent=2, default=str))
                mlflow.log_artifact(str(path))
            for sub, src in (artifacts or {}).items():
                mlflow.log_artifact(str(src), artifact_path=sub)
            run_id = run.info.run_id
        mv = mlflow.register_model(info.model_uri, name, tags=tags)
        self.client.update_model_version(name, mv.version, description=f"run {run_id}")
        return self.get(name, str(version))

    def set_alias(self, name: str, ref: str, alias: str, *, force: bool = False) -> VersionInfo:
        """Point ``alias`` at a version; only versions whose gates all passed unless ``force``."""
        if alias not in ALIASES:
            raise RegistryError(f"alias must be one of {', '.join(ALIASES)}, got {alias!r}")
        info = self.get(name, ref)
        if not info.gates_passed and not force:
            failed = [k.removeprefix("gate.") for k, v in info.tags.items() if k.startswith("gate.") and v == "fail"]
            raise RegistryError(
                f"{name} {info.semver} did not pass every gate ({', '.join(failed)}); use --force to override"
            )
        current = self.by_alias(name, alias)
        if current is not None and current.mlflow_version != info.mlflow_version:
            # Kept so a rollback knows where the alias pointed before.
            self.client.set_model_version_tag(name, info.mlflow_version, f"previous_{alias}", current.semver)
        self.client.set_registered_model_alias(name, alias, info.mlflow_version)
        return self.get(name, info.semver)

    def attach(self, info: VersionInfo, files: list[Path], artifact_path: str = "reports") -> None:
        """Add files to the version's run under ``artifact_path``, e.g. the model card rendered
        once the version exists."""
        for src in files:
            self.client.log_artifact(info.run_id, str(src), artifact_path=artifact_path)

    def lineage(self, info: VersionInfo) -> dict[str, Any]:
        import mlflow.artifacts

        text = mlflow.artifacts.load_text(f"runs:/{info.run_id}/lineage.json")
        return dict(json.loads(text))

    def compatibility_matrix(self, name: str) -> dict[str, dict[str, bool]]:
        """For each version: which serving schemas (named by the version that introduced them) it accepts."""
        versions = self.versions(name)
        schemas: dict[str, str] = {}
        for v in versions:  # a schema is named after the first version that used it
            schemas.setdefault(v.tags.get("schema_hash", ""), v.semver)
        return {
            v.semver: {f"schema@{first}": v.tags.get("schema_hash") == h for h, first in schemas.items()}
            for v in versions
        }
