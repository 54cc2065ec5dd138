"""``mlops monitor triggers``: evaluate the retraining triggers of ``config/retraining_triggers.yaml``
and start one training run per model when any fires.

The evaluation and the guards live in :mod:`observability.triggers`; this command supplies what
they read (:class:`PlatformInputs`: the registry's champion and lineage, the prediction log and
labels through :func:`~mlops_cli.monitor_drift.current_data`, the dataset file as a training run
would ingest it) and what starts a run (:class:`LocalLauncher`: kfp.local like
``mlops run training``; :class:`KfpLauncher`: a KFP API server).

Tests put their own launcher (and inputs) in place through the Click context object::

    CliRunner().invoke(app, ["monitor", "triggers"], obj=TriggerOverrides(launcher=fake))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.markup import escape

from mlops.errors import ConfigError, MlopsError
from mlops_cli.options import ConfigDir, EnvOpt, load_platform

if TYPE_CHECKING:
    import pandas as pd

    from mlops.config import DatasetConfig
    from model_registry.registry import ModelRegistry, VersionInfo
    from observability.drift import Reference
    from observability.triggers import (
        ChampionVersion,
        DatasetSnapshot,
        Decision,
        Evaluation,
        Launched,
        LaunchRequest,
        RetrainingTriggersConfig,
        TriggerInputs,
        TriggerSettings,
    )
    from pipelines.runs import LocalRun
    from platform_config import PlatformConfig

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TRIGGERS_FILE = "retraining_triggers.yaml"
EXIT_ERROR = 1
EXIT_BLOCKED = 3
# KFP run states of a run that has not ended (the v2beta1 API's names).
KFP_ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "PAUSED", "CANCELING", "RUNTIME_STATE_UNSPECIFIED"})
# How many of the newest KFP runs the de-duplication looks through.
KFP_RUNS_CHECKED = 100


# --------------------------------------------------------------------------- what the triggers read
class PlatformInputs:
    """The real inputs of one model's triggers, each read only when a trigger asks for it."""

    def __init__(self, platform: PlatformConfig, model: str, dataset: DatasetConfig) -> None:
        self.platform = platform
        self.model = model
        self.dataset_config = dataset
        self._registry: ModelRegistry | None = None
        self._champion: VersionInfo | None = None

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = self.platform.open_registry()
        return self._registry

    def champion(self) -> ChampionVersion | None:
        from observability.triggers import ChampionVersion

        info = self.registry.by_alias(self.model, "champion")
        self._champion = info
        if info is None:
            return None
        registered = datetime.fromtimestamp(info.created_ms / 1000, UTC) if info.created_ms else None
        pending = info.tags.get("erasure_pending")
        return ChampionVersion(self.model, info.semver, registered, info.serving_schema, erasure_pending=pending)

    def lineage(self, version: str) -> Mapping[str, Any]:
        info = self._champion if self._champion is not None else self.registry.get(self.model, version)
        if info.semver != version:
            info = self.registry.get(self.model, version)
        return self.registry.lineage(info)

    def reference(self, version: str) -> Reference:
        from mlops_cli.monitor_drift import model_reference

        return model_reference(self.platform, self.model, version)

    def predictions(self, version: str, window: timedelta, *, labels: bool) -> pd.DataFrame:
        from mlops_cli.monitor_drift import current_data
        from observability.labels import LABEL_COLUMN

        return current_data(
            current=None,
            platform=self.platform,
            model=self.model,
            version=version,
            since=window,
            target=LABEL_COLUMN if labels else None,
        )

    def dataset(self) -> DatasetSnapshot:
        from observability.triggers import DatasetSnapshot
        from training.datasets import decide_roles, ingest, target_labels

        cfg = self.dataset_config
        got = ingest(cfg)
        labels = target_labels(got.frame[cfg.target], cfg)
        roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated, labels=labels)
        kinds = {c: "string" if c in roles.categorical else "number" for c in roles.features}
        return DatasetSnapshot(cfg.name, str(cfg.path), len(got.frame), got.dataset_hash, kinds)


