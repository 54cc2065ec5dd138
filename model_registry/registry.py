"""Model registry on MLflow, with semantic versions and enforced aliases.

MLflow numbers versions 1, 2, 3…; the platform's semantic version lives in the version's
``semver`` tag, with the tags that decide the next bump (``schema_hash``,
``training_fingerprint``) and the serving schema that makes the compatibility matrix.
Only two aliases exist: ``challenger`` (set by the pipeline when every gate passes) and
``champion`` (set by a person with ``mlops models promote``).

Semantic versions are allocated atomically, by the registry's own numbering
---------------------------------------------------------------------------
A semver is not chosen before registering (two runs reading the same "latest" would pick the
same one). The MLflow version is created first, carrying the tags that decide its bump; MLflow
gives it the next number inside one transaction, and the ``(name, version)`` primary key turns
away a concurrent writer, which takes the number after. So every number is unique, and a
committed number means all smaller ones are committed. The semver is then *derived* from that
order (``versioning.assign_versions``): the predecessor's semver (the nearest smaller number,
tagged or itself derived) bumped by what changed between the two. Any process reading the
committed rows derives the same answer, so concurrent registrations can never share a semver,
and there are no gaps. There is no race to lose and nothing to retry with another number.

This holds for every backend MLflow keeps its database in, because the database enforces it:
SQLite locally; Postgres behind one or several tracking servers in production, which pods
reach over HTTP, so a client-side lock or a database advisory lock is not even reachable from
a pipeline pod. A version's number, once created, is never given back: a registration that
fails after creating it is tagged ``run_status=failed`` and stays (a concurrent registration
may already have derived its own semver from it), visibly incomplete, never promotable
without ``--force``.

Local SQLite has one more problem: one writer at a time, and a writer that cannot get the
file lock fails with ``database is locked`` (SQLite reports it at once, whatever the busy
timeout, when two transactions that both read want to write). The platform's writers to a
local registry therefore take an exclusive ``fcntl.flock`` on ``mlflow.db.lock`` (which also
guards MLflow's first-use schema creation, which is not safe to run twice at once), and every
call is retried with backoff on ``database is locked`` for the writers and readers outside
the platform's lock (``mlops models list``, the MLflow UI, serving).

Run status: the tag ``run_status`` says how far the run that registered a version got:
``registering`` (created, not yet fully tagged), ``promotion_pending`` (registered, every gate
passed: the pipeline's promote step is next), ``complete`` (nothing more to do: gates failed
so no alias is due, or an alias was set), ``interrupted`` (its run stopped before promoting
it) or ``failed`` (registration raised after the version was created).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mlops.errors import RegistryError
from mlops.schema import ServingSchema
from mlops.state import file_lock
from model_registry.versioning import SemVer, assign_versions

if TYPE_CHECKING:
    from mlflow import MlflowClient

T = TypeVar("T")

Alias = Literal["champion", "challenger"]
ALIASES: tuple[Alias, ...] = ("champion", "challenger")
EXPERIMENT = "training"
# Where a version's compiled scorer lives in its run (model_registry.compiled; tag scorer=onnx).
COMPILED_ARTIFACT = "compiled/model.onnx"
# Types skops will not load unless named. These are the tree structures of the model families
# in training.modeling.FAMILIES, reviewed: models are written only by this platform's pipeline
# into a registry it controls, never loaded from users' uploads.
SKOPS_TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    # SimpleImputer keeps the dtype it was fitted on (families without native missing values).
    "numpy.dtype",
]

RunStatus = Literal["registering", "promotion_pending", "complete", "interrupted", "failed"]
RUN_STATUS_LABELS: dict[str, str] = {
    "complete": "complete",
    "promotion_pending": "incomplete: not promoted yet",
    "interrupted": "incomplete: run interrupted before promotion",
    "registering": "incomplete: registration unfinished",
    "failed": "incomplete: registration failed",
}
# Long enough to outwait any other writer of a local registry; a server backend never says "locked".
RETRY_SECONDS = 120.0


def _transient(exc: BaseException) -> bool:
    """Errors after which the call did not take effect and may simply be repeated: SQLite busy,
    or MLflow giving up after its own retries when many writers create versions at once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if "database is locked" in text or "Model Version creation error" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


