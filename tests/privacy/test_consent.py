"""The consent store on SQLite (state folder), consent files checked whole before an import,
imports racing from two processes, the exclusion training applies, and `mlops privacy consent`.

The same store on the local stack's PostgreSQL: tests/privacy/test_consent_postgres.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.errors import DatasetError, PrivacyError
from mlops_cli.main import app
from privacy.config import ConsentConfig
from privacy.consent import ConsentRecord, ConsentStore, exclude_without_consent, read_consent_file
from privacy.consent.records import MAX_PROBLEMS

ROOT = Path(__file__).resolve().parents[2]
PURPOSES = ConsentConfig().purposes
HEADER = "subject_id,purpose,status,time,source\n"


def write(path: Path, *lines: str, header: str = HEADER) -> Path:
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def sqlite_store(state: Path, **config: object) -> ConsentStore:
    return ConsentStore.open(ConsentConfig.model_validate(config), state, lambda ref: ref)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --------------------------------------------------------------------------- the store
def test_records_round_trip_through_sqlite_in_utc(tmp_path: Path) -> None:
    file = write(
        tmp_path / "consent.csv",
        "c-1,training,granted,2024-03-01T09:30:00+02:00,web form",
        "c-1,monitoring,withdrawn,2024-03-02T10:00:00Z,",
        "c-2,training,granted,2024-03-03T00:00:00-05:00,call centre",
    )
    with sqlite_store(tmp_path) as store:
        result = store.add(read_consent_file(file, PURPOSES))
        assert (result.read, result.added) == (3, 3)
        assert store.where == f"sqlite:///{(tmp_path / 'privacy' / 'consent.db').resolve()}"
        assert store.current("c-1") == [
            ConsentRecord("c-1", "monitoring", "withdrawn", at("2024-03-02T10:00:00+00:00"), "import:consent.csv"),
            ConsentRecord("c-1", "training", "granted", at("2024-03-01T07:30:00+00:00"), "web form"),
        ]
        # Times come back aware, in UTC, equal to the instant written with any offset.
        assert store.history("c-2")[0].time == datetime(2024, 3, 3, 5, 0, tzinfo=UTC)
        assert store.history("c-2")[0].time.tzinfo is UTC
        assert store.current("nobody") == []
    assert (tmp_path / "privacy" / "consent.db").is_file()


def test_the_fingerprint_tells_identical_stores_from_changed_ones_without_an_id(tmp_path: Path) -> None:
    lines = ("c-1,training,granted,2024-03-01T09:30:00+02:00,web form", "c-2,training,withdrawn,2024-03-02T10:00:00Z,")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    with sqlite_store(tmp_path / "a") as one:  # an empty source is the file's name: the same in both
        one.add(read_consent_file(write(tmp_path / "a" / "consent.csv", *lines), PURPOSES))
        first = one.fingerprint()
    with sqlite_store(tmp_path / "b") as two:  # the same records, imported in the other order
        two.add(read_consent_file(write(tmp_path / "b" / "consent.csv", *reversed(lines)), PURPOSES))
        assert two.fingerprint() == first
        assert (first["records"], first["subjects"]) == (2, 2)
        assert "c-1" not in str(first)
        two.add(read_consent_file(write(tmp_path / "c.csv", "c-2,training,granted,2024-04-01T00:00:00Z,"), PURPOSES))
        assert two.fingerprint()["sha256"] != first["sha256"]


def test_the_latest_record_wins_whatever_order_it_was_imported_in(tmp_path: Path) -> None:
    newer = write(
        tmp_path / "newer.csv",
        "s,training,withdrawn,2024-06-01T00:00:00Z,",
        "u,training,withdrawn,2024-01-01T00:00:00Z,",
    )
    older = write(
        tmp_path / "older.csv",
        "s,training,granted,2024-01-01T00:00:00Z,",
        "t,training,granted,2024-01-01T00:00:00Z,",
        "u,training,granted,2024-01-01T00:00:00Z,",
    )
    later_same_time = write(tmp_path / "again.csv", "t,training,withdrawn,2024-01-01T00:00:00Z,")
    with sqlite_store(tmp_path) as store:
        store.add(read_consent_file(newer, PURPOSES))
        store.add(read_consent_file(older, PURPOSES))
        # Same time: withdrawn wins (the cautious reading), whichever was stored first.
        assert store.statuses("training") == {"s": "withdrawn", "t": "granted", "u": "withdrawn"}
        store.add(read_consent_file(later_same_time, PURPOSES))
        assert store.statuses("training") == {"s": "withdrawn", "t": "withdrawn", "u": "withdrawn"}
        assert [r.status for r in store.history("s")] == ["granted", "withdrawn"]
        summary = store.summary()
    assert summary.counts == {("training", "withdrawn"): 3}
    assert (summary.subjects, summary.records) == (3, 6)


def test_importing_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    file = write(tmp_path / "c.csv", *(f"s{i},training,granted,2024-01-01T00:00:00Z," for i in range(50)))
    with sqlite_store(tmp_path) as store:
        assert store.add(read_consent_file(file, PURPOSES)).added == 50
        again = store.add(read_consent_file(file, PURPOSES))
        assert (again.added, again.already_stored) == (0, 50)
        assert store.summary().records == 50


def test_erase_removes_every_record_of_the_subjects(tmp_path: Path) -> None:
    file = write(
        tmp_path / "c.csv",
        "a,training,granted,2024-01-01T00:00:00Z,",
        "a,monitoring,granted,2024-01-01T00:00:00Z,",
        "b,training,granted,2024-01-01T00:00:00Z,",
    )
    with sqlite_store(tmp_path) as store:
        store.add(read_consent_file(file, PURPOSES))
        assert store.erase(["a", "unknown"]) == 2
        assert store.history("a") == []
        assert store.statuses("training") == {"b": "granted"}


def _import_file(config_dir: Path, cwd: Path, file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "privacy", "consent", "import", str(file), "--config-dir", str(config_dir)],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_imports_at_once_both_land_whole(tmp_path: Path) -> None:
    """Two `mlops privacy consent import` processes on one SQLite store: each lands whole, and
    for the subjects both name the latest record wins."""
    n = 20_000
    first = write(
        tmp_path / "first.csv",
        *(f"s{i},training,granted,2024-01-01T00:00:00Z,first" for i in range(n)),
    )
    second = write(
        tmp_path / "second.csv",
        *(f"s{i},training,withdrawn,2024-02-01T00:00:00Z,second" for i in range(0, n, 2)),
        *(f"t{i},monitoring,granted,2024-02-01T00:00:00Z,second" for i in range(n // 2)),
    )
    procs = [_import_file(ROOT / "config", tmp_path, f) for f in (first, second)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    for proc, (out, errors) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, errors
        assert "imported" in out
    with sqlite_store(tmp_path / ".mlops") as store:
        training = store.statuses("training")
        summary = store.summary()
        assert summary.records == 2 * n
        assert len(training) == n
        assert sum(1 for s in training.values() if s == "withdrawn") == n // 2
        assert all(training[f"s{i}"] == ("withdrawn" if i % 2 == 0 else "granted") for i in range(n))
        assert summary.counts[("monitoring", "granted")] == n // 2


# --------------------------------------------------------------------------- consent files
def problems(path: Path, purposes: list[str] = PURPOSES) -> list[str]:
    with pytest.raises(PrivacyError) as caught:
        read_consent_file(path, purposes, now=datetime(2025, 1, 1, tzinfo=UTC))
    return str(caught.value).splitlines()


def test_every_bad_line_is_named_with_file_line_and_what_was_expected(tmp_path: Path) -> None:
    file = write(
        tmp_path / "bad.csv",
        "ok,training,granted,2024-01-01T00:00:00Z,",
        "a,sales,granted,2024-01-01T00:00:00Z,",
        "b,training,granted,2024-01-01T00:00:00,",
        "c,training,granted,01/02/2024,",
        "d,training,maybe,2024-01-01T00:00:00Z,",
        ",training,granted,,",
        "e,training,granted,2030-01-01T00:00:00Z,",
        "f,training,granted",
    )
    lines = problems(file)
    assert lines[0] == f"{file}: 7 bad line(s), nothing imported:"
    assert lines[1] == (
        f"{file}:3: purpose: one of training, monitoring, analytics, profiling (privacy.consent.purposes), got 'sales'"
    )
    assert lines[2] == f"{file}:4: time: a time with a UTC offset (+00:00 or Z), got '2024-01-01T00:00:00' without one"
    assert lines[3].startswith(f"{file}:5: time: an ISO 8601 time with a UTC offset")
    assert lines[4] == f"{file}:6: status: granted or withdrawn, got 'maybe'"
    assert lines[5] == f"{file}:7: missing subject_id, time"
    assert lines[6] == f"{file}:8: time: not in the future, got 2030-01-01T00:00:00+00:00"
    assert lines[7] == f"{file}:9: 3 fields, expected 5 (subject_id,purpose,status,time,source)"


def test_a_bad_line_anywhere_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [f"s{i},training,granted,2024-01-01T00:00:00Z," for i in range(1000)]
    file = write(tmp_path / "c.csv", *good, "late,training,granted,2024-13-01T00:00:00Z,")
    monkeypatch.chdir(tmp_path)  # the dev config's state folder (.mlops) is relative to the working folder
    result = CliRunner().invoke(app, ["privacy", "consent", "import", str(file), "--config-dir", str(ROOT / "config")])
    assert result.exit_code == 1
    assert f"{file}:1002: time: an ISO 8601 time" in result.stderr
    with sqlite_store(tmp_path / ".mlops") as store:
        assert store.summary().records == 0


def test_problems_are_capped_with_a_count_of_the_rest(tmp_path: Path) -> None:
    file = write(tmp_path / "c.csv", *(f"s{i},training,yes,2024-01-01T00:00:00Z," for i in range(MAX_PROBLEMS + 15)))
    lines = problems(file)
    assert len(lines) == 1 + MAX_PROBLEMS + 1
    assert lines[-1] == "… and 15 more bad line(s)"


def test_headers_and_files_that_cannot_be_read(tmp_path: Path) -> None:
    assert problems(write(tmp_path / "h.csv", "x", header="subject,purpose,status,time\n")) == [
        f"{tmp_path / 'h.csv'}:1: header 'subject,purpose,status,time': expected the columns "
        "subject_id,purpose,status,time and optionally source, each once"
    ]
    assert problems(tmp_path / "missing.csv") == [f"{tmp_path / 'missing.csv'}: no such file"]
    (tmp_path / "c.xlsx").write_bytes(b"PK")
    assert problems(tmp_path / "c.xlsx") == [
        f"{tmp_path / 'c.xlsx'}: a .csv or .jsonl/.ndjson file (JSON lines), got .xlsx"
    ]
    (tmp_path / "latin.csv").write_bytes(
        HEADER.encode() + "é,training,granted,2024-01-01T00:00:00Z,\n".encode("latin-1")
    )
    offset = len(HEADER.encode())
    assert problems(tmp_path / "latin.csv") == [
        f"{tmp_path / 'latin.csv'}:2: UTF-8 text expected, but the file is not UTF-8 text (undecodable byte at "
        f"offset {offset}): name the encoding it was saved in (`--encoding cp1252` is what Windows spreadsheets "
        'save as "CSV") or save it as UTF-8'
    ]
    assert problems(write(tmp_path / "empty.csv", header="subject_id,purpose,status,time\n")) == [
        f"{tmp_path / 'empty.csv'}: no records (expected one per line after the header)"
    ]


def test_a_semicolon_code_page_export_reads_as_its_utf8_comma_twin(tmp_path: Path) -> None:
    text = HEADER + "é-1,training,granted,2024-01-01T00:00:00Z,Filiale Köln\n"
    text += "b-2,training,withdrawn,2024-01-02T00:00:00Z,\n"
    exported = tmp_path / "export.csv"
    exported.write_bytes(text.replace(",", ";").encode("cp1252"))
    twin = tmp_path / "twin.csv"
    twin.write_text(text)
    records = read_consent_file(exported, PURPOSES, encoding="windows-1252")
    fields = [(r.subject_id, r.purpose, r.status, r.time) for r in records]
    assert fields == [(r.subject_id, r.purpose, r.status, r.time) for r in read_consent_file(twin, PURPOSES)]
    assert [(r.subject_id, r.status, r.source) for r in records] == [
        ("é-1", "granted", "Filiale Köln"),
        ("b-2", "withdrawn", "import:export.csv"),
    ]
    tabbed = tmp_path / "tabbed.csv"  # tab-separated UTF-8 with a byte-order mark, as Excel's "UTF-8 CSV"
    tabbed.write_bytes(("\ufeff" + text.replace(",", "\t")).encode())
    assert [r.subject_id for r in read_consent_file(tabbed, PURPOSES)] == ["é-1", "b-2"]
    with pytest.raises(PrivacyError, match=r"encoding 'rot13': a text encoding Python knows"):
        read_consent_file(twin, PURPOSES, encoding="rot13")


def test_json_lines_are_checked_the_same_way(tmp_path: Path) -> None:
    file = tmp_path / "c.jsonl"
    rows = [
        {"subject_id": 17, "purpose": "training", "status": "granted", "time": "2024-01-01T00:00:00Z"},
        {"subject_id": "x", "purpose": "training", "status": "withdrawn", "time": "2024-01-01T00:00:00Z", "extra": 1},
    ]
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n[1]\n{not json\n")
    assert problems(file)[1:] == [
        f"{file}:2: unknown field(s) 'extra' (expected subject_id, purpose, status, time, source)",
        f"{file}:4: a JSON object with subject_id, purpose, status, time, got list",
        f"{file}:5: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]
    file.write_text(json.dumps(rows[0]) + "\n")
    assert read_consent_file(file, PURPOSES)[0].subject_id == "17"


# --------------------------------------------------------------------------- what training keeps
@pytest.fixture
def training_store(tmp_path: Path) -> ConsentStore:
    file = write(
        tmp_path / "c.csv",
        "1,training,granted,2024-01-01T00:00:00Z,",
        "2,training,granted,2024-01-01T00:00:00Z,",
        "2,training,withdrawn,2024-02-01T00:00:00Z,",
        "3,monitoring,granted,2024-01-01T00:00:00Z,",
        "4,training,withdrawn,2024-01-01T00:00:00Z,",
    )
    store = sqlite_store(tmp_path)
    store.add(read_consent_file(file, PURPOSES))
    return store


FRAME = pd.DataFrame({"customer": [1, 2, 2, 3, 4, 5, None], "x": range(7)})


def test_opt_out_drops_the_subjects_who_withdrew(training_store: ConsentStore) -> None:
    kept, check = exclude_without_consent(
        FRAME, "customer", config=ConsentConfig(training="opt_out"), store=training_store
    )
    # Numeric ids match the stored text ids; subject 3 granted only monitoring, 5 and the empty id have no record.
    assert kept["x"].tolist() == [0, 3, 5, 6]
    assert (check.rows_read, check.excluded_rows, check.excluded_subjects, check.rows_without_record) == (7, 3, 2, 3)
    assert (check.mode, check.purpose, check.subject_column) == ("opt_out", "training", "customer")
    assert check.store == training_store.where


def test_opt_in_keeps_only_granted_subjects(training_store: ConsentStore) -> None:
    kept, check = exclude_without_consent(
        FRAME, "customer", config=ConsentConfig(training="opt_in"), store=training_store
    )
    assert kept["x"].tolist() == [0]
    assert (check.excluded_rows, check.excluded_subjects, check.rows_without_record) == (6, 5, 3)


def test_off_and_missing_subject_columns(training_store: ConsentStore) -> None:
    kept, check = exclude_without_consent(FRAME, "customer", config=ConsentConfig(training="off"), store=None)
    assert kept is FRAME
    assert (check.mode, check.excluded_rows) == ("off", 0)
    kept, check = exclude_without_consent(FRAME, None, config=ConsentConfig(), store=training_store)
    assert kept is FRAME
    assert check.subject_column is None
    with pytest.raises(PrivacyError, match="opt_in, but the dataset names no subject column"):
        exclude_without_consent(FRAME, None, config=ConsentConfig(training="opt_in"), store=training_store)
    with pytest.raises(DatasetError, match="subject_id column 'client' is not in the data"):
        exclude_without_consent(FRAME, "client", config=ConsentConfig(), store=training_store)


def test_the_consent_config_refuses_what_it_cannot_use() -> None:
    from pydantic import ValidationError

    for bad in (
        {"url": "postgresql+psycopg://consent:hunter2@db/consent"},  # pragma: allowlist secret
        {"url": "mysql://db/consent"},
        {"password": "plain-text"},  # pragma: allowlist secret
        {"purposes": ["Training"]},
        {"purposes": ["monitoring"], "training": "opt_out"},
        {"training": "always"},
    ):
        with pytest.raises(ValidationError):
            ConsentConfig.model_validate(bad)
    assert ConsentConfig.model_validate({"purposes": ["monitoring"], "training": "off"}).purposes == ["monitoring"]


# --------------------------------------------------------------------------- the CLI
def test_cli_imports_and_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = ["--config-dir", str(ROOT / "config")]
    file = write(
        tmp_path / "c.csv",
        "c-1,training,granted,2024-01-01T00:00:00Z,web",
        "c-1,training,withdrawn,2024-05-01T00:00:00Z,letter",
        "c-2,monitoring,granted,2024-01-01T00:00:00Z,web",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["privacy", "consent", "import", str(file), *config])
    assert result.exit_code == 0, result.output
    assert f"imported 3 record(s) from {file} into sqlite:///{tmp_path}/.mlops/privacy/consent.db" in result.stdout

    result = runner.invoke(app, ["privacy", "consent", "show", "--subject", "c-1", *config])
    assert result.exit_code == 0, result.output
    assert "subject 'c-1': granted for no purpose" in result.stdout
    assert "withdrawn" in result.stdout
    assert "letter" in result.stdout

    result = runner.invoke(app, ["privacy", "consent", "show", "--subject", "c-1", "--history", "--json", *config])
    assert [r["status"] for r in json.loads(result.stdout)["records"]] == ["granted", "withdrawn"]

    result = runner.invoke(app, ["privacy", "consent", "show", "--json", *config])
    summary = json.loads(result.stdout)
    assert (summary["subjects"], summary["records"]) == (2, 3)
    assert summary["purposes"]["training"] == {"granted": 0, "withdrawn": 1}
    assert summary["purposes"]["monitoring"] == {"granted": 1, "withdrawn": 0}

    result = runner.invoke(app, ["privacy", "consent", "show", *config])
    assert "3 record(s) of 2 subject(s)" in result.stdout

    result = runner.invoke(app, ["privacy", "consent", "show", "--subject", "nobody", *config])
    assert result.exit_code == 0
    assert "no consent records for subject 'nobody': no purpose is granted" in result.stdout

    # A semicolon export in a Windows code page: read with --encoding, the delimiter told by the header.
    exported = tmp_path / "export.csv"
    exported.write_bytes(
        (HEADER + "Ö-3,training,granted,2024-02-01T00:00:00Z,Köln\n").replace(",", ";").encode("cp1252")
    )
    refused = runner.invoke(app, ["privacy", "consent", "import", str(exported), *config])
    assert refused.exit_code != 0
    assert "UTF-8 text expected" in refused.output
    result = runner.invoke(app, ["privacy", "consent", "import", str(exported), "--encoding", "cp1252", *config])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["privacy", "consent", "show", "--subject", "Ö-3", *config])
    assert "Köln" in result.stdout
