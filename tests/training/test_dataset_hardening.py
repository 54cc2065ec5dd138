"""Datasets that are not what the config says: wrong files, duplicated columns, one class.

File content must never reach an error or a log (the step record and its traceback are what
`pipeline.log` and `mlops runs show` print): errors name the file, the format and the kind
of problem, and at most column names, cut short.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from mlops.config import DatasetConfig
from mlops.errors import DatasetError
from mlops.roles import Roles
from mlops.state import RUN_DIR_ENV
from training.config import ModelConfig
from training.datasets import (
    check_dataset,
    decide_roles,
    file_columns,
    ingest,
    numeric_placeholders,
    read_dataset,
    written_with_decimal_comma,
)
from training.fit import train
from training.steps import ingest_step

# Stands for the content of a file that is not the dataset (a system file, a key, …).
SECRET = "s3cr3t-content-7f3a"  # pragma: allowlist secret


def dataset(path: Path, **extra: Any) -> DatasetConfig:
    return DatasetConfig.model_validate({"name": "wrong", "path": str(path), "target": "defaulted", **extra})


def shown(exc: BaseException) -> str:
    """Everything an error puts in front of a user: message, chained causes, traceback."""
    return "".join(traceback.format_exception(exc))


def passwd_like(tmp_path: Path, name: str = "passwd") -> Path:
    path = tmp_path / name
    path.write_text(f"{SECRET}:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:{SECRET}:/usr/sbin:/usr/sbin/nologin\n")
    return path


def binary_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\n\xff\xfe\x00" + SECRET.encode() * 3)
    return path


def no_anonymiser(df: pd.DataFrame, cfg: DatasetConfig) -> tuple[pd.DataFrame, dict[str, str]]:
    return df, {}


# --------------------------------------------------------------------------- item 8: no content echoed
@pytest.mark.parametrize(
    ("make", "fmt", "kind"),
    [
        (lambda tmp: passwd_like(tmp), "csv", "not the dataset"),
        (lambda tmp: binary_file(tmp, "blob.parquet"), "parquet", "not a parquet file"),
        (lambda tmp: binary_file(tmp, "blob.csv"), "csv", "not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_the_dataset_is_never_echoed(tmp_path: Path, make: Any, fmt: str, kind: str) -> None:
    path = make(tmp_path)
    cfg = dataset(path, format=fmt)
    for read in (read_dataset, file_columns, check_dataset, ingest):
        with pytest.raises(DatasetError) as exc:
            read(cfg)
        message = str(exc.value)
        assert str(path) in message, message
        assert fmt in message, message
        assert kind in message, message
        assert SECRET not in shown(exc.value)
        assert "root:" not in shown(exc.value)


def test_the_ingest_step_record_holds_no_file_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The step record's message and traceback are what the run summary and log show."""
    path = passwd_like(tmp_path)
    run_dir = tmp_path / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(run_dir))
    with pytest.raises(DatasetError) as exc:
        ingest_step(dataset(path, format="csv"), tmp_path / "out.parquet", anonymise=no_anonymiser)
    record = (run_dir / "steps" / "ingest.json").read_text()
    assert json.loads(record)["status"] == "failed"
    assert SECRET not in record
    assert SECRET not in shown(exc.value)


def test_a_malformed_csv_row_names_the_line_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"defaulted,income\n1,2\n0,3,{SECRET}\n")
    with pytest.raises(DatasetError, match=r"malformed CSV.*line 3") as exc:
        read_dataset(dataset(path))
    assert SECRET not in shown(exc.value)


def test_an_unparseable_event_time_names_the_column_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    pd.DataFrame(
        {"defaulted": [0, 1, 0, 1], "x": [1, 2, 3, 4], "when": ["2025-01-01", SECRET, "2025-01-03", ""]}
    ).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"event_timestamp column 'when' is not a timestamp") as exc:
        ingest(dataset(path, event_timestamp="when"))
    assert SECRET not in shown(exc.value)


def test_columns_listed_in_an_error_are_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    long_name = "c" * 5000
    pd.DataFrame({"defaulted": [0, 1], long_name: [1, 2], **{f"f{i}": [i, i] for i in range(100)}}).to_csv(
        path, index=False
    )
    with pytest.raises(DatasetError, match=r"entity_id names columns not in wide\.csv: applicant") as exc:
        read_dataset(dataset(path, entity_id="applicant"))
    message = str(exc.value)
    assert "defaulted" in message  # the file is the dataset: its columns help find the typo
    assert long_name not in message
    assert len(message) < 700


