"""Data-quality room: Great Expectations suites as data, the gate, quarantine and reports.

    expectations/  suites as YAML (one per dataset; a baseline is profiled when a dataset has none)
    validators/    custom GX expectations
    suite          SuiteSpec: load, save, profile_baseline
    validation     validate: GX run, row pass rate against the gate, failing rows quarantined
    reports/       write_report: the self-contained HTML report
    step           validate_step (the pipeline step) and suite_for (which suite a run uses)

Nothing is imported here: great_expectations loads inside the functions that use it.
"""

__all__ = ["expectations", "reports", "step", "suite", "validation", "validators"]
