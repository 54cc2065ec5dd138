"""``mlops monitor status`` and ``mlops monitor freshness``: the platform at a glance.

The rooms do the measuring (``feature_store.freshness``, ``observability.quality``,
``observability.status``, the model registry); these commands gather their answers into one
table or JSON document, and publish the freshness and data-quality gauges as a side effect.
A section that cannot be read (registry or feature store unreachable) is shown as such and
the rest is still reported; only a ``--metrics`` source that was asked for and cannot be read
is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mlops.errors import MlopsError, MonitoringError
from mlops.state import StateLayout, read_run_meta, read_steps
from mlops_cli.options import ConfigDir, EnvOpt, JsonOpt, load_platform

if TYPE_CHECKING:
    from rich.table import Table

    from feature_store.freshness import FreshnessResult
    from model_registry.registry import ModelRegistry, VersionInfo
    from observability.quality import QualityPoint
    from observability.status import FeatureViewStatus, ModelStatus, PlatformStatus, RunSummary, VersionRef
    from platform_config import PlatformConfig

console = Console(highlight=False, soft_wrap=True)


STATE_STYLE = {"met": "[green]met[/]", "violated": "[red]violated[/]", "unknown": "[yellow]unknown[/]"}


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value is not None else "?"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if abs(seconds) < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# --------------------------------------------------------------------------- gathering
def _version_ref(info: VersionInfo) -> VersionRef:
    from observability.status import VersionRef

    return VersionRef(
        semver=info.semver,
        aliases=list(info.aliases),
        created=datetime.fromtimestamp(info.created_ms / 1000, UTC) if info.created_ms else None,
        gates_passed=info.gates_passed,
        run_status=info.run_status,
        feature_view=info.tags.get("feature_view"),
    )


def _no_versions(name: str) -> ModelStatus:
    from observability.status import ModelStatus

    return ModelStatus(
        name=name, versions=0, message=f"model {name!r} has no registered versions (train one: mlops run training)"
    )


def _model_status(registry: ModelRegistry, name: str, state_dir: Path) -> ModelStatus:
    from observability.status import ModelStatus, latest_drift

    versions = registry.versions(name)
    if not versions:
        return _no_versions(name)
    by_alias = {alias: v for v in versions for alias in v.aliases}
    status = ModelStatus(
        name=name,
        versions=len(versions),
        latest=_version_ref(versions[-1]),
        champion=_version_ref(by_alias["champion"]) if "champion" in by_alias else None,
        challenger=_version_ref(by_alias["challenger"]) if "challenger" in by_alias else None,
    )
    try:
        status.drift = latest_drift(state_dir, name)
    except MonitoringError as exc:
        status.drift_error = str(exc)
    return status


def _models(platform: PlatformConfig, model: str | None) -> tuple[list[ModelStatus], str]:
    """Each model's versions and drift, and the reason when the registry could not be read."""
    try:
        registry = platform.open_registry()
        local = registry.sqlite_path
        if local is not None and not local.exists():
            # Nothing registered yet: reading would create the database (and import MLflow).
            return ([_no_versions(model)] if model else []), ""
        names = [model] if model else registry.list_models()
        return [_model_status(registry, n, platform.state_dir) for n in names], ""
    except Exception as exc:  # MLflow and network errors alike: the other sections still report
        return [], f"model registry unavailable: {type(exc).__name__}: {exc}"


def _features(platform: PlatformConfig) -> tuple[dict[str, FreshnessResult], str]:
    from feature_store.freshness import feature_freshness

    try:
        return feature_freshness(platform.state_dir, platform.features, platform.environment), ""
    except MlopsError as exc:
        return {}, f"feature store unavailable: {exc}"


def _view_status(result: FreshnessResult, models: list[ModelStatus]) -> FeatureViewStatus:
    from observability.status import FeatureViewStatus

    served_by = [
        f"{m.name} {alias}"
        for m in models
        for alias, ref in (("champion", m.champion), ("challenger", m.challenger))
        if ref is not None and ref.feature_view == result.feature_view
    ]
    return FeatureViewStatus(
        feature_view=result.feature_view,
        materialized=result.materialized,
        basis=result.basis,
        age_s=result.age_s,
        newest_value=result.newest_value,
        materialized_until=result.materialized_until,
        served_by=served_by,
        note=result.note,
    )


