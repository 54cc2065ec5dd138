"""``mlops monitor drift``: compare a model version's current data with its drift reference.

The current data comes from :func:`current_data`: a batch input file (``--current``), or the
prediction log's rows of the ``--since`` window with any labels imported for their entities.
The rooms and Evidently are imported inside the command, so ``mlops --help`` stays instant.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.delimited import PLAIN_CSV, CsvFormat, delimiter_of, first_line, not_in_dataset_encoding, undecodable_at
from mlops.errors import DatasetError, MlopsError
from mlops_cli.options import ConfigDir, EnvOpt, load_platform

if TYPE_CHECKING:
    import pandas as pd

    from observability.drift import DriftOutputs, DriftResult, Reference
    from platform_config import PlatformConfig

console = Console(highlight=False, soft_wrap=True)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` → a timedelta (a bad value is a usage error)."""
    match = _DURATION.match(value)
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(
            f"{value!r}: expected a positive duration such as 30m, 24h, 7d or 2w", param_hint="--since"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def read_table(path: Path, written: CsvFormat = PLAIN_CSV) -> pd.DataFrame:
    """A CSV or parquet file as a frame; a missing, unreadable or other file is a DatasetError.

    A CSV is read as batch scoring reads one: fields split at the delimiter its header tells,
    in the model's dataset's encoding and decimal mark, its ``na_values`` read as missing
    (``written``)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DatasetError(f"{path}: expected a .csv or .parquet file")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        if suffix != ".csv":
            return pd.read_parquet(path)
        with path.open("rb") as raw:
            sep = delimiter_of(first_line(raw, written.encoding))
        na_values = list(written.na_values) or None
        return pd.read_csv(path, sep=sep, encoding=written.encoding, decimal=written.decimal, na_values=na_values)
    except UnicodeDecodeError:
        with path.open("rb") as raw:
            at = undecodable_at(raw, written.encoding)
        raise DatasetError(f"{path} {not_in_dataset_encoding(written.encoding, at)}") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot be read as {suffix[1:]} ({type(exc).__name__}: {exc})") from None


def _dataset_csv_format(platform: PlatformConfig, model: str, version: str) -> CsvFormat:
    """How the version's dataset wrote its CSV, as batch scoring reads its inputs; a plain CSV
    when the registry does not know the version or it has no lineage."""
    from serving.batch.step import dataset_csv_format

    try:
        registry = platform.open_registry()
        info = registry.get(model, version)
    except MlopsError:
        return PLAIN_CSV
    return dataset_csv_format(registry, info, [])


def current_data(
    *,
    current: Path | None,
    platform: PlatformConfig,
    model: str,
    version: str,
    since: timedelta,
    target: str | None,
    prediction: str | None = None,
) -> pd.DataFrame:
    """The rows to compare: the ``--current`` file, or the prediction log's rows of ``model``
    ``version`` scored in the last ``since``, with the labels imported for their entities (as
    ``target``, when the reference has one) so performance drift can be measured.

    The log's scores come as ``prediction`` (default: the log's own name, ``score``), and its
    features under their own names; one named like a log column is logged under another
    and comes back under its own unless that is ``prediction``'s
    (:func:`~observability.prediction_log.with_feature_names`).
    """
    if current is not None:
        written = _dataset_csv_format(platform, model, version) if current.suffix.lower() == ".csv" else PLAIN_CSV
        return read_table(current, written)
    from observability.labels import LABEL_COLUMN, join_labels, labels_root, read_labels
    from observability.prediction_log import (
        DEFAULT_ENTITY_COLUMN,
        LOG_COLUMNS,
        SCORE_COLUMN,
        predictions_root,
        read_predictions,
        with_feature_names,
    )

    root = predictions_root(platform.prediction_log, platform.state_dir)
    frame = read_predictions(root, model, since=since, version=version, required=True)
    labels = read_labels(labels_root(platform.state_dir), model)
    if target is not None and len(labels) and DEFAULT_ENTITY_COLUMN in frame.columns:
        frame = join_labels(frame, labels, DEFAULT_ENTITY_COLUMN, how="left").rename(columns={LABEL_COLUMN: target})
    # The log's own columns (the score aside) and the entity id are not features.
    frame = frame.drop(columns=[c for c in (*LOG_COLUMNS, DEFAULT_ENTITY_COLUMN) if c != SCORE_COLUMN and c in frame])
    return with_feature_names(frame, prediction or SCORE_COLUMN)


def model_reference(platform: PlatformConfig, model: str, version: str) -> Reference:
    """The drift reference of ``model`` ``version``: from the state folder, else fetched from the
    registry (where the register step keeps it too) into the state folder."""
    from mlops.errors import MlopsError, ReferenceNotFoundError
    from mlops.state import StateLayout
    from observability.drift import load_model_reference, reference_dir

    try:
        return load_model_reference(platform.state_dir, model, version)
    except ReferenceNotFoundError as missing:
        if platform.registry.tracking_uri is None and not StateLayout(platform.state_dir).registry.exists():
            raise  # no registry here at all: nothing to fetch from
        try:
            registry = platform.open_registry()
            info = registry.get(model, version)
        except MlopsError:
            raise missing from None  # the reference's own message says what to do
        if not registry.download(info, "reference", reference_dir(platform.state_dir, model, version)):
            raise
    return load_model_reference(platform.state_dir, model, version)


def _default_out(state_dir: Path, model: str, version: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return state_dir / "drift" / model / version / stamp


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _summary_table(result: DriftResult, outputs: DriftOutputs) -> Table:
    table = Table(title=f"Drift of {result.model} {result.version}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    verdict = "[red]dataset drift[/]" if result.dataset_drift else "[green]no dataset drift[/]"
    table.add_row(
        "drift share",
        f"{result.drift_share:.2f} ({result.drifted_count} of {result.tested_count} features; {verdict}, "
        f"threshold {result.drift_share_threshold:g})",
    )
    drifted_cols = [result.features[c] for c in result.drifted_features]
    drifted = [f"{d.column} ({d.method}, {_score(d.score)})" for d in drifted_cols]
    table.add_row("drifted features", escape(", ".join(drifted)) or "none")
    for label, drift in (("prediction drift", result.prediction), ("target drift", result.target)):
        if drift is not None and drift.score is not None:
            table.add_row(label, f"{'yes' if drift.drifted else 'no'} ({drift.method}, {_score(drift.score)})")
    if result.performance is not None:
        perf = result.performance
        shown = [
            f"{k} {perf.current[k]:.3f} (reference {perf.reference[k]:.3f})"
            for k in ("accuracy", "roc_auc")
            if k in perf.current
        ]
        table.add_row("performance", f"{', '.join(shown)} on {perf.compared_rows} labelled rows")
    schema = result.schema
    if schema.detected:
        parts = [
            f"{what}: {', '.join(cols)}"
            for what, cols in (
                ("missing", schema.missing),
                ("new", schema.new),
                ("type changed", list(schema.type_changed)),
                ("all null", schema.all_null),
            )
            if cols
        ]
        table.add_row("schema drift", escape("; ".join(parts)))
    table.add_row(
        "rows",
        f"{result.rows_current} current (sample {result.sample_rows_current}) vs reference sample "
        f"{result.sample_rows_reference} of {result.rows_training} training rows",
    )
    for note in result.notes:
        table.add_row("note", escape(note))
    table.add_row("report", str(outputs.html))
    if outputs.performance_html is not None:
        table.add_row("performance report", str(outputs.performance_html))
    table.add_row("summary", str(outputs.summary))
    table.add_row("gauges", str(outputs.metrics) + (f" (pushed to {outputs.pushed_to})" if outputs.pushed_to else ""))
    return table


def drift(
    model: Annotated[str, typer.Option("--model", help="Registered model name.")],
    version: Annotated[
        str | None, typer.Option("--version", help="Semantic version (default: the model's champion).")
    ] = None,
    current: Annotated[
        Path | None, typer.Option("--current", help="CSV or parquet file of the rows to compare (batch input).")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="Prediction-log window: 30m, 24h, 7d …")] = "24h",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: <state>/drift/<model>/<version>/<time>).")
    ] = None,
    pushgateway: Annotated[
        str | None, typer.Option("--pushgateway", help="Also push the gauges to this Pushgateway URL.")
    ] = None,
    prediction_column: Annotated[
        str | None,
        typer.Option("--prediction-column", help="Column with the model's output (default: the reference's name)."),
    ] = None,
    target_column: Annotated[
        str | None,
        typer.Option("--target-column", help="Column with the true labels (default: the reference's name)."),
    ] = None,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
) -> None:
    """Drift of a model version's current data against its reference (Evidently): HTML, drift.json, gauges.

    Drift found is a result (exit 0); missing data or reference, or a failed push, is an error.
    """
    from observability.drift import detect_drift, write_drift_outputs
    from observability.status import drift_summary_path

    window = parse_since(since)
    platform = load_platform(config_dir, env)
    state_dir = platform.state_dir
    if version is None:
        version = platform.open_registry().get(model, "champion").semver
    reference = model_reference(platform, model, version)
    target = reference.target.name if reference.target else None
    # The log's scores under the reference's name for them (a feature may be called "score").
    prediction = reference.prediction.name if reference.prediction else None
    frame = current_data(
        current=current, platform=platform, model=model, version=version, since=window, target=target,
        prediction=prediction,
    )  # fmt: skip

    def column(given: str | None, stats_name: str | None) -> str | None:
        # Default: the reference's own name, when the current data has that column.
        if given is not None:
            return given
        return stats_name if stats_name is not None and stats_name in frame.columns else None

    with console.status(f"comparing {len(frame)} rows with the reference of {model} {version} …"):
        result = detect_drift(
            reference,
            frame,
            prediction_column=column(prediction_column, reference.prediction.name if reference.prediction else None),
            target_column=column(target_column, reference.target.name if reference.target else None),
        )
        outputs = write_drift_outputs(
            result, out or _default_out(state_dir, model, version), state_dir=state_dir, pushgateway=pushgateway
        )
    # The newest summary of the model, where `mlops monitor status` and the triggers read it.
    latest = drift_summary_path(state_dir, model)
    latest.parent.mkdir(parents=True, exist_ok=True)
    staged = latest.with_name(f".{latest.name}.tmp")
    staged.write_text(outputs.summary.read_text())
    staged.replace(latest)  # a reader never sees half a summary
    console.print(_summary_table(result, outputs))


__all__ = ["current_data", "drift", "parse_since", "read_table"]
