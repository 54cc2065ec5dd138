"""The ``validate_data`` pipeline step: suite → GX validation → gate, quarantine, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data_quality.config import QualityGate
from data_quality.suite import SuiteSpec, load_suite, profile_baseline, save_suite
from mlops.config import DatasetConfig
from mlops.contracts import DataContract, QualityResult
from mlops.errors import ConfigError
from mlops.roles import Roles
from mlops.state import MetricsSink, StateLayout, record_step


@dataclass(frozen=True)
class SuiteChoice:
    """The suite a run validates with, where it lives and where it came from."""

    suite: SuiteSpec
    path: Path
    origin: str  # "file", "baseline (reused)" or "baseline (profiled)"
    # Set when the baseline was profiled in this run: it waits there until the run registers
    # a version (then it moves to the accepted path), or a person accepts it.
    pending: Path | None = None


def suite_for(cfg: DatasetConfig, roles: Roles, df: pd.DataFrame, layout: StateLayout) -> SuiteChoice:
    """The dataset's own suite, else its accepted baseline, else a baseline profiled now.

    An accepted baseline is reused so later data is checked against it (re-profiling every run
    would accept any drift). A baseline profiled by a run that then failed stays pending and
    is never reused: the next run profiles a fresh one, so a corrected file is not blocked by
    the shape of the broken one. ``mlops data baseline accept|reset`` act on these files.
    """
    if cfg.expectation_suite is not None:
        suite = load_suite(cfg.expectation_suite)
        _check_no_dropped_pii(cfg, suite)
        return SuiteChoice(suite, cfg.expectation_suite, "file")
    accepted = layout.baseline(cfg.name)
    if accepted.exists():
        return SuiteChoice(load_suite(accepted), accepted, "baseline (reused)")
    # PII never goes into a suite: observed values end up in the file and in reports.
    columns = [roles.entity, roles.target, *roles.features, *roles.sensitive]
    suite = profile_baseline(
        df,
        name=f"{cfg.name}_baseline",
        columns=columns,
        categorical=[*roles.categorical, *roles.sensitive, roles.target],
        id_column=roles.entity,
        required=[roles.target],
    )
    pending = save_suite(suite, layout.baseline(cfg.name, pending=True))
    return SuiteChoice(suite, pending, "baseline (profiled)", pending=pending)


def _check_no_dropped_pii(cfg: DatasetConfig, suite: SuiteSpec) -> None:
    """PII is anonymised as it is read: a suite cannot check a column the policy drops."""
    dropped = {c for c, p in cfg.pii.items() if p.action == "drop"}
    for i, exp in enumerate(suite.expectations):
        named = dropped.intersection(exp.columns())
        if named:
            raise ConfigError(
                cfg.expectation_suite or Path(suite.name),
                f"expectations.{i}",
                f"no PII column dropped by the dataset's pii policy ({', '.join(sorted(named))}): "
                "PII is anonymised before validation",
            )


def validate_step(
    cfg: DatasetConfig,
    data: DataContract,
    dataset: Path,
    out_clean: Path,
    out_quarantine: Path,
    out_report: Path,
    *,
    gate: QualityGate,
    state_dir: Path,
    metrics: MetricsSink | None = None,
    pii_check: Callable[[pd.DataFrame], dict[str, str]] | None = None,
) -> QualityResult:
    """Run the gate: clean rows on, failing rows quarantined, a self-contained report.

    The data is already anonymised (ingest), so the quarantine and the report hold the
    anonymised form of any PII column, never raw values. ``pii_check`` (bound by the
    component: the privacy room's discovery) returns ``{column: failure}`` for columns that
    still hold PII the dataset config does not declare: any fails the gate, and their values
    are withheld (emptied) before profiling and validation, so no suite, report, clean or
    quarantine file carries them.
    """
    from data_quality.reports import write_report
    from data_quality.validation import validate

    roles = data.roles
    layout = StateLayout(state_dir)
    with record_step("validate_data", metrics=metrics) as rec:
        df = pd.read_parquet(dataset)
        undeclared = pii_check(df) if pii_check is not None else {}
        pii_failures = list(undeclared.values())
        for column in undeclared:
            df[column] = pd.Series([None] * len(df), index=df.index, dtype=object)
        choice = suite_for(cfg, roles, df, layout)
        rec.notes.append(f"expectation suite ({choice.origin}): {choice.path.resolve()}")
        if choice.pending is not None:
            rec.notes.append(
                "the profiled baseline is pending: it becomes the dataset's baseline when this run registers "
                f"a version (or with `mlops data baseline accept {cfg.name}`)"
            )
        result = validate(df, choice.suite, row_id_column=roles.entity, gate=gate)
        result.clean.to_parquet(out_clean, index=False)
        result.quarantined.to_parquet(out_quarantine, index=False)
        write_report(result, out_report, dataset_name=cfg.name)
        rec.attach("quality.html", out_report)
        rec.attach("quarantine.parquet", out_quarantine)
        quality = QualityResult(
            passed=result.passed and not pii_failures,
            suite=result.suite_name,
            suite_origin=choice.origin,
            suite_path=str(choice.path.resolve()),
            row_pass_rate=round(result.row_pass_rate, 6),
            expectation_pass_rate=round(result.expectation_pass_rate, 6),
            failed_expectations=[*pii_failures, *result.failed_expectations],
            quarantined_rows=len(result.quarantined),
            baseline_pending=str(choice.pending.resolve()) if choice.pending is not None else None,
            baseline=str(layout.baseline(cfg.name).resolve()) if choice.pending is not None else None,
        )
        rec.figures.update(
            rows=result.rows,
            row_pass_rate=round(result.row_pass_rate, 4),
            gate=gate.min_row_pass_rate,
            expectations=len(result.results),
            quarantined=len(result.quarantined),
            suite=choice.origin,
            gx_seconds=round(result.duration_s, 2),
            undeclared_pii_columns=len(pii_failures),
        )
        reasons = list(pii_failures)
        if not result.passed:
            failed = list(dict.fromkeys([*result.table_failures, *result.failed_expectations]))
            reasons.append(
                f"row pass rate {result.row_pass_rate:.2%} vs gate {gate.min_row_pass_rate:.0%}; "
                f"failed: {'; '.join(failed)}; suite: {choice.path.resolve()}"
            )
        if reasons:
            rec.block("; ".join(reasons))
    return quality