def _last_run(state_dir: Path, quality: list[QualityPoint]) -> RunSummary | None:
    from mlops.state import run_status
    from observability.status import RunSummary

    runs = StateLayout(state_dir).runs
    found = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if not found:
        return None
    run_dir = found[-1]  # run ids start with their UTC start time
    meta = read_run_meta(run_dir)
    point = next((p for p in quality if p.run_id == run_dir.name), None)
    started = meta.get("started")
    return RunSummary(
        run_id=run_dir.name,
        dataset=str(meta.get("dataset", "?")),
        started=datetime.fromtimestamp(started, UTC) if isinstance(started, int | float) else None,
        status=run_status(meta, read_steps(run_dir)),
        dq_score=point.score if point else None,
        quarantined=point.quarantined if point else None,
    )


def gather_status(platform: PlatformConfig, *, model: str | None, metrics: str | None) -> PlatformStatus:
    """Everything ``mlops monitor status`` shows; writes the freshness and quality gauges."""
    from observability.costs import read_metrics
    from observability.quality import latest_by_dataset, quality_history, write_freshness_gauges, write_quality_gauges
    from observability.status import PlatformStatus, evaluate_slos, serving_latency

    state_dir = platform.state_dir
    latency = None
    if metrics is not None:  # asked for: unreadable is an error, before the slower sections run
        text, _ = read_metrics(metrics)
        latency = serving_latency(text, source=metrics)
    models, models_error = _models(platform, model)
    freshness, features_error = _features(platform)
    history = quality_history(state_dir)
    latest = latest_by_dataset(history)
    gauges = [str(write_quality_gauges(history, state_dir))]
    if not features_error:  # unmeasured: the last measured ages stay published, not blanked
        gauges.append(str(write_freshness_gauges({v: r.age_s for v, r in freshness.items()}, state_dir)))
    served = set().union(*(m.served_views for m in models)) if models else set()
    slos = evaluate_slos(
        platform.slo,
        feature_ages={v: r.age_s for v, r in freshness.items()},
        served_views=served,
        features_error=features_error,
        quality_scores={d: p.score for d, p in latest.items()},
        latency=latency,
    )
    return PlatformStatus(
        environment=platform.environment,
        generated_at=datetime.now(UTC),
        models=models,
        models_error=models_error,
        features=[_view_status(r, models) for r in freshness.values()],
        features_error=features_error,
        last_run=_last_run(state_dir, history),
        quality=list(latest.values()),
        latency=latency,
        slos=slos,
        gauges=gauges,
    )


# --------------------------------------------------------------------------- printing
def _version_text(ref: VersionRef | None) -> str:
    if ref is None:
        return ""
    gates = "gates pass" if ref.gates_passed else "[yellow]gates failed[/]"
    view = f" · reads {escape(ref.feature_view)}" if ref.feature_view else ""
    return f"{gates} · registered {_when(ref.created)}{view}"


def _model_rows(table: Table, m: ModelStatus) -> None:
    if m.message:
        table.add_row(f"model {escape(m.name)}", "[yellow]no versions[/]", escape(m.message))
        return
    latest = m.latest.semver if m.latest else "?"
    table.add_row(f"model {escape(m.name)}", f"{m.versions} versions", f"latest {latest}")
    table.add_row("  champion", m.champion.semver if m.champion else "none", _version_text(m.champion))
    table.add_row("  challenger", m.challenger.semver if m.challenger else "none", _version_text(m.challenger))
    if m.drift_error:
        table.add_row("  drift", "[yellow]unreadable[/]", escape(m.drift_error))
    elif m.drift is None:
        table.add_row("  drift", "no summary", "run `mlops monitor drift` to compare current data")
    else:
        d = m.drift
        share = "?" if d.drift_share is None else f"{d.drift_share:.2f}"
        verdict = {True: "[red]dataset drift[/]", False: "[green]no dataset drift[/]", None: "?"}[d.dataset_drift]
        threshold = "" if d.drift_share_threshold is None else f", threshold {d.drift_share_threshold:g}"
        table.add_row(
            "  drift", f"share {share}", f"{verdict} · version {d.version} at {_when(d.computed_at)}{threshold}"
        )