def _in_history(tags: Mapping[str, str]) -> bool:
    """Whether a version was registered by the platform (so takes part in semantic versioning)."""
    return "semver" in tags or ("schema_hash" in tags and "training_fingerprint" in tags)


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

    @property
    def run_status(self) -> str:
        """How far the run that registered this version got ("" for versions registered before
        the status was recorded)."""
        return self.tags.get("run_status", "")

    @property
    def run_status_label(self) -> str:
        return RUN_STATUS_LABELS.get(self.run_status, self.run_status or "not recorded")

    @property
    def registration_finished(self) -> bool:
        """Every tag and artifact of the registration was written (promotion may still be due)."""
        return self.run_status not in ("registering", "failed")


class ModelRegistry:
    """Thin, typed layer over the MLflow client (imported lazily: ~4 s)."""

    def __init__(self, tracking_uri: str, artifact_root: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self._client: MlflowClient | None = None
        self._lock_state = threading.local()

    @classmethod
    def local(cls, registry_dir: Path) -> ModelRegistry:
        registry_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{registry_dir.resolve()}/mlflow.db", (registry_dir / "artifacts").resolve().as_uri())

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a local (SQLite) registry; None for a server."""
        prefix = "sqlite:///"
        if not self.tracking_uri.startswith(prefix):
            return None
        return Path(self.tracking_uri[len(prefix) :].partition("?")[0])

    def _is_empty_local(self) -> bool:
        path = self.sqlite_path
        return path is not None and not path.exists()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the local registry's write lock (across processes and threads; re-entrant in a
        thread). A no-op for a server-backed registry: its database orders writers itself."""
        path = self.sqlite_path
        if path is None or getattr(self._lock_state, "held", False):
            yield
            return
        with file_lock(path.parent / f"{path.name}.lock"):
            self._lock_state.held = True
            try:
                yield
            finally:
                self._lock_state.held = False

    @staticmethod
    def _local_ready(path: Path) -> bool:
        return path.exists() and (path.parent / f"{path.name}.ready").exists()

    def _retry(self, call: Callable[[], T]) -> T:
        """``call()``, repeated with jittered exponential backoff while it fails transiently."""
        delay = 0.05
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                return call()
            except Exception as exc:
                if not _transient(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

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
            path = self.sqlite_path
            if path is not None and not self._local_ready(path):
                # MLflow creates a database's tables on first use of each store, unguarded: two
                # processes doing it at once fail. Locally, the first use happens under the lock;
                # the marker then lets every later process skip the lock (and its second of imports).
                with self.exclusive():
                    if not self._local_ready(path):
                        client = self._retry(lambda: MlflowClient(self.tracking_uri, self.tracking_uri))
                        self._retry(lambda: client.search_registered_models(max_results=1))
                        (path.parent / f"{path.name}.ready").touch()
                        self._client = client
                        return client
            self._client = self._retry(lambda: MlflowClient(self.tracking_uri, self.tracking_uri))
        return self._client

    # ------------------------------------------------------------------ reads
    def list_models(self) -> list[str]:
        return sorted(m.name for m in self._retry(lambda: self.client.search_registered_models()))

    def _history(self, name: str) -> list[Any]:
        """The platform's registrations of ``name`` in the registry's order (MLflow version number)."""
        found: list[Any] = []
        token: str | None = None
        while True:
            page = self._retry(partial(self.client.search_model_versions, f"name='{name}'", page_token=token))
            found.extend(page)
            token = page.token
            if not token:
                break
        return sorted((mv for mv in found if _in_history(mv.tags)), key=lambda mv: int(mv.version))

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest semantic version first.

        Includes versions still being registered (their semver derived, their ``run_status``
        saying so), so an unfinished registration is visible rather than hidden.
        """
        history = self._history(name)
        if not history:
            return []
        # Search results do not carry aliases; the registered model does.
        aliases: dict[str, list[str]] = {}
        for alias, version in self._retry(lambda: self.client.get_registered_model(name)).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        assigned = assign_versions([mv.tags for mv in history])
        infos = [
            self._info(mv, aliases.get(str(mv.version), []), semver=str(semver))
            for mv, (semver, _) in zip(history, assigned, strict=True)
        ]
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
            mv = self._retry(lambda: self.client.get_model_version_by_alias(name, alias))
        except MlflowException as exc:
            if _transient(exc):
                raise  # busy for too long: not the same as "no such alias"
            return None
        return self._info(mv)

    def load_model(self, info: VersionInfo) -> Any:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(f"models:/{info.name}/{info.mlflow_version}")

    def load_compiled(self, info: VersionInfo) -> bytes | None:
        """The version's verified compiled scorer (ONNX bytes), or None when the fitted model scores it."""
        if info.tags.get("scorer") != "onnx":
            return None
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=info.run_id, artifact_path=COMPILED_ARTIFACT, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            return Path(path).read_bytes()

    def _info(self, mv: Any, aliases: list[str] | None = None, *, semver: str | None = None) -> VersionInfo:
        metrics: dict[str, float] = {}
        if mv.run_id:
            metrics = dict(self._retry(lambda: self.client.get_run(mv.run_id)).data.metrics)
        return VersionInfo(
            name=mv.name,
            semver=semver or mv.tags.get("semver", "?"),
            mlflow_version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=tuple(sorted(aliases if aliases is not None else mv.aliases)),
            tags=dict(mv.tags),
            metrics=metrics,
            created_ms=int(mv.creation_timestamp or 0),
        )

    # ------------------------------------------------------------------ writes
    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        for _ in range(3):
            exp = self._retry(lambda: self.client.get_experiment_by_name(EXPERIMENT))
            if exp is not None:
                return str(exp.experiment_id)
            try:
                return str(
                    self._retry(lambda: self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root))
                )
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise  # else a concurrent registration created it: read it back
        raise RegistryError(f"could not create or find the MLflow experiment {EXPERIMENT!r}")

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
        """Log ``model`` with its lineage and register the next semantic version.

        Safe to call from several processes at once (see the module docstring): each call gets
        its own semver, consecutive with the others.
        """
        passed = all(gates.values())
        tags = {
            "schema_hash": schema_hash,
            "training_fingerprint": training_fingerprint,
            "serving_schema": ServingSchema.coerce(serving_schema).to_json(),
            "gates_passed": "true" if passed else "false",
            **{f"gate.{k}": "pass" if v else "fail" for k, v in gates.items()},
            **(extra_tags or {}),
            "run_status": "registering",
            # Makes creation idempotent: a retried create first looks for this key.
            "registration_id": uuid.uuid4().hex,
        }
        # Seconds of first-use imports, kept out of the time the local registry's lock is held.
        import mlflow.sklearn  # noqa: F401

        importlib.import_module("skops.io")  # what log_model serialises with
        self.client  # noqa: B018 - sets the tracking URI, creates a local database under the lock
        with self.exclusive():
            run_id, model_uri = self._retry(lambda: self._log_run(name, model, params, metrics, artifacts))
            number = self._create_version(name, model_uri, tags)
            try:
                version, bump = self._allocate(name, number)
                self._set_tags(name, number, {"bump": bump or "initial", "semver": str(version)})
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "lineage.json"
                    path.write_text(json.dumps({**lineage, "semver": str(version)}, indent=2, default=str))
                    self._retry(lambda: self.client.log_artifact(run_id, str(path)))
                self._retry(lambda: self.client.set_tag(run_id, "mlflow.runName", f"{name}-{version}"))
                self._retry(lambda: self.client.update_model_version(name, number, description=f"run {run_id}"))
                # Every gate passed: the pipeline's promote step comes next and completes it.
                self._set_tags(name, number, {"run_status": "promotion_pending" if passed else "complete"})
            except BaseException as exc:
                self._mark_failed(name, number, exc)
                raise
            mv = self._retry(lambda: self.client.get_model_version(name, number))
        return self._info(mv, semver=str(version))

    def _log_run(
        self,
        name: str,
        model: Any,
        params: dict[str, Any],
        metrics: dict[str, float],
        artifacts: dict[str, Path] | None,
    ) -> tuple[str, str]:
        """One MLflow run holding the model and its files; returns (run id, model URI)."""
        import mlflow
        import mlflow.sklearn

        self.client  # noqa: B018 - sets the tracking URI before the fluent API is used
        # Named once the semver is known (it is derived from the version MLflow creates next).
        with mlflow.start_run(experiment_id=self._experiment_id(), run_name=f"{name}-registering") as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})  # skip NaN
            info = mlflow.sklearn.log_model(
                model, name="model", pip_requirements=["scikit-learn"], skops_trusted_types=SKOPS_TRUSTED_TYPES
            )
            for sub, src in (artifacts or {}).items():
                mlflow.log_artifact(str(src), artifact_path=sub)
            return str(run.info.run_id), str(info.model_uri)

    def _create_version(self, name: str, model_uri: str, tags: dict[str, str]) -> str:
        """Create the MLflow version (MLflow picks its number atomically); returns that number."""
        import mlflow

        key = tags["registration_id"]
        attempts = 0

        def create() -> str:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # The failed attempt may have committed before its error surfaced: never create twice.
                for mv in self._history(name):
                    if mv.tags.get("registration_id") == key:
                        return str(mv.version)
            return str(mlflow.register_model(model_uri, name, tags=tags).version)

        return self._retry(create)

    def _allocate(self, name: str, number: str) -> tuple[SemVer, str | None]:
        """The semver (and bump) of MLflow version ``number``, derived from the versions before it."""
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            history = [mv for mv in self._history(name) if int(mv.version) <= int(number)]
            # Once it is visible, so is every smaller number (each was committed before it); a
            # tracking server reading from a replica may show it a moment late.
            if history and str(history[-1].version) == number:
                return assign_versions([mv.tags for mv in history])[-1]
            if time.monotonic() >= deadline:
                raise RegistryError(f"model {name!r}: MLflow version {number} was created but cannot be read back")
            time.sleep(0.5)

    def set_tags(self, name: str, ref: str, tags: dict[str, str]) -> VersionInfo:
        """Add ``tags`` to version ``ref`` (semver or alias), e.g. figures known only after its run."""
        info = self.get(name, ref)
        self._set_tags(name, info.mlflow_version, tags)
        return self.get(name, info.semver)

    def _set_tags(self, name: str, number: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._retry(partial(self.client.set_model_version_tag, name, number, key, value))

    def _mark_failed(self, name: str, number: str, exc: BaseException) -> None:
        """Leave a version whose registration broke off visibly incomplete (best effort).

        It is not deleted: a concurrent registration may already have derived its semver from it.
        """
        reason = f"{type(exc).__name__}: {exc}"[:500]
        # The original error matters more; if this fails too, the tag still says "registering".
        with contextlib.suppress(Exception):
            self._set_tags(name, number, {"run_status": "failed", "run_error": reason})

    def mark_interrupted(self, name: str, ref: str) -> VersionInfo | None:
        """Record that the run which registered ``ref`` stopped before promoting it.

        Only a version waiting for its promotion changes; returns it, or None when nothing changed.
        """
        with self.exclusive():
            info = self.get(name, ref)
            if info.run_status != "promotion_pending":
                return None
            self._set_tags(name, info.mlflow_version, {"run_status": "interrupted"})
            return self.get(name, info.semver)

    def set_alias(self, name: str, ref: str, alias: str, *, force: bool = False) -> VersionInfo:
        """Point ``alias`` at a version; only fully registered versions whose gates all passed
        unless ``force``. A version waiting for its promotion is complete once it has an alias."""
        if alias not in ALIASES:
            raise RegistryError(f"alias must be one of {', '.join(ALIASES)}, got {alias!r}")
        with self.exclusive():
            info = self.get(name, ref)
            if not info.registration_finished and not force:
                raise RegistryError(f"{name} {info.semver}: {info.run_status_label}; use --force to override")
            if not info.gates_passed and not force:
                failed = [
                    k.removeprefix("gate.") for k, v in info.tags.items() if k.startswith("gate.") and v == "fail"
                ]
                raise RegistryError(
                    f"{name} {info.semver} did not pass every gate ({', '.join(failed)}); use --force to override"
                )
            current = self.by_alias(name, alias)
            if current is not None and current.mlflow_version != info.mlflow_version:
                # Kept so a rollback knows where the alias pointed before.
                self._set_tags(name, info.mlflow_version, {f"previous_{alias}": current.semver})
            self._retry(lambda: self.client.set_registered_model_alias(name, alias, info.mlflow_version))
            if info.run_status in ("promotion_pending", "interrupted"):
                self._set_tags(name, info.mlflow_version, {"run_status": "complete"})
            return self.get(name, info.semver)

    def attach(self, info: VersionInfo, files: list[Path], artifact_path: str = "reports") -> None:
        """Add files to the version's run under ``artifact_path``, e.g. the model card rendered
        once the version exists."""
        for src in files:
            self.client.log_artifact(info.run_id, str(src), artifact_path=artifact_path)

    def download(self, info: VersionInfo, artifact_path: str, dst: Path) -> bool:
        """Copy the files the version holds under ``artifact_path`` into ``dst``; False when it has none."""
        import shutil

        if not self.client.list_artifacts(info.run_id, artifact_path):
            return False
        dst.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            got = Path(self.client.download_artifacts(info.run_id, artifact_path, tmp))
            for src in got.iterdir():
                shutil.copy2(src, dst / src.name)
        return True

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
