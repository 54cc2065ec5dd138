"""The ``mlops`` command line.

Exit codes: 0 done; 1 an error (one line names what is wrong); 3 a gate blocked the run
(a result, not a crash: the summary names the failing checks). Heavy libraries and the
rooms are imported inside the commands that need them, so ``mlops --help`` is instant.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.config import load_dataset_config
from mlops.errors import MlopsError
from mlops.exit import freeze_at_exit
from mlops.state import StateLayout, new_run_id, read_run_meta, read_steps, run_status
from mlops_cli.backup import backup_app
from mlops_cli.cluster import (
    KUBE_ENVIRONMENTS,
    ContextOpt,
    NamespaceOpt,
    TimeoutOpt,
    cluster_app,
    restart_after_rotation,
)
from mlops_cli.dr import dr_app
from mlops_cli.features import features_app
from mlops_cli.monitor import cost_app, monitor_app
from mlops_cli.options import ConfigDir, EnvOpt, load_platform
from mlops_cli.privacy import privacy_app
from mlops_cli.run_report import print_progress, print_report
from mlops_cli.schedules import pipelines_app
from model_registry.compiled import scorer_summary
from platform_config import PlatformConfig
from serving.config import SHADOW_MAX_CPU

app = typer.Typer(help="MLOps platform: train, register and inspect models.", no_args_is_help=True)
run_app = typer.Typer(help="Run pipelines.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect past runs.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
data_app = typer.Typer(help="Sample data and baseline expectation suites.", no_args_is_help=True)
baseline_app = typer.Typer(help="Baseline suites profiled for datasets that bring no suite.", no_args_is_help=True)
data_app.add_typer(baseline_app, name="baseline")
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
batch_app = typer.Typer(help="Batch inference.", no_args_is_help=True)
shadow_app = typer.Typer(help="Shadow comparison of the challenger against the champion.", no_args_is_help=True)
secrets_app = typer.Typer(help="Secrets in Vault: rotation audit and rotation.", no_args_is_help=True)
app.add_typer(run_app, name="run")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(batch_app, name="batch")
app.add_typer(shadow_app, name="shadow")
app.add_typer(secrets_app, name="secrets")
app.add_typer(monitor_app, name="monitor")
app.add_typer(cost_app, name="cost")
app.add_typer(backup_app, name="backup")
app.add_typer(features_app, name="features")
app.add_typer(dr_app, name="dr")
app.add_typer(privacy_app, name="privacy")
app.add_typer(cluster_app, name="cluster")
app.add_typer(pipelines_app, name="pipelines")

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_ERROR = 1
EXIT_BLOCKED = 3


def _platform(config_dir: Path, env: str) -> PlatformConfig:
    return load_platform(config_dir, env)


def _object_store(platform: PlatformConfig) -> Any:
    """The platform's object store, its key references read with its Vault settings."""
    from mlops.object_store import ObjectStore
    from mlops.secrets import SecretResolver

    return ObjectStore(platform.object_store, SecretResolver(platform.vault).resolve)