def _view_rows(table: Table, report: PlatformStatus) -> None:
    if report.features_error:
        table.add_row("feature views", "[yellow]unknown[/]", escape(report.features_error))
        return
    if not report.features:
        table.add_row("feature views", "none", "nothing applied to the feature store yet")
    for v in report.features:
        if not v.materialized:
            table.add_row(f"view {escape(v.feature_view)}", "[yellow]never materialised[/]", escape(v.note))
            continue
        detail = f"newest value {_when(v.newest_value)} ({v.basis}); materialised to {_when(v.materialized_until)}"
        detail += f"; served by {', '.join(escape(s) for s in v.served_by)}" if v.served_by else ""
        detail += f"\n[dim]{escape(v.note)}[/]" if v.note else ""
        table.add_row(f"view {escape(v.feature_view)}", f"{_age(v.age_s)} old", detail)


def _run_rows(table: Table, report: PlatformStatus) -> None:
    run = report.last_run
    if run is None:
        table.add_row("last run", "none", "no runs yet: try `mlops run training`")
    else:
        dq = "DQ not measured" if run.dq_score is None else f"DQ {run.dq_score:.2%}"
        if run.quarantined is not None:
            dq += f", {run.quarantined:,} quarantined"
        table.add_row(
            "last run", run.run_id, f"{run.status} · {escape(run.dataset)} · started {_when(run.started)} · {dq}"
        )
    for p in report.quality:
        table.add_row(
            f"  DQ {escape(p.dataset)}",
            f"{p.score:.2%}",
            f"run {p.run_id} at {_when(p.measured_at)} · {p.quarantined} quarantined",
        )


def _print_status(report: PlatformStatus) -> None:
    from rich.table import Table

    table = Table(title=f"Platform status ({report.environment}) at {_when(report.generated_at)}", title_justify="left")
    for col in ("what", "value", "detail"):
        table.add_column(col, overflow="fold")
    if report.models_error:
        table.add_row("models", "[yellow]unknown[/]", escape(report.models_error))
    elif not report.models:
        table.add_row("models", "none", "no registered models yet: try `mlops run training`")
    for m in report.models:
        _model_rows(table, m)
    table.add_section()
    _view_rows(table, report)
    table.add_section()
    _run_rows(table, report)
    table.add_section()
    for slo in report.slos:
        table.add_row(f"SLO {slo.name}", STATE_STYLE[slo.state], f"{escape(slo.objective)}: {escape(slo.detail)}")
    console.print(table)
    console.print(f"[dim]gauges: {', '.join(report.gauges)}[/]")


def _platform(config_dir: Path, env: str) -> PlatformConfig:
    return load_platform(config_dir, env)


def status_command(
    model: Annotated[
        str | None, typer.Option("--model", help="Registered model to show (default: every model).")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="The serving process's /metrics URL, or a file saved from it (for the p95)."),
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """Versions and aliases, latest drift, feature freshness, the last run and the SLOs in one table.

    Writes the gauges mlops_feature_freshness_seconds (feature_freshness.prom) and
    mlops_data_quality_score / mlops_rows_quarantined (data_quality.prom) under <state>/metrics/.
    Exits 0 whatever the SLOs say.
    """
    report = gather_status(_platform(config_dir, env), model=model, metrics=metrics)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_status(report)


def freshness_command(
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """Age of the newest online value of each feature view; writes mlops_feature_freshness_seconds."""
    import json

    from feature_store.freshness import feature_freshness
    from observability.quality import write_freshness_gauges

    platform = _platform(config_dir, env)
    results = feature_freshness(platform.state_dir, platform.features, platform.environment)
    gauges = write_freshness_gauges({v: r.age_s for v, r in results.items()}, platform.state_dir)
    if as_json:
        typer.echo(json.dumps({"views": [r.to_dict() for r in results.values()], "gauges_file": str(gauges)}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Feature freshness ({platform.environment})", title_justify="left")
    for col in ("view", "age", "newest value", "basis", "materialised to", "registry updated", "note"):
        table.add_column(col, overflow="fold")
    for r in results.values():
        table.add_row(
            escape(r.feature_view),
            _age(r.age_s) if r.materialized else "[yellow]never materialised[/]",
            _when(r.newest_value) if r.newest_value else "-",
            r.basis,
            _when(r.materialized_until) if r.materialized_until else "-",
            _when(r.registry_updated) if r.registry_updated else "-",
            escape(r.note),
        )
    console.print(table if results else "no feature views: nothing applied to the feature store yet")
    console.print(f"[dim]gauges: {gauges}[/]")


__all__ = ["freshness_command", "gather_status", "status_command"]