# --------------------------------------------------------------------------- item 9: duplicated columns
def test_duplicated_csv_columns_are_an_error_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("defaulted,income,age,income\n1,10,30,11\n0,20,40,21\n")
    cfg = dataset(path)
    for read in (read_dataset, file_columns, check_dataset, ingest):
        with pytest.raises(DatasetError, match=r"duplicated column names: 'income' \(2 times\)") as exc:
            read(cfg)
        assert "income.1" not in str(exc.value)
        assert str(path) in str(exc.value)


def test_duplicated_parquet_columns_are_an_error_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays(
        [pa.array([1, 0]), pa.array([10, 20]), pa.array([11, 21])], names=["defaulted", "income", "income"]
    )
    pq.write_table(table, path)
    cfg = dataset(path)
    for read in (read_dataset, file_columns, check_dataset):
        with pytest.raises(DatasetError, match=r"duplicated column names: 'income' \(2 times\)"):
            read(cfg)


def test_distinct_columns_that_look_mangled_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("defaulted,income,income.1\n1,10,11\n0,20,21\n")
    assert list(read_dataset(dataset(path)).columns) == ["defaulted", "income", "income.1"]
    assert file_columns(dataset(path)) == ["defaulted", "income", "income.1"]


# --------------------------------------------------------------------------- item 11: one class left
def roles() -> Roles:
    return Roles(
        name="one_class",
        entity="id",
        timestamp="t",
        target="y",
        features=["x"],
        categorical=[],
        sensitive=[],
        positive_label=1,
        negative_label=0,
    )


def frame(labels: np.ndarray) -> pd.DataFrame:
    rows = len(labels)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "t": pd.date_range("2025-01-01", periods=rows, freq="h", tz="UTC"),
            "x": rng.normal(size=rows) + labels,
            "y": labels,
        }
    )


def test_a_training_set_left_with_one_class_stops_the_train_step() -> None:
    """Both labels were in the file, but the quality gate quarantined every positive row."""
    with pytest.raises(DatasetError, match=r"training set .*only one label of target 'y': 0 \(400 rows, none with 1\)"):
        train(frame(np.zeros(400, dtype=int)), roles(), ModelConfig())


def test_a_holdout_with_one_class_stops_the_train_step() -> None:
    # Positives only in the first half: the latest 20 % by event time are all negative.
    labels = np.zeros(500, dtype=int)
    labels[:250:5] = 1
    with pytest.raises(DatasetError, match=r"holdout \(latest 20% by event time\) has only one label .*: 0"):
        train(frame(labels), roles(), ModelConfig())


def test_a_training_part_with_one_class_stops_the_train_step() -> None:
    # Positives only in the latest rows: everything before the holdout is negative.
    labels = np.zeros(500, dtype=int)
    labels[450::3] = 1
    with pytest.raises(DatasetError, match=r"training part .*has only one label .*: 0"):
        train(frame(labels), roles(), ModelConfig())


def test_both_classes_everywhere_still_trains() -> None:
    labels = np.tile([0, 0, 1], 200)
    _, holdout, result = train(frame(labels), roles(), ModelConfig(family="logistic_regression"))
    assert result.rows_holdout == len(holdout) == 120


# --------------------------------------------------------------------------- placeholders for missing
def placeholder_file(tmp_path: Path) -> Path:
    """A numeric column that marks unknown values with "?" (as many public datasets do)."""
    rng = np.random.default_rng(0)
    income = [("?" if i % 17 == 0 else str(round(float(v), 2))) for i, v in enumerate(rng.lognormal(10, 0.5, 600))]
    path = tmp_path / "loans.csv"
    pd.DataFrame(
        {"defaulted": rng.integers(0, 2, 600), "income": income, "grade": rng.choice(["a", "b", "?"], 600)}
    ).to_csv(path, index=False)
    return path


def test_na_values_read_placeholders_as_missing_and_the_column_as_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = placeholder_file(tmp_path)
    plain = ingest(dataset(path))
    assert plain.frame["income"].dtype == object
    assert numeric_placeholders(plain.frame["income"]) == ["?"]
    assert numeric_placeholders(plain.frame["grade"]) == []  # text whose values are not numbers

    cfg = dataset(path, na_values=["?"])
    got = ingest(cfg)
    assert got.frame["income"].dtype == "float64"
    assert got.frame["income"].isna().sum() == len(range(0, 600, 17))
    assert got.frame["grade"].isna().sum() == (plain.frame["grade"] == "?").sum()
    roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated)
    assert "income" in roles.features
    assert "income" not in roles.categorical

    # Without na_values the step says what to add (the column has too many values to be a category).
    run_dir = tmp_path / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(run_dir))
    ingest_step(dataset(path), tmp_path / "out.parquet", anonymise=no_anonymiser)
    notes = json.loads((run_dir / "steps" / "ingest.json").read_text())["notes"]
    hint = [n for n in notes if n.startswith("income is numbers except for '?'")]
    assert len(hint) == 1, notes
    assert "left out" in hint[0]
    assert "`na_values:`" in hint[0]
    assert not any(n.startswith("grade ") for n in notes)