@run_app.command("training")
def run_training(
    dataset: Annotated[Path | None, typer.Option(help="Dataset config YAML (default: the bundled sample).")] = None,
    kfp_host: Annotated[str | None, typer.Option(help="Submit to this Kubeflow Pipelines API instead.")] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Run the training pipeline locally (kfp.local) or submit it with --kfp-host."""
    from pipelines import TRAINING_STEPS, runs

    platform = _platform(config_dir, env)
    ds_path = dataset or platform.default_dataset
    ds = load_dataset_config(ds_path)
    layout = StateLayout(platform.state_dir)
    run_id = new_run_id()
    if kfp_host:
        from pipelines.submit import submit_training
        from platform_config import RunConfig

        result = submit_training(
            kfp_host,
            config=RunConfig(platform=platform, dataset=ds).dump(),
            run_name=f"training-{ds.name}-{run_id}",
            package_dir=layout.root / "compiled",
        )
        console.print(f"submitted run [bold]{getattr(result, 'run_id', result)}[/] to {kfp_host}")
        return
    if ds.synthetic is not None:
        from training.datasets import dataset_exists, ensure_synthetic

        # An s3:// sample is generated into the bucket with the platform's object_store keys.
        store = _object_store(platform)
        if not dataset_exists(ds, store):
            with console.status(f"generating the synthetic sample ({ds.synthetic.rows} rows) → {ds.path} …"):
                ensure_synthetic(ds, store)
    run = runs.start_local(platform, ds, dataset_file=ds_path, environment=env, run_id=run_id)
    console.print(f"[bold]training[/] run {run_id} on dataset [bold]{ds.name}[/] ({env})")
    records = runs.follow(run, TRAINING_STEPS, print_progress)
    from observability.costs import load_cost_config

    meta = runs.finish(run, load_cost_config(config_dir))
    print_report(run.run_dir, TRAINING_STEPS, records, meta)
    if run.process.returncode != 0 or any(r.status == "failed" for r in records.values()):
        failed = [r for r in records.values() if r.status == "failed"]
        why = failed[0].message if failed else meta.get("error", "see the log")
        err.print(f"[red]error:[/] the pipeline failed: {why} (log: {run.log_path})")
        raise typer.Exit(EXIT_ERROR)
    if "promote" not in records:
        raise typer.Exit(EXIT_BLOCKED)


@app.command("compile")
def compile_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the KFP IR YAML.")] = Path("build/training.yaml"),
) -> None:
    """Compile the training pipeline to KFP IR YAML."""
    from pipelines.submit import compile_training

    path = compile_training(out)
    console.print(f"compiled training pipeline → {path}")


@runs_app.command("list")
def runs_list(config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """List local runs, newest first."""
    layout = StateLayout(_platform(config_dir, env).state_dir)
    table = Table()
    for col in ("run", "dataset", "status", "duration", "version"):
        table.add_column(col)
    run_dirs = sorted(layout.runs.glob("*"), reverse=True) if layout.runs.exists() else []
    for run_dir in run_dirs:
        meta = read_run_meta(run_dir)
        records = read_steps(run_dir)
        status = run_status(meta, records)
        reg = records.get("register")
        table.add_row(
            run_dir.name,
            str(meta.get("dataset", "?")),
            status,
            f"{meta['duration_s']:.1f} s" if "duration_s" in meta else "",
            str(reg.figures.get("version", "")) if reg else "",
        )
    console.print(table if run_dirs else "no runs yet: try `mlops run training`")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id, or 'latest'.")] = "latest",
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Show a run's steps, figures and report paths."""
    from pipelines import TRAINING_STEPS

    layout = StateLayout(_platform(config_dir, env).state_dir)
    if run_id == "latest":
        found = sorted(layout.runs.glob("*")) if layout.runs.exists() else []
        if not found:
            raise MlopsError("no runs yet: try `mlops run training`")
        run_dir = found[-1]
    else:
        run_dir = layout.run_dir(run_id)
        if not run_dir.exists():
            raise MlopsError(f"no run {run_id!r} under {layout.runs}")
    meta = read_run_meta(run_dir)
    records = read_steps(run_dir)
    status = run_status(meta, records)
    console.print(f"run {run_dir.name}: {status}, dataset {meta.get('dataset', '?')}")
    if status == "interrupted":
        runner = meta.get("runner", {})
        how = f"by {runner['signal']}" if "signal" in runner else "(its pipeline process is gone)"
        unfinished = [n for n in TRAINING_STEPS if n in records and records[n].status in ("running", "failed")]
        during = f" during {', '.join(unfinished)}" if unfinished else ""
        console.print(f"  [yellow]interrupted{during} {how}[/]")
    print_report(run_dir, TRAINING_STEPS, records, meta)


def _registry(config_dir: Path, env: str) -> Any:

    return _platform(config_dir, env).open_registry()


@models_app.command("list")
def models_list(config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """Registered models and their versions."""
    registry = _registry(config_dir, env)
    table = Table()
    for col in ("model", "version", "aliases", "bump", "gates", "roc_auc", "run"):
        table.add_column(col)
    names = registry.list_models()
    for name in names:
        for v in reversed(registry.versions(name)):
            auc = v.metrics.get("roc_auc")
            # Whether the run that registered it got to the end (an interrupted one never promoted it).
            run = v.run_status_label if v.run_status == "complete" else f"[yellow]{v.run_status_label}[/]"
            table.add_row(
                name,
                v.semver,
                ", ".join(v.aliases),
                v.tags.get("bump", ""),
                "pass" if v.gates_passed else "fail",
                f"{auc:.4f}" if auc is not None else "",
                run,
            )
    console.print(table if names else "no registered models yet: try `mlops run training`")


@models_app.command("show")
def models_show(
    name: str,
    version: Annotated[str, typer.Argument(help="Semantic version or alias.")] = "challenger",
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """One version: tags, metrics, serving schema, lineage and the compatibility matrix."""
    registry = _registry(config_dir, env)
    info = registry.get(name, version)
    console.print(f"[bold]{name} {info.semver}[/] (MLflow version {info.mlflow_version}, run {info.run_id})")
    console.print(f"  aliases: {', '.join(info.aliases) or 'none'}; bump: {info.tags.get('bump')}")
    gates = {k.removeprefix("gate."): v for k, v in info.tags.items() if k.startswith("gate.")}
    console.print(f"  gates: {gates}")
    console.print(f"  metrics: { {k: round(v, 4) for k, v in info.metrics.items()} }")
    console.print(f"  serving schema: {info.serving_schema}")
    schema = info.schema
    if schema is not None:
        console.print(f"  may be missing: {', '.join(schema.nullable) or 'none'}")
        sensitive = [f"{c} ({s.type}{', bins ' + str(s.bins) if s.bins else ''})" for c, s in schema.sensitive.items()]
        console.print(
            f"  sensitive attributes: {', '.join(sensitive) or 'none'}; PII columns refused: {len(schema.pii)}"
        )
    console.print(f"  feature view: {info.tags.get('feature_view', 'unknown')}")
    console.print(f"  scorer: {scorer_summary(info.tags)}")
    lineage = registry.lineage(info)
    keys = ("dataset", "dataset_hash", "training_rows", "holdout", "code_version", "feature_refs")
    console.print("  lineage: " + json.dumps({k: lineage.get(k) for k in keys}))
    matrix = registry.compatibility_matrix(name)
    table = Table(title="compatibility (version accepts schema)")
    schemas = sorted({s for row in matrix.values() for s in row})
    table.add_column("version")
    for s in schemas:
        table.add_column(s)
    for ver, row in matrix.items():
        table.add_row(ver, *("yes" if row.get(s) else "no" for s in schemas))
    console.print(table)


@models_app.command("promote")
def models_promote(
    name: str,
    version: Annotated[str | None, typer.Argument(help="Version (default: the shadow report's challenger).")] = None,
    to: Annotated[str, typer.Option("--to", help="champion or challenger")] = "champion",
    force: Annotated[bool, typer.Option(help="Allow a version whose gates did not all pass.")] = False,
    from_shadow_report: Annotated[
        Path | None, typer.Option(help="shadow_report.json: promote only when its decision is 'promote'.")
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Point an alias (champion/challenger) at a version, optionally as a shadow report decided."""
    if from_shadow_report is not None:
        try:
            report = json.loads(from_shadow_report.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MlopsError(f"{from_shadow_report}: not a readable shadow report ({exc})") from None
        if report.get("decision") != "promote" and not force:
            reasons = "; ".join(r for r in report.get("reasons", [])[:3])
            raise MlopsError(f"shadow report decided {report.get('decision')!r}, not 'promote': {reasons}")
        version = version or report.get("challenger_version")
        if version != report.get("challenger_version"):
            raise MlopsError(f"the shadow report judged {report.get('challenger_version')}, not {version}")
    if version is None:
        raise MlopsError("name a version, or pass --from-shadow-report")
    info = _registry(config_dir, env).set_alias(name, version, to, force=force)
    console.print(f"{name} {info.semver} is now {to}")


@data_app.command("sample")
def data_sample(
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")] = Path(
        ".mlops/data/credit_risk.parquet"
    ),
    rows: Annotated[int, typer.Option(min=100)] = 50_000,
    seed: int = 7,
) -> None:
    """Write the deterministic SYNTHETIC credit-risk sample."""
    from training.sample_data import write_sample

    write_sample(out, rows=rows, seed=seed)
    console.print(f"wrote {rows} synthetic rows → {out}")


def _baselines(dataset: str, config_dir: Path, env: str) -> tuple[str, Path, Path]:
    """(dataset name, accepted baseline, pending baseline) for a dataset name or config file."""
    name = load_dataset_config(Path(dataset)).name if dataset.endswith((".yaml", ".yml")) else dataset
    layout = StateLayout(_platform(config_dir, env).state_dir)
    return name, layout.baseline(name), layout.baseline(name, pending=True)


DatasetArg = Annotated[str, typer.Argument(help="Dataset name or dataset config YAML.")]


@baseline_app.command("show")
def baseline_show(dataset: DatasetArg, config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """Where the dataset's baseline suites are: accepted (used by runs) and pending review."""
    _, accepted, pending = _baselines(dataset, config_dir, env)
    for label, path in (("accepted", accepted), ("pending", pending)):
        console.print(f"  {label}: {path.resolve() if path.exists() else 'none'}", soft_wrap=True)


@baseline_app.command("accept")
def baseline_accept(dataset: DatasetArg, config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """Accept the pending baseline (profiled by a run that did not register a version): later runs use it."""
    name, accepted, pending = _baselines(dataset, config_dir, env)
    if not pending.exists():
        raise MlopsError(f"no pending baseline for {name!r} ({pending} does not exist)")
    pending.replace(accepted)
    console.print(f"accepted {accepted.resolve()}", soft_wrap=True)


@baseline_app.command("reset")
def baseline_reset(dataset: DatasetArg, config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """Delete the dataset's baselines: the next run profiles a new one from its data."""
    name, *paths = _baselines(dataset, config_dir, env)
    removed = [p for p in paths if p.exists()]
    for path in removed:
        path.unlink()
        console.print(f"removed {path.resolve()}", soft_wrap=True)
    if not removed:
        console.print(f"no baseline for {name!r}")


@config_app.command("validate")
def config_validate(
    config_dir: ConfigDir = Path("config"),
    dataset: Annotated[list[Path] | None, typer.Option(help="Also validate these dataset configs.")] = None,
    env: Annotated[
        str, typer.Option("--env", envvar="MLOPS_ENV", help="Environment whose object_store reads s3:// datasets.")
    ] = "dev",
) -> None:
    """Validate every config file (and overlays); errors name file, key and what was expected.

    A dataset config is checked against its data too: the file is readable, every column the
    config names exists and the target is a usable binary label (header and target read only).
    """
    from mlops.errors import DatasetError, ObjectStoreError
    from mlops_cli.config_files import validate_config_dir
    from training.datasets import check_dataset

    checked = validate_config_dir(config_dir)
    for name in checked:
        console.print(f"  [green]✓[/] {name}")
    store = _object_store(_platform(config_dir, env)) if dataset else None
    for ds in dataset or []:
        cfg = load_dataset_config(ds)
        try:
            found = check_dataset(cfg, store)
        except (DatasetError, ObjectStoreError) as exc:
            raise DatasetError(f"{ds}: {exc}") from None
        console.print(f"  [green]✓[/] {ds}")
        for line in found:
            console.print(f"      {escape(line)}", soft_wrap=True)


def _secrets_policy(config_dir: Path) -> Any:
    from mlops.config import SecretsPolicyConfig, load_model

    return load_model(config_dir / "secrets_policy.yaml", SecretsPolicyConfig)


@secrets_app.command("audit")
def secrets_audit(config_dir: ConfigDir = Path("config"), env: EnvOpt = "dev") -> None:
    """Age and version of every referenced secret against the rotation policy.

    Exit 3 lists the offenders (overdue, missing, refused); exit 1 when Vault cannot be reached.
    """
    from mlops.secrets import SecretResolver, audit_secrets, collect_references

    platform = _platform(config_dir, env)
    policy = _secrets_policy(config_dir)
    resolver = SecretResolver(platform.vault)
    rows = audit_secrets(collect_references(platform, platform.environment, policy), policy, resolver.vault)
    table = Table(title=f"Secrets ({env})", title_justify="left")
    for col in ("reference", "version", "created (UTC)", "age (d)", "max (d)", "status"):
        table.add_column(col, overflow="fold")
    style = {"ok": "[green]ok[/]", "unmanaged": "[dim]unmanaged[/]"}
    for row in rows:
        table.add_row(
            row.reference,
            str(row.version or ""),
            row.created.strftime("%Y-%m-%d %H:%M") if row.created else "",
            f"{row.age_days:.1f}" if row.age_days is not None else "",
            f"{row.max_age_days:g}" if row.max_age_days is not None else "",
            style.get(row.status, f"[red]{row.status}[/]") + (f" {row.detail}" if row.detail else ""),
        )
    console.print(table)
    offenders = [r for r in rows if r.offender]
    if offenders:
        listed = "; ".join(f"{r.reference} ({r.status}: {r.detail})" for r in offenders)
        err.print(f"[red]error:[/] {len(offenders)} secret(s) break the rotation policy: {listed}", soft_wrap=True)
        raise typer.Exit(EXIT_BLOCKED)


@secrets_app.command("rotate")
def secrets_rotate(
    target: Annotated[str, typer.Argument(help="vault://MOUNT/PATH#KEY, or MOUNT/PATH to rotate every key.")],
    create: Annotated[bool, typer.Option(help="Create the secret or key if it does not exist.")] = False,
    restart: Annotated[
        bool | None,
        typer.Option(
            "--restart/--no-restart",
            help="Rollout-restart the cluster's workloads that read the secret and wait for them "
            "(default: on staging and prod).",
        ),
    ] = None,
    kube_context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    rollout_timeout: TimeoutOpt = 300.0,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Write a new random value (length and alphabet from the policy) as a new KV v2 version, then
    restart the workloads whose pods read it (their Vault agent renders a secret once, at start)."""
    from mlops.secrets import SecretResolver, rotate_secret

    platform = _platform(config_dir, env)
    resolver = SecretResolver(platform.vault)
    result = rotate_secret(target, _secrets_policy(config_dir), resolver.vault, create=create)
    console.print(f"rotated {result.path} (keys: {', '.join(result.keys)}) → version {result.version}")
    if restart is None:
        restart = env in KUBE_ENVIRONMENTS
    if restart:
        restart_after_rotation(result.path, env, context=kube_context, namespace=namespace, timeout_s=rollout_timeout)


@app.command("serve")
def serve(
    model: Annotated[str, typer.Option(help="Registered model to serve (its champion).")] = "credit_risk",
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    shadow: Annotated[bool, typer.Option(help="Mirror requests to the challenger off the hot path.")] = True,
    features: Annotated[bool, typer.Option(help="Fill missing features from the Feast online store.")] = True,
    ab: Annotated[
        bool | None,
        typer.Option("--ab/--no-ab", help="A/B routing per config/ab_testing.yaml (default: its `enabled`)."),
    ] = None,
    micro_batching: Annotated[
        bool, typer.Option(help="Score concurrent /predict requests together in one model call.")
    ] = True,
    batch_max_size: Annotated[int, typer.Option(help="Most requests in one micro-batch.")] = 32,
    batch_max_wait_ms: Annotated[
        float, typer.Option(help="Longest a request waits for others to join its micro-batch (ms).")
    ] = 1.0,
    shadow_max_cpu: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=1.0,
            help="Shed shadow mirroring while the server uses more than this share of its CPU "
            "(1: only past a full core). Shed rows: serving_shadow_shed_total.",
        ),
    ] = SHADOW_MAX_CPU,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Serve the champion over HTTP (FastAPI), with the challenger in shadow (and/or in an A/B split)."""
    from serving.server import limit_native_threads, serve_command

    # Before anything loads scikit-learn's OpenMP runtime (opening the registry does).
    limit_native_threads()
    from pydantic import ValidationError

    from mlops.config import load_model
    from serving.config import AbTestingConfig, MicroBatchingConfig

    try:
        batching = MicroBatchingConfig(
            enabled=micro_batching, max_batch_size=batch_max_size, max_wait_ms=batch_max_wait_ms
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"max_batch_size": "--batch-max-size", "max_wait_ms": "--batch-max-wait-ms"}[str(first["loc"][0])]
        raise typer.BadParameter(first["msg"], param_hint=option) from None
    platform = _platform(config_dir, env)
    from mlops.secrets import SecretResolver, set_default_resolver

    # The online store's passwords (features.variables) are read with this platform's Vault settings.
    set_default_resolver(SecretResolver(platform.vault))
    ab_config = load_model(config_dir / "ab_testing.yaml", AbTestingConfig) if ab is not False else None
    if ab_config is not None and ab is not None:
        ab_config = ab_config.model_copy(update={"enabled": ab})
    serve_command(
        host, port, model, platform.serving_stores(), shadow, features=features, ab=ab_config, batching=batching,
        shadow_max_cpu=shadow_max_cpu,
    )  # fmt: skip


@shadow_app.command("report")
def shadow_report(
    model: Annotated[str, typer.Option(help="Model whose shadow pairs to analyse.")] = "credit_risk",
    out: Annotated[Path | None, typer.Option(help="Folder for shadow_report.json/.html.")] = None,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Thresholds (default config/shadow.yaml).")
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Agreement, score deltas, per-segment and latency comparison → promote / keep shadowing / reject."""
    from mlops.config import load_model
    from serving.config import ShadowPolicyConfig
    from serving.shadow.report import report_from_store, write_report
    from serving.shadow.store import comparison_store_path

    platform = _platform(config_dir, env)
    policy = load_model(policy_file or config_dir / "shadow.yaml", ShadowPolicyConfig)
    layout = StateLayout(platform.state_dir)
    report = report_from_store(comparison_store_path(layout.root, model), policy)
    paths = write_report(report, out or layout.root / "shadow" / "reports" / model)
    style = {"promote": "green", "keep_shadowing": "yellow", "reject": "red"}[report.decision]
    console.print(
        f"[bold {style}]{report.decision}[/]: {report.challenger_version} vs champion {report.champion_version}, "
        f"{report.pairs} pairs"
    )
    for reason in report.reasons:
        console.print(f"  - {reason}")
    for label, path in paths.items():
        console.print(f"  {label}: {path}")
    if report.decision == "reject":
        raise typer.Exit(EXIT_BLOCKED)


@batch_app.command("predict")
def batch_predict(
    # str, not Path: a Path would fold s3://bucket/key into s3:/bucket/key.
    input: Annotated[str, typer.Option("--input", help="Parquet/CSV file or parquet folder; a path or s3:// URI.")],
    output: Annotated[str, typer.Option("--output", help="Output root (path or s3:// URI); runs write run=<id>/.")],
    model: Annotated[str, typer.Option(help="Registered model name.")],
    ref: Annotated[str, typer.Option(help="Semantic version or alias.")] = "champion",
    engine: Annotated[str, typer.Option(help="embedded (chunked pyarrow) or spark.")] = "embedded",
    id_column: Annotated[str | None, typer.Option(help="Column kept beside each score.")] = None,
    partition_by: Annotated[str | None, typer.Option(help="Partition the output by this column.")] = None,
    keep_last: Annotated[int, typer.Option(help="Keep only the newest N runs (0 keeps all).", min=0)] = 0,
    spark_master: Annotated[str, typer.Option(help="Spark master URL for --engine spark.")] = "local[2]",
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Score a file with a registered model; partitioned parquet plus a run manifest.

    s3:// input and output go through the environment's object_store (its key references read
    with its Vault settings)."""
    from serving.batch.cli import batch_predict_command

    platform = _platform(config_dir, env)
    remote = input.startswith("s3://") or output.startswith("s3://")
    manifest = batch_predict_command(
        input,
        output,
        model,
        ref,
        engine,
        platform.open_registry(),
        keep_last,
        prediction_log=platform.prediction_log,
        state_dir=platform.state_dir,
        id_column=id_column,
        partition_by=partition_by,
        spark_master=spark_master,
        store=_object_store(platform) if remote else None,
    )
    console.print(
        f"scored {manifest.rows_out} rows with {manifest.model_name} {manifest.model_version} "
        f"({manifest.engine}, {manifest.duration_s:.1f} s) → {manifest.output_dir}"
    )
    console.print(f"  manifest: {manifest.location}")


def main() -> None:
    """Entry point: MlopsError becomes one red line and exit code 1."""
    # OpenMP threads (HistGradientBoosting's fit and predict) that spin while they wait stall
    # when another process holds a core: a 3,200-row fit took 16-25 s instead of 1.6 s on two
    # busy cores. Sleeping waiters cost little when the cores are free. Pipeline steps and
    # batch jobs inherit it (the platform image sets it too); an operator's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    freeze_at_exit()
    try:
        # Without standalone mode click returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except MlopsError as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # usage errors (unknown command or option, missing argument) land here
        import click
        from typer.exceptions import TyperException

        # Typer vendors its own click, so its usage errors are not click.ClickException.
        if isinstance(exc, TyperException | click.ClickException):
            # NoArgsIsHelpError: typer has already printed the help.
            show = getattr(exc, "show", None)
            if type(exc).__name__ != "NoArgsIsHelpError" and callable(show):
                show()  # as click's standalone mode: the usage, the --help hint, one "Error:" line
            sys.exit(getattr(exc, "exit_code", EXIT_ERROR))
        raise
