"""What a restore must give back, observed the same way before the destruction and after it.

:func:`observe` reads a running deployment through the platform's own clients (the MLflow
client, Feast, the secret resolver), so a restore is judged by what the platform sees, not by
file listings. :func:`differences` names every fact that changed. Secret values never enter a
fact: only their sha256.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from feature_store.config import FeatureConfig
from feature_store.store import OnlineFeatureReader
from mlops.hashing import file_sha256
from mlops.state import StateLayout
from model_registry.registry import ModelRegistry, VersionInfo

# Entities whose online features and predictions are compared, per model.
SAMPLE_ENTITIES = 20
# Scores must be bit-for-bit the same model on the same features; this only absorbs printing.
SCORE_TOLERANCE = 1e-12


@dataclass
class Facts:
    """One observation of a deployment; JSON-ready through :meth:`to_dict`."""

    # model -> [{semver, mlflow_version, aliases, run_status}], oldest first
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # "<model>/<semver>/<artifact path>" -> sha256
    artifacts: dict[str, str] = field(default_factory=dict)
    # model -> the served version's feature view rows for the sampled entities (records); the
    # served version is the champion, else (before a first promotion) the challenger
    online: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # model -> the served version's scores of those rows
    predictions: dict[str, list[float]] = field(default_factory=dict)
    # secret reference -> sha256 of its value
    secrets: dict[str, str] = field(default_factory=dict)
    # newest write the registry holds (ms since the epoch): what the RPO is measured from
    newest_write_ms: int = 0
    # privacy.consent's records: {records, subjects, sha256 of every record}; empty without a store
    consent: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def found_by_model(self) -> dict[str, int]:
        """Per model, how many of the sampled entities the online store had features for."""
        return {name: sum(_has_features(row) for row in rows) for name, rows in self.online.items()}

    def counts(self) -> dict[str, int]:
        return {
            "models": len(self.versions),
            "versions": sum(len(v) for v in self.versions.values()),
            "artifacts": len(self.artifacts),
            "online_rows": sum(len(v) for v in self.online.values()),
            # rows the online store had features for (all None would compare equal, proving little)
            "online_rows_found": sum(self.found_by_model().values()),
            "predictions": sum(len(v) for v in self.predictions.values()),
            "secrets": len(self.secrets),
            "consent_records": int(self.consent.get("records", 0)),
        }


def _has_features(row: dict[str, Any]) -> bool:
    """Whether the online store knew the entity: a value besides the entity column (the first)."""
    return any(value is not None for value in list(row.values())[1:])


def _artifact_hashes(info: VersionInfo) -> dict[str, str]:
    """Every file of the version (its model's files and its run's: lineage, reports, reference),
    downloaded through the tracking server, hashed."""
    import mlflow.artifacts

    hashes: dict[str, str] = {}
    sources = {"model": {"artifact_uri": f"models:/{info.name}/{info.mlflow_version}"}, "run": {"run_id": info.run_id}}
    for kind, source in sources.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(mlflow.artifacts.download_artifacts(dst_path=tmp, **source))
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                hashes[f"{info.name}/{info.semver}/{kind}/{path.relative_to(root).as_posix()}"] = file_sha256(path)
    return hashes


def _served(infos: list[VersionInfo]) -> VersionInfo | None:
    """The version whose reads are compared: the champion, else the challenger (a deployment
    whose first version was never promoted still has one to check)."""
    for alias in ("champion", "challenger"):
        found = next((i for i in infos if alias in i.aliases), None)
        if found is not None:
            return found
    return None


def _sample_ids(registry: ModelRegistry, served: VersionInfo) -> list[Any]:
    """Entity ids the served version was trained on (the newest ones), from its lineage artifact."""
    with tempfile.TemporaryDirectory() as tmp:
        if not registry.download(served, "lineage", Path(tmp)):
            return []
        frame = pd.read_parquet(next(Path(tmp).glob("*.parquet")))
    # The newest rows: the ones inside the online store's window, whatever its length.
    newest = frame.sort_values(frame.columns[-1], kind="stable").iloc[:, 0].dropna().drop_duplicates(keep="last")
    return sorted(newest.tail(SAMPLE_ENTITIES).tolist())


def _plain(value: Any) -> Any:
    """A JSON-comparable value: numpy scalars as Python ones, NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _online_and_scores(
    registry: ModelRegistry,
    served: VersionInfo,
    *,
    state_dir: Path,
    features: FeatureConfig,
    environment: str,
) -> tuple[list[dict[str, Any]], list[float]]:
    ids = _sample_ids(registry, served)
    schema = served.schema
    if not ids or schema is None:
        return [], []
    view = registry.lineage(served).get("feature_view")
    reader = OnlineFeatureReader(
        name=served.name, state_dir=StateLayout(state_dir).feast, config=features, environment=environment, view=view
    )
    frame = reader.frame(ids)
    rows = [{str(k): _plain(v) for k, v in record.items()} for record in frame.to_dict("records")]
    model = registry.load_model(served)
    inputs = frame.reindex(columns=schema.columns)
    scores = [float(s) for s in model.predict_proba(inputs)[:, 1]]
    return rows, scores


