"""Ground-truth labels: imported (checked), stored per model, joined to logged predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlops.errors import LabelsError, MonitoringError
from mlops_cli.main import app
from observability.labels import import_labels, join_labels, load_label_file, read_labels
from observability.prediction_log import PredictionLogConfig, PredictionLogger, read_predictions

MODEL = "credit_risk"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_import_with_a_positive_label_and_duplicated_ids(tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "outcomes.csv",
        "applicant_id,defaulted,comment\n 17 ,yes,a\n18,no,b\n17,no,corrected\n19,Yes,c\n18,no,d\n",
    )
    root = tmp_path / "labels"
    result = import_labels(
        source, root, MODEL, entity_column="applicant_id", label_column="defaulted", positive_label="yes"
    )
    assert (result.rows, result.positives, result.duplicates, result.duplicated_ids) == (3, 1, 2, 2)
    stored = Path(result.path)
    assert stored.parent == root / f"model={MODEL}"
    assert stored.name.startswith("labels-")
    assert stored.suffix == ".parquet"
    assert pq.read_schema(stored).names == ["entity_id", "label", "imported_at", "source"]

    labels = read_labels(root, MODEL).sort_values("entity_id")
    # 17: the last row wins (the correction); ids are trimmed text; "Yes" is "yes".
    assert labels[["entity_id", "label"]].to_dict("records") == [
        {"entity_id": "17", "label": 0},
        {"entity_id": "18", "label": 0},
        {"entity_id": "19", "label": 1},
    ]
    assert set(labels["source"]) == {"outcomes.csv"}


def test_parquet_import_with_numeric_ids_and_boolean_or_0_1_labels(tmp_path: Path) -> None:
    source = tmp_path / "outcomes.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "bad": [True, False, True]}), source)
    result = import_labels(source, tmp_path / "labels", MODEL, entity_column="id", label_column="bad")
    assert (result.rows, result.positives, result.duplicates) == (3, 2, 0)

    floats = tmp_path / "floats.parquet"  # a column with gaps elsewhere reads as float: 4.0 is id "4"
    pq.write_table(pa.table({"id": [4.0, 5.0], "bad": [0.0, 1.0]}), floats)
    frame = load_label_file(floats, entity_column="id", label_column="bad").frame
    assert frame.to_dict("records") == [{"entity_id": "4", "label": 0}, {"entity_id": "5", "label": 1}]


def test_a_later_import_replaces_an_earlier_label(tmp_path: Path) -> None:
    root = tmp_path / "labels"
    first = write_csv(tmp_path / "first.csv", "id,y\n1,0\n2,0\n")
    second = write_csv(tmp_path / "second.csv", "id,y\n2,1\n")
    import_labels(first, root, MODEL, entity_column="id", label_column="y", now=datetime(2026, 11, 1, tzinfo=UTC))
    import_labels(second, root, MODEL, entity_column="id", label_column="y", now=datetime(2026, 11, 2, tzinfo=UTC))
    labels = read_labels(root, MODEL).sort_values("entity_id")
    assert labels[["entity_id", "label", "source"]].values.tolist() == [["1", 0, "first.csv"], ["2", 1, "second.csv"]]
    assert read_labels(root, "other").empty


def test_labels_join_the_logged_predictions_by_entity_id(tmp_path: Path) -> None:
    log_root = tmp_path / "predictions"
    logger = PredictionLogger(log_root, PredictionLogConfig(flush_interval_s=3600), entity_column="applicant_id")
    features = pd.DataFrame({"income": [1.0, 2.0, 3.0]})
    logger.record(features, [0.9, 0.2, 0.6], model=MODEL, version="1.0.0", request_ids="r1", entity_ids=[7, 8, 9])
    logger.record(features.iloc[:1], [0.8], model=MODEL, version="1.0.0", request_ids="r2", entity_ids=[7])
    assert logger.close()
    predictions = read_predictions(log_root, MODEL)

    source = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"applicant_id": [7, 9, 10], "defaulted": [1, 0, 1]}), source)
    import_labels(source, tmp_path / "labels", MODEL, entity_column="applicant_id", label_column="defaulted")
    labels = read_labels(tmp_path / "labels", MODEL)

    joined = join_labels(predictions, labels, "applicant_id")
    assert sorted(zip(joined["request_id"], joined["applicant_id"], joined["score"], joined["label"], strict=True)) == [
        ("r1", "7", 0.9, 1),
        ("r1", "9", 0.6, 0),
        ("r2", "7", 0.8, 1),  # every prediction of an entity gets its label
    ]
    everyone = join_labels(predictions, labels, "applicant_id", how="left")
    assert len(everyone) == len(predictions)
    assert everyone.loc[everyone["applicant_id"] == "8", "label"].isna().all()


def test_join_needs_the_entity_column(tmp_path: Path) -> None:
    predictions = pd.DataFrame({"score": [0.1]})
    labels = pd.DataFrame({"entity_id": ["1"], "label": [1]})
    with pytest.raises(MonitoringError, match="no column 'applicant_id' to join labels on"):
        join_labels(predictions, labels, "applicant_id")


@pytest.mark.parametrize(
    ("text", "kwargs", "column", "expected"),
    [
        ("id,y\n1,0\n", {"label_column": "outcome"}, "outcome", r"no such column; the file has id, y"),
        ("id,y\n1,0\n", {"entity_column": "applicant"}, "applicant", "no such column"),
        ("id,y\n1,0\n2,maybe\n3,1\n", {}, "y", r"binary labels 0/1 or true/false, found 'maybe'"),
        ("id,y\n1,good\n2,bad\n3,ugly\n", {"positive_label": "good"}, "y", "binary labels .two values., found 3"),
        ("id,y\n1,good\n2,bad\n", {"positive_label": "1"}, "y", "the positive label '1' among the values"),
        ("id,y\n1,0\n2,\n3,\n", {}, "y", r"a label on every row; 2 data rows have none \(rows 2, 3\)"),
        ("id,y\n1,0\n,1\n", {}, "id", r"an entity id on every row; 1 data rows have none \(rows 2\)"),
        ("id,y\n", {}, "", "at least one labelled row"),
        ("", {}, "", "a CSV file with a header row"),
    ],
)
def test_bad_label_files_name_the_file_and_column(
    tmp_path: Path, text: str, kwargs: dict[str, str], column: str, expected: str
) -> None:
    source = write_csv(tmp_path / "labels.csv", text)
    options: dict[str, Any] = {"entity_column": "id", "label_column": "y", **kwargs}
    with pytest.raises(LabelsError, match=expected) as caught:
        import_labels(source, tmp_path / "labels", MODEL, **options)
    assert caught.value.file == str(source)
    assert caught.value.column == column
    assert str(caught.value).startswith(f"{source}: " + (f"column {column!r}: " if column else ""))
    assert not (tmp_path / "labels").exists()  # nothing stored


def test_unsupported_or_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match=r"labels\.json: a \.csv or \.parquet file"):
        load_label_file(tmp_path / "labels.json", entity_column="id", label_column="y")
    with pytest.raises(LabelsError, match="missing.csv: an existing file"):
        load_label_file(tmp_path / "missing.csv", entity_column="id", label_column="y")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(LabelsError, match="broken.parquet: a readable parquet file"):
        load_label_file(tmp_path / "broken.parquet", entity_column="id", label_column="y")
    with pytest.raises(LabelsError, match="a label column other than the entity column"):
        load_label_file(tmp_path / "x.csv", entity_column="id", label_column="id")


# --------------------------------------------------------------------------- the command
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    (folder / "environments").mkdir(parents=True)
    (folder / "platform.yaml").write_text(f"state_dir: {tmp_path / 'state'}\n")
    (folder / "environments" / "dev.yaml").write_text("{}\n")
    return folder


def test_the_labels_command_imports_and_says_what_it_did(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "outcomes.csv", "applicant_id,defaulted\n1,1\n2,0\n1,0\n")
    args = ["monitor", "labels", "--file", str(source), "--model", MODEL]
    args += [
        "--entity-column",
        "applicant_id",
        "--label-column",
        "defaulted",
        "--config-dir",
        str(config_dir(tmp_path)),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "imported 2 labels for credit_risk (0 positive)" in result.output
    assert "repeated entity ids: 1; the last row of each wins (1 earlier row(s) ignored)" in result.output
    labels = read_labels(tmp_path / "state" / "labels", MODEL)
    assert sorted(labels["entity_id"]) == ["1", "2"]


def test_the_labels_command_fails_on_a_bad_file_naming_file_and_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "outcomes.csv", "applicant_id,defaulted\n1,yes\n2,no\n")
    args = ["monitor", "labels", "--file", str(source), "--model", MODEL]
    args += [
        "--entity-column",
        "applicant_id",
        "--label-column",
        "defaulted",
        "--config-dir",
        str(config_dir(tmp_path)),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    # mlops_cli.main.main prints an MlopsError as one line; the app itself raises it.
    assert isinstance(result.exception, LabelsError)
    assert str(result.exception) == (
        f"{source}: column 'defaulted': binary labels 0/1 or true/false, found 'no', 'yes'; "
        "name the positive label (--positive-label) to import other values"
    )
    ok = CliRunner().invoke(app, [*args, "--positive-label", "yes"])
    assert ok.exit_code == 0, ok.output
    assert "imported 2 labels for credit_risk (1 positive)" in ok.output


# --------------------------------------------------------------------------- files as spreadsheets save them
def test_a_semicolon_code_page_export_imports_as_its_utf8_comma_twin(tmp_path: Path) -> None:
    text = "Antragsnummer;Ausfall;Filiale\nA-1;1;Köln\nA-2;0;München\nA-3;true;Düsseldorf\n"
    exported = tmp_path / "ausfaelle.csv"
    exported.write_bytes(text.encode("cp1252"))
    twin = write_csv(tmp_path / "twin.csv", text.replace(";", ","))
    options: dict[str, Any] = {"entity_column": "Antragsnummer", "label_column": "Ausfall"}
    loaded = load_label_file(exported, encoding="Windows-1252", **options).frame
    pd.testing.assert_frame_equal(loaded, load_label_file(twin, **options).frame)
    assert loaded["entity_id"].tolist() == ["A-1", "A-2", "A-3"]
    assert loaded["label"].tolist() == [1, 0, 1]
    # A tab-separated, gzip-compressed UTF-8 file with a byte-order mark (as Excel writes "UTF-8 CSV").
    import gzip

    tabbed = tmp_path / "outcomes.csv.gz"
    tabbed.write_bytes(gzip.compress(("\ufeff" + text.replace(";", "\t")).encode()))
    pd.testing.assert_frame_equal(load_label_file(tabbed, **options).frame, loaded)


def test_a_file_its_encoding_does_not_decode_says_where_and_what_to_do(tmp_path: Path) -> None:
    exported = tmp_path / "ausfaelle.csv"
    exported.write_bytes("id;y\nA-1;1\nKöln-2;0\n".encode("cp1252"))
    with pytest.raises(LabelsError) as caught:
        import_labels(exported, tmp_path / "labels", MODEL, entity_column="id", label_column="y")
    assert str(caught.value) == (
        f"{exported}: UTF-8 text, but it is not UTF-8 text (undecodable byte at offset 12, line 3): name the "
        'encoding it was saved in (`--encoding cp1252` is what Windows spreadsheets save as "CSV") or save it as UTF-8'
    )
    assert not (tmp_path / "labels").exists()
    with pytest.raises(LabelsError, match=r"an encoding Python knows as text, not 'base64'"):
        load_label_file(exported, entity_column="id", label_column="y", encoding="base64")
    # The header itself undecodable: told the same way.
    header = tmp_path / "header.csv"
    header.write_bytes("Straße;y\nx;1\n".encode("cp1252"))
    with pytest.raises(LabelsError, match=r"undecodable byte at offset 4, line 1"):
        load_label_file(header, entity_column="Straße", label_column="y")


def test_the_labels_command_takes_the_file_encoding(tmp_path: Path) -> None:
    source = tmp_path / "outcomes.csv"
    source.write_bytes("Antragsnummer;Ausfall\nÄ-1;1\nÄ-2;0\n".encode("cp1252"))
    args = ["monitor", "labels", "--file", str(source), "--model", MODEL, "--config-dir", str(config_dir(tmp_path))]
    args += ["--entity-column", "Antragsnummer", "--label-column", "Ausfall", "--encoding", "cp1252"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "imported 2 labels for credit_risk (1 positive)" in result.output
    assert sorted(read_labels(tmp_path / "state" / "labels", MODEL)["entity_id"]) == ["Ä-1", "Ä-2"]