def test_na_values_refuse_a_parquet_dataset_and_empty_tokens(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="na_values applies to CSV files"):
        dataset(tmp_path / "data.parquet", na_values=["?"])
    with pytest.raises(ValidationError, match="na_values"):
        dataset(tmp_path / "data.csv", na_values=[""])


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_csv_written_with_another_delimiter_reads_as_its_columns(tmp_path: Path, delimiter: str) -> None:
    """Spreadsheet exports in many locales separate fields with ";" (a comma is their decimal
    mark), others with tab or "|": the header tells which, and the data reads as with commas."""
    path = placeholder_file(tmp_path)
    comma = pd.read_csv(path)
    other = tmp_path / "exported.csv"
    comma.to_csv(other, index=False, sep=delimiter)

    assert file_columns(dataset(other)) == list(comma.columns)
    assert f"(csv, fields split at {delimiter!r}): 600 rows, 3 columns" in check_dataset(dataset(other))[0]
    assert "fields split" not in check_dataset(dataset(path))[0]
    got = ingest(dataset(other, na_values=["?"])).frame
    expected = ingest(dataset(path, na_values=["?"])).frame
    assert list(got.columns) == list(expected.columns)
    stamped = "ingested_at"  # the time of each ingest
    pd.testing.assert_frame_equal(got.drop(columns=stamped), expected.drop(columns=stamped))
    # Said in the config, it is used as it is: a comma here reads the file as one column.
    assert file_columns(dataset(other, delimiter=delimiter)) == list(comma.columns)
    with pytest.raises(DatasetError, match="none of the columns the config names"):
        file_columns(dataset(other, delimiter=","))


def test_the_delimiter_is_told_once_per_check_and_per_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header is read once to tell the delimiter, then every read uses it (for a dataset in
    an object store, each extra look would be one more request)."""
    import training.datasets as datasets

    other = tmp_path / "exported.csv"
    pd.read_csv(placeholder_file(tmp_path)).to_csv(other, index=False, sep=";")
    told: list[str] = []
    real = datasets.delimiter_of

    def counting(header: str) -> str:
        told.append(header)
        return real(header)

    monkeypatch.setattr(datasets, "delimiter_of", counting)
    assert "fields split at ';'" in check_dataset(dataset(other))[0]
    assert len(told) == 1
    assert len(ingest(dataset(other, na_values=["?"])).frame) == 600
    assert len(told) == 2


def test_a_delimiter_is_refused_for_parquet_and_outside_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="delimiter applies to CSV files"):
        dataset(tmp_path / "data.parquet", delimiter=";")
    with pytest.raises(ValidationError, match="delimiter"):
        dataset(tmp_path / "data.csv", delimiter=":")


def european_export(tmp_path: Path) -> tuple[Path, Path]:
    """The same data twice: as a German spreadsheet saves "CSV" (cp1252, fields split at ";",
    decimal commas, a name with an umlaut) and as UTF-8 with commas and decimal points."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "defaulted": rng.integers(0, 2, 400),
            "Einkommen": np.round(rng.lognormal(10, 0.5, 400), 2),
            "Verhältnis": np.round(rng.uniform(-1, 1, 400), 3),
            "Stadt": rng.choice(["München", "Köln", "Düsseldorf"], 400),
        }
    )
    frame.loc[::23, "Einkommen"] = np.nan
    european, plain = tmp_path / "kredite.csv", tmp_path / "plain.csv"
    frame.to_csv(european, index=False, sep=";", decimal=",", encoding="cp1252")
    frame.to_csv(plain, index=False)
    return european, plain


def test_a_csv_in_a_windows_code_page_with_decimal_commas_reads_as_its_utf8_twin(tmp_path: Path) -> None:
    european, plain = european_export(tmp_path)
    assert b"1," in european.read_bytes()
    assert "München".encode("cp1252") in european.read_bytes()
    cfg = dataset(european, encoding="windows-1252", decimal=",")
    assert cfg.encoding == "cp1252"  # one spelling, recorded in the roles
    got = ingest(cfg)
    expected = ingest(dataset(plain))
    stamped = "ingested_at"
    pd.testing.assert_frame_equal(got.frame.drop(columns=stamped), expected.frame.drop(columns=stamped))
    assert got.frame["Einkommen"].dtype == "float64"
    assert got.dataset_hash == expected.dataset_hash  # the same data, however it was written
    roles = decide_roles(cfg, got.frame, got.entity, got.timestamp, generated=got.generated)
    assert {"Einkommen", "Verhältnis"} <= set(roles.features) - set(roles.categorical)
    assert (roles.encoding, roles.decimal) == ("cp1252", ",")
    assert "(csv, fields split at ';', cp1252 text, decimal mark ','): 400 rows, 4 columns" in check_dataset(cfg)[0]