def observe(
    registry: ModelRegistry,
    *,
    state_dir: Path,
    features: FeatureConfig,
    environment: str,
    secret_references: Sequence[str] = (),
    resolve: Callable[[str], str] | None = None,
    consent: Callable[[], dict[str, Any]] | None = None,
) -> Facts:
    """Read every fact of the running deployment (seconds: it downloads each version's artifacts).
    ``consent``: reads the consent store's fingerprint (None: the deployment has none)."""
    facts = Facts(consent=consent() if consent is not None else {})
    for name in registry.list_models():
        infos = registry.versions(name)
        facts.versions[name] = [
            {
                "semver": i.semver,
                "mlflow_version": i.mlflow_version,
                "aliases": list(i.aliases),
                "run_status": i.run_status,
            }
            for i in infos
        ]
        for info in infos:
            facts.artifacts.update(_artifact_hashes(info))
        served = _served(infos)
        if served is not None:
            rows, scores = _online_and_scores(
                registry, served, state_dir=state_dir, features=features, environment=environment
            )
            facts.online[name], facts.predictions[name] = rows, scores
        newest = max((i.created_ms for i in infos), default=0)
        facts.newest_write_ms = max(facts.newest_write_ms, newest)
    if resolve is not None:
        for reference in secret_references:
            facts.secrets[reference] = hashlib.sha256(resolve(reference).encode()).hexdigest()
    return facts


def _scores_differ(before: list[float], after: list[float]) -> bool:
    return len(before) != len(after) or any(abs(a - b) > SCORE_TOLERANCE for a, b in zip(before, after, strict=True))


def differences(before: Facts, after: Facts) -> list[str]:
    """One line per fact that the restore did not give back (empty: identical)."""
    found: list[str] = []
    for name in sorted(set(before.versions) | set(after.versions)):
        if before.versions.get(name) != after.versions.get(name):
            found.append(
                f"registry: versions/aliases of {name!r} differ: "
                f"{before.versions.get(name)} before, {after.versions.get(name)} after"
            )
    for key in sorted(set(before.artifacts) | set(after.artifacts)):
        old, new = before.artifacts.get(key), after.artifacts.get(key)
        if old != new:
            what = "missing" if new is None else "new" if old is None else "changed (sha256)"
            found.append(f"artifact {key}: {what}")
    for name in sorted(set(before.online) | set(after.online)):
        if before.online.get(name) != after.online.get(name):
            found.append(f"online store: the features of the sampled entities of {name!r} differ")
    for name in sorted(set(before.predictions) | set(after.predictions)):
        if _scores_differ(before.predictions.get(name, []), after.predictions.get(name, [])):
            found.append(f"prediction: the served version of {name!r} scores the sampled entities differently")
    for reference in sorted(set(before.secrets) | set(after.secrets)):
        if before.secrets.get(reference) != after.secrets.get(reference):
            found.append(f"secret {reference}: not readable or not the same value")
    if before.consent != after.consent:
        was, now = before.consent, after.consent
        found.append(
            f"consent records: {was.get('records', 0)} of {was.get('subjects', 0)} subject(s) before, "
            f"{now.get('records', 0)} of {now.get('subjects', 0)} after"
            + (" (same counts, different records)" if was.get("records") == now.get("records") else "")
        )
    return found


__all__ = ["SAMPLE_ENTITIES", "Facts", "differences", "observe"]