# --------------------------------------------------------------------------- what starts a run
def _dataset_file(request: LaunchRequest) -> Path:
    if request.dataset_file is None:
        from mlops.errors import PipelineError

        raise PipelineError(f"no dataset config file to train {request.model} on")
    return request.dataset_file


class TriggerLauncher(Protocol):
    """A launcher (:class:`observability.triggers.Launcher`) the command can also follow runs of."""

    target: str

    def running(self, dataset: str) -> list[str]: ...

    def launch(self, request: LaunchRequest) -> Launched: ...

    def follow(self, launched: Launched) -> int:
        """Report the run until it ends; the command's exit code for it (0 when not followed)."""
        ...


class LocalLauncher:
    """Training runs on kfp.local, started and followed as ``mlops run training`` does."""

    target = "local"

    def __init__(self, platform: PlatformConfig, environment: str, config_dir: Path) -> None:
        self.platform = platform
        self.environment = environment
        self.config_dir = config_dir
        self.started: dict[str, LocalRun] = {}

    def running(self, dataset: str) -> list[str]:
        from observability.triggers import running_local_runs

        return running_local_runs(self.platform.state_dir, dataset)

    def launch(self, request: LaunchRequest) -> Launched:
        from mlops.config import load_dataset_config
        from mlops.state import new_run_id, process_identity
        from observability.triggers import Launched
        from pipelines import runs

        ds = load_dataset_config(_dataset_file(request))
        if ds.synthetic is not None and isinstance(ds.path, Path) and not ds.path.exists():
            from training.datasets import ensure_synthetic

            ensure_synthetic(ds)
        run = runs.start_local(
            self.platform,
            ds,
            dataset_file=_dataset_file(request),
            environment=self.environment,
            run_id=new_run_id(),
            reason=request.reason,
        )
        self.started[run.run_id] = run
        identity = process_identity(run.process.pid)
        return Launched(
            run_id=run.run_id,
            target=self.target,
            run_dir=str(run.run_dir),
            pid=run.process.pid,
            pid_started=identity["pid_started"],
        )

    def follow(self, launched: Launched) -> int:
        from mlops_cli.run_report import print_progress, print_report
        from observability.costs import load_cost_config
        from pipelines import TRAINING_STEPS, runs

        run = self.started[launched.run_id]
        console.print(f"[bold]training[/] run {run.run_id} ({self.environment}), following it …")
        records = runs.follow(run, TRAINING_STEPS, print_progress)
        meta = runs.finish(run, load_cost_config(self.config_dir))
        print_report(run.run_dir, TRAINING_STEPS, records, meta)
        failed = [r for r in records.values() if r.status == "failed"]
        if run.process.returncode != 0 or failed:
            why = failed[0].message if failed else meta.get("error", "see the log")
            err.print(f"[red]error:[/] the pipeline failed: {why} (log: {run.log_path})")
            return EXIT_ERROR
        return 0 if "promote" in records else EXIT_BLOCKED


class KfpLauncher:
    """Training runs submitted to a Kubeflow Pipelines API server (not followed: KFP shows them)."""

    def __init__(self, host: str, platform: PlatformConfig, client: Any = None) -> None:
        self.target = host
        self.platform = platform
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import kfp

            self._client = kfp.Client(host=self.target)
        return self._client

    def running(self, dataset: str) -> list[str]:
        """The dataset's runs on the server that have not ended (named as ``mlops run training`` names them).

        Not being able to tell is an error: a guard that cannot look never lets a second run through.
        """
        from mlops.errors import PipelineError

        prefix = f"training-{dataset}-"
        try:
            listed = self.client.list_runs(page_size=KFP_RUNS_CHECKED, sort_by="created_at desc")
        except Exception as exc:  # connection, auth and API errors alike
            raise PipelineError(
                f"could not list the runs on {self.target} to check for a running one: {type(exc).__name__}: {exc}"
            ) from exc
        return [
            str(run.run_id)
            for run in (getattr(listed, "runs", None) or [])
            if str(getattr(run, "display_name", "") or "").startswith(prefix)
            and str(getattr(run, "state", "") or "") in KFP_ACTIVE_STATES
        ]

    def launch(self, request: LaunchRequest) -> Launched:
        from mlops.config import load_dataset_config
        from mlops.state import StateLayout, new_run_id
        from observability.triggers import Launched
        from pipelines.submit import submit_training
        from platform_config import RunConfig

        ds = load_dataset_config(_dataset_file(request))
        run_id = new_run_id()
        result = submit_training(
            self.target,
            config=RunConfig(platform=self.platform, dataset=ds, reason=request.reason).dump(),
            run_name=f"training-{ds.name}-{run_id}",
            package_dir=StateLayout(self.platform.state_dir).root / "compiled",
        )
        return Launched(run_id=str(getattr(result, "run_id", run_id)), target=self.target)

    def follow(self, launched: Launched) -> int:
        console.print(f"  follow it in the KFP UI of {self.target} (run {launched.run_id})")
        return 0


