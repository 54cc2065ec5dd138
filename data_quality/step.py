"""The ``validate_data`` pipeline step: suite → GX validation → gate, quarantine, report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from data_quality.suite import SuiteSpec, load_suite, profile_baseline, save_suite
from mlops.config import DatasetConfig, PlatformConfig
from mlops.datasets import Roles
from mlops.state import StateLayout, record_step


def suite_for(cfg: DatasetConfig, roles: Roles, df: pd.DataFrame, suites_dir: Path) -> tuple[SuiteSpec, str]:
    """The dataset's own suite, else its saved baseline, else a baseline profiled now and saved.

    A saved baseline is reused so later data is checked against it (re-profiling every run
    would accept any drift); delete or edit the file after review to change it.
    """
    if cfg.expectation_suite is not None:
        return load_suite(cfg.expectation_suite), f"file:{cfg.expectation_suite.name}"
    baseline = suites_dir / f"{cfg.name}.baseline.yaml"
    if baseline.exists():
        return load_suite(baseline), f"baseline (reused):{baseline}"
    # PII never goes into a suite: observed values end up in the file and in reports.
    columns = [roles.entity, roles.target, *roles.features, *roles.sensitive]
    suite = profile_baseline(
        df,
        name=f"{cfg.name}_baseline",
        columns=columns,
        categorical=[*roles.categorical, *roles.sensitive, roles.target],
        id_column=roles.entity,
    )
    save_suite(suite, baseline)
    return suite, f"baseline (profiled):{baseline}"


def validate_step(
    dataset: str,
    roles_json: str,
    dataset_config: str,
    platform_config: str,
    run_dir: str,
    out_clean: str,
    out_quarantine: str,
    out_report: str,
    out_summary: str,
) -> bool:
    """Run the gate; writes the summary (for lineage) as JSON and returns whether it passed."""
    from data_quality.reports import write_report
    from data_quality.validation import validate

    cfg = DatasetConfig.model_validate_json(dataset_config)
    platform = PlatformConfig.model_validate_json(platform_config)
    roles = Roles.from_json(roles_json)
    with record_step(run_dir, "validate_data") as rec:
        df = pd.read_parquet(dataset)
        suite, origin = suite_for(cfg, roles, df, StateLayout(platform.state_dir).suites)
        result = validate(df, suite, row_id_column=roles.entity, gate=platform.quality)
        result.clean.to_parquet(out_clean, index=False)
        result.quarantined.to_parquet(out_quarantine, index=False)
        write_report(result, Path(out_report), dataset_name=cfg.name)
        rec.attach(run_dir, "quality.html", out_report)
        rec.attach(run_dir, "quarantine.parquet", out_quarantine)
        summary = {
            "suite": result.suite_name,
            "suite_origin": origin,
            "passed": result.passed,
            "row_pass_rate": round(result.row_pass_rate, 6),
            "expectation_pass_rate": round(result.expectation_pass_rate, 6),
            "failed_expectations": result.failed_expectations,
            "quarantined_rows": len(result.quarantined),
        }
        rec.figures.update(
            rows=result.rows,
            row_pass_rate=round(result.row_pass_rate, 4),
            gate=platform.quality.min_row_pass_rate,
            expectations=len(result.results),
            quarantined=len(result.quarantined),
            suite=origin.split(":")[0],
            gx_seconds=round(result.duration_s, 2),
        )
        if not result.passed:
            failed = list(dict.fromkeys([*result.table_failures, *result.failed_expectations]))
            rec.block(
                f"row pass rate {result.row_pass_rate:.2%} vs gate {platform.quality.min_row_pass_rate:.0%}; "
                f"failed: {'; '.join(failed)}"
            )
        Path(out_summary).write_text(json.dumps(summary))
    return result.passed