def test_a_csv_not_in_its_declared_encoding_names_the_key_and_the_fix(tmp_path: Path) -> None:
    european, _ = european_export(tmp_path)
    raw = european.read_bytes()
    offset = next(i for i, byte in enumerate(raw) if byte >= 0x80)  # where the file itself says
    line = raw[:offset].count(b"\n") + 1
    for check in (check_dataset, ingest, file_columns):
        with pytest.raises(DatasetError) as caught:
            check(dataset(european, decimal=","))
        told = str(caught.value)
        assert "(key `encoding`)" in told
        assert f"is not UTF-8 text (undecodable byte at offset {offset}, line {line})" in told
        assert "`encoding: cp1252`" in told
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("defaulted,Größe\n1,2\n", encoding="utf-16")
    with pytest.raises(DatasetError, match=r"not cp1252 text|not UTF-8 text"):
        ingest(dataset(utf16))
    assert list(ingest(dataset(utf16, encoding="utf-16")).frame.columns[:3]) == ["row_id", "defaulted", "Größe"]


def test_validate_decodes_the_whole_csv_not_only_the_columns_it_parses(tmp_path: Path) -> None:
    # A UTF-8 file whose one cp1252 byte sits in a column validate does not parse (not the target).
    path = tmp_path / "mostly_utf8.csv"
    head = "defaulted,city,amount\n" + "".join(f"{i % 2},Bonn,{i}\n" for i in range(50))
    path.write_bytes(head.encode() + "1,Köln,51\n".encode("cp1252"))
    with pytest.raises(DatasetError) as caught:
        check_dataset(dataset(path))
    offset = len(head.encode()) + len("1,K")
    assert f"(key `encoding`): {path} is not UTF-8 text (undecodable byte at offset {offset}, line 52)" in str(
        caught.value
    )
    assert check_dataset(dataset(path, encoding="cp1252"))[0].endswith("(csv, cp1252 text): 51 rows, 3 columns")


def test_decimal_commas_without_the_key_are_text_and_the_step_says_which_key_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    european, _ = european_export(tmp_path)
    cfg = dataset(european, encoding="cp1252")
    frame = ingest(cfg).frame
    assert frame["Einkommen"].dtype == object
    assert written_with_decimal_comma(frame["Einkommen"])
    assert written_with_decimal_comma(frame["Verhältnis"])
    assert not written_with_decimal_comma(frame["Stadt"])
    assert not written_with_decimal_comma(pd.Series(["1.5", "2", "3.25"]))  # decimal points
    assert not written_with_decimal_comma(pd.Series([1.5, 2.0]))  # numbers already

    run_dir = tmp_path / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(run_dir))
    ingest_step(cfg, tmp_path / "out.parquet", anonymise=no_anonymiser)
    notes = json.loads((run_dir / "steps" / "ingest.json").read_text())["notes"]
    hints = sorted(n for n in notes if "decimal comma" in n)
    assert [h.split(" ", 1)[0] for h in hints] == ["Einkommen", "Verhältnis"], notes
    assert all('`decimal: ","`' in h for h in hints)
    assert not any(n.startswith("Einkommen is numbers except") for n in notes)  # one hint per column


def test_encoding_and_decimal_keys_that_cannot_work_are_refused(tmp_path: Path) -> None:
    for bad in ("klingon", "base64", "rot13"):
        with pytest.raises(ValidationError, match=r"encoding\n.*not a text encoding Python knows"):
            dataset(tmp_path / "data.csv", encoding=bad)
    with pytest.raises(ValidationError, match="decimal"):
        dataset(tmp_path / "data.csv", decimal=";")
    with pytest.raises(ValidationError, match="another delimiter"):
        dataset(tmp_path / "data.csv", decimal=",", delimiter=",")
    with pytest.raises(ValidationError, match="encoding and decimal apply to CSV files"):
        dataset(tmp_path / "data.parquet", encoding="cp1252")
    # A decimal comma in a file whose header is split at commas: the key names what to set.
    path = placeholder_file(tmp_path)
    with pytest.raises(DatasetError, match=r"\(key `decimal`\).*splits its fields at ',', its decimal mark"):
        check_dataset(dataset(path, decimal=","))