# --------------------------------------------------------------------------- the command's core
InputsFactory = Callable[["TriggerSettings", "DatasetConfig"], "TriggerInputs"]


@dataclass
class TriggerOverrides:
    """What a caller (a test) puts in place of the real parts, as the Click context's ``obj``."""

    launcher: TriggerLauncher | None = None
    inputs: InputsFactory | None = None
    now: datetime | None = None


@dataclass
class TriggerRun:
    """What one ``mlops monitor triggers`` did: a decision per model."""

    decisions: list[Decision] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [
            f"{d.model} {r.trigger}: {r.reason}" for d in self.decisions if d.evaluation for r in d.evaluation.errors
        ]


def _watched(
    platform: PlatformConfig, config: RetrainingTriggersConfig, triggers_file: Path, models: Sequence[str] | None
) -> list[tuple[TriggerSettings, DatasetConfig, Path]]:
    """(settings, dataset config, dataset config file) of each watched model, ``models`` only if given."""
    from mlops.config import load_dataset_config

    default_name = None if config.models else load_dataset_config(platform.default_dataset).name
    watched = config.watched(default_name)
    names = [s.model for s in watched]
    unknown = [m for m in models or [] if m not in names]
    if unknown:
        raise MlopsError(
            f"--model {', '.join(unknown)}: not watched by {triggers_file} (its models: {', '.join(names) or 'none'})"
        )
    out = []
    for index, settings in enumerate(watched):
        if models and settings.model not in models:
            continue
        path = settings.dataset or platform.default_dataset
        ds = load_dataset_config(path)
        if ds.name != settings.model:
            key = f"models.{index}.dataset" if config.models else "models"
            raise ConfigError(
                triggers_file,
                key,
                f"the dataset config of model {settings.model!r}, whose runs register it under the dataset's "
                f"name; {path} is dataset {ds.name!r}",
            )
        out.append((settings, ds, path))
    return out


def run_triggers(
    platform: PlatformConfig,
    config: RetrainingTriggersConfig,
    *,
    triggers_file: Path,
    launcher: TriggerLauncher,
    models: Sequence[str] | None = None,
    inputs: InputsFactory | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    on_decision: Callable[[Decision], None] | None = None,
) -> TriggerRun:
    """Evaluate each watched model's triggers and act on them (at most one run each, guarded).

    ``inputs`` makes a model's :class:`~observability.triggers.TriggerInputs` (default:
    :class:`PlatformInputs`); ``launcher`` starts the runs. ``on_decision`` sees each model's
    decision as soon as it is taken.
    """
    from observability.triggers import act_on_triggers, evaluate_triggers, read_state

    make_inputs = inputs or (lambda settings, ds: PlatformInputs(platform, settings.model, ds))
    done = TriggerRun()
    for settings, ds, ds_file in _watched(platform, config, triggers_file, models):
        moment = now or datetime.now(UTC)
        state = read_state(platform.state_dir, settings.model, now=moment)
        evaluation = evaluate_triggers(
            settings,
            make_inputs(settings, ds),
            last_launch=state.last_launch_at,
            first_evaluated=datetime.fromtimestamp(state.first_evaluated, UTC),
            now=moment,
        )
        decision = act_on_triggers(
            settings,
            evaluation,
            state_dir=platform.state_dir,
            dataset=ds.name,
            dataset_file=ds_file,
            launcher=launcher,
            dry_run=dry_run,
            now=now,
        )
        done.decisions.append(decision)
        if on_decision is not None:
            on_decision(decision)
    return done


# --------------------------------------------------------------------------- output
OUTCOME_STYLE = {
    "fired": "[red]yes[/]",
    "quiet": "[green]no[/]",
    "no_data": "[yellow]no (no data)[/]",
    "error": "[red]error[/]",
}


def _table(evaluation: Evaluation) -> Any:
    from rich.table import Table

    champion = f", champion {evaluation.champion}" if evaluation.champion else ", no champion"
    table = Table(title=f"Retraining triggers of {evaluation.model}{champion}", title_justify="left")
    for column in ("trigger", "figure", "threshold", "fired", "reason"):
        table.add_column(column, overflow="fold")
    for r in evaluation.results:
        table.add_row(r.trigger, r.figure_text, escape(r.threshold_text), OUTCOME_STYLE[r.outcome], escape(r.reason))
    return table


def print_decision(decision: Decision) -> None:
    if decision.evaluation is not None:
        if decision.evaluation.results:
            console.print(_table(decision.evaluation))
        else:
            console.print(f"{decision.model}: no trigger is configured")
    style = {"launched": "bold green", "skipped": "yellow", "dry_run": "cyan", "nothing_fired": "dim"}[decision.action]
    label = {"launched": "launched", "skipped": "skipped", "dry_run": "dry run", "nothing_fired": "no run"}
    console.print(f"[{style}]{label[decision.action]}[/]: {escape(decision.why)}")
    if decision.reason and decision.action != "nothing_fired":
        console.print(f"  reason: {escape(decision.reason)}")


def triggers_command(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Only this model (repeat for several; default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and say what would start; start nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow a started local run to its end (default), or return.")
    ] = True,
    kfp_host: Annotated[
        str | None, typer.Option("--kfp-host", help="Submit the run to this Kubeflow Pipelines API instead.")
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Evaluate the retraining triggers; when any fires, start ONE training run per model.

    No run starts within min_hours_between_runs of the model's last trigger-started run, nor
    while a training run of its dataset is still going; one decision per model at a time.
    Exit 1 when a trigger could not be evaluated or a followed run failed, 3 when a gate
    blocked a followed run.
    """
    from observability.triggers import load_triggers_config

    overrides = ctx.obj if isinstance(ctx.obj, TriggerOverrides) else TriggerOverrides()
    platform = load_platform(config_dir, env)
    triggers_file = config_dir / TRIGGERS_FILE
    config = load_triggers_config(triggers_file)
    launcher: TriggerLauncher = overrides.launcher or (
        KfpLauncher(kfp_host, platform) if kfp_host else LocalLauncher(platform, env, config_dir)
    )
    with console.status("evaluating the retraining triggers …"):
        done = run_triggers(
            platform,
            config,
            triggers_file=triggers_file,
            launcher=launcher,
            models=model,
            inputs=overrides.inputs,
            dry_run=dry_run,
            now=overrides.now,
            on_decision=print_decision,
        )
    code = 0
    if wait:
        for decision in done.decisions:
            if decision.launched is not None:
                code = max(code, launcher.follow(decision.launched))
    if done.errors:
        err.print(f"[red]error:[/] {len(done.errors)} trigger(s) could not be evaluated: {'; '.join(done.errors)}")
        code = max(code, EXIT_ERROR)
    if code:
        raise typer.Exit(code)


__all__ = [
    "KfpLauncher",
    "LocalLauncher",
    "PlatformInputs",
    "TriggerLauncher",
    "TriggerOverrides",
    "TriggerRun",
    "print_decision",
    "run_triggers",
    "triggers_command",
]
