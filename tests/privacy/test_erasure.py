"""Erasure, store by store: parquet, CSV, SQLite and text files, subject matching by id, keyed
hash and tombstone, one erasure at a time, readers never seeing half a file, and the backup
repository's tombstones (a restore without a way to apply them is refused)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest

from backup.environment import Tree
from privacy.anonymization import keyed_digest
from privacy.erasure import ERASED, ErasureScope, SubjectMatcher, erase
from privacy.erasure.files import erase_tree

KEY = "unit-test-hash-key"
LOCAL = pafs.LocalFileSystem()


def _frame(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "applicant_id": [f"APP-{i:04d}" for i in range(n)],
            "income": [float(i) for i in range(n)],
            "email": [f"person{i}@example.org" for i in range(n)],
        }
    )


def _scope(state: Path, **trees: list[Tree]) -> ErasureScope:
    return ErasureScope(state_dir=state, trees=trees, id_columns=frozenset({"applicant_id"}))


def test_parquet_rows_of_the_subject_go_and_everyone_else_stays(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_parquet(tmp_path / "copy", index=False)  # artifacts have no suffix: found by content
    hashed = frame.assign(applicant_id=frame["applicant_id"].map(lambda v: keyed_digest(v, KEY.encode())))
    hashed.to_parquet(tmp_path / "anonymised.parquet", index=False)
    scope = _scope(tmp_path / "state", files=[Tree(str(tmp_path))])

    dry = erase(scope, ["APP-0007"], hash_key=KEY, dry_run=True)
    assert dry.stores["files"].rows == 2
    assert len(pd.read_parquet(tmp_path / "copy")) == 50  # a dry run changes nothing

    receipt = erase(scope, ["APP-0007"], hash_key=KEY)
    assert receipt.stores["files"].rows == 2
    kept = pd.read_parquet(tmp_path / "copy")
    assert len(kept) == 49
    assert "APP-0007" not in set(kept["applicant_id"])
    assert kept.dtypes.to_dict() == frame.dtypes.to_dict()
    assert len(pd.read_parquet(tmp_path / "anonymised.parquet")) == 49
    assert not list(tmp_path.glob(".*.erasing"))


def test_csv_sqlite_and_text_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _frame().to_csv(data / "source.csv", index=False)
    db = data / "log.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE pairs (entity_id TEXT, score REAL)")
        conn.executemany("INSERT INTO pairs VALUES (?, ?)", [(f"APP-{i:04d}", i / 10) for i in range(200)])
    (data / "report.html").write_text("<td>APP-0003</td><td>APP-00030</td>", encoding="utf-8")

    receipt = erase(_scope(tmp_path / "state", files=[Tree(str(data))]), ["APP-0003"], hash_key=None)

    assert receipt.stores["files"].rows == 3
    source = pd.read_csv(data / "source.csv")
    assert len(source) == 49
    assert "APP-0003" not in set(source["applicant_id"])
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM pairs").fetchone()[0] == 199
    # Deleted rows are zeroed in the file, not left in its free pages.
    assert b"APP-0003" not in db.read_bytes().replace(b"APP-00030", b"")
    # A longer id that contains the subject's is another person: kept whole.
    assert (data / "report.html").read_text() == f"<td>{ERASED}</td><td>APP-00030</td>"


def test_unknown_subject_and_empty_ids(tmp_path: Path) -> None:
    _frame().to_parquet(tmp_path / "copy.parquet", index=False)
    scope = _scope(tmp_path / "state", files=[Tree(str(tmp_path))])
    receipt = erase(scope, ["NOBODY"], hash_key=KEY)
    assert receipt.rows == 0
    assert (tmp_path / "state" / "privacy" / "receipts" / f"{receipt.erasure_id}.json").exists()
    from mlops.errors import PrivacyError

    with pytest.raises(PrivacyError, match="no subject id"):
        erase(scope, ["  "], hash_key=KEY)


def test_tombstone_matcher_finds_by_digest_only(tmp_path: Path) -> None:
    from backup.tombstones import digest

    key = b"k" * 32
    matcher = SubjectMatcher.for_tombstones({digest("APP-0001", key)}, key)
    assert matcher.raw == frozenset()
    assert matcher.select(["APP-0000", "APP-0001"]) == {"APP-0001"}
    _frame().to_parquet(tmp_path / "copy.parquet", index=False)
    assert [h.rows for h in erase_tree(Tree(str(tmp_path)), matcher, {"applicant_id"}, dry_run=False)] == [1]


def test_a_reader_never_sees_half_a_file_and_erasures_queue(tmp_path: Path) -> None:
    path = tmp_path / "copy.parquet"
    _frame(5000).to_parquet(path, index=False)
    scope = _scope(tmp_path / "state", files=[Tree(str(tmp_path))])
    errors: list[BaseException] = []
    sizes: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                sizes.append(len(pd.read_parquet(path)))
            except BaseException as exc:  # a torn file would surface here
                errors.append(exc)

    def erase_some(start: int) -> None:
        for i in range(start, start + 10):
            erase(scope, [f"APP-{i:04d}"], hash_key=None)

    reader = threading.Thread(target=read)
    reader.start()
    workers = [threading.Thread(target=erase_some, args=(s,)) for s in (0, 100)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    reader.join()
    assert errors == []
    assert sizes
    assert min(sizes) >= 4980
    assert len(pd.read_parquet(path)) == 4980  # no erasure lost another's rows
    receipts = list((tmp_path / "state" / "privacy" / "receipts").glob("*.json"))
    assert len(receipts) == 20


def test_a_scope_used_as_a_context_closes_its_consent_store(tmp_path: Path) -> None:
    """The CLI builds a scope per erasure (and per restored backup): its consent store's
    connections are released when the block ends, not when the process does."""
    from privacy.config import ConsentConfig
    from privacy.consent import ConsentStore

    store = ConsentStore.open(ConsentConfig(), tmp_path, lambda ref: ref)
    assert store.subjects() == set()  # a connection used, back in the pool
    assert store.engine.pool.checkedin() == 1
    with ErasureScope(state_dir=tmp_path, trees={}, id_columns=frozenset({"applicant_id"}), consent=store) as scope:
        erase(scope, ["APP-1"], hash_key=None)
    assert store.engine.pool.checkedin() == 0


def test_a_semicolon_csv_loses_the_subjects_rows_and_keeps_its_delimiter(tmp_path: Path) -> None:
    """A dataset exported with ";" between fields and a byte-order mark: the subject's rows go,
    the file stays as it was written."""
    data = tmp_path / "data"
    data.mkdir()
    _frame().to_csv(data / "export.csv", index=False, sep=";", encoding="utf-8-sig")  # Excel's "CSV UTF-8"

    receipt = erase(_scope(tmp_path / "state", files=[Tree(str(data))]), ["APP-0003"], hash_key=None)

    assert receipt.stores["files"].rows == 1
    text = (data / "export.csv").read_text(encoding="utf-8")
    assert "APP-0003" not in text
    assert text.splitlines()[0] == "\ufeff" + ";".join(_frame().columns)
    kept = pd.read_csv(data / "export.csv", sep=";")
    assert len(kept) == len(_frame()) - 1


def test_files_in_a_windows_code_page_lose_the_subject_and_keep_every_other_byte(tmp_path: Path) -> None:
    """A dataset saved as a German spreadsheet's "CSV" (cp1252, as a dataset may declare) and a
    latin-1 log: the subject goes from both, every other byte stays as it was. A binary file that
    holds the id is not text and is left alone."""
    data = tmp_path / "data"
    data.mkdir()
    frame = _frame().assign(Stadt="Köln", Betrag="1,50 €")
    frame.to_csv(data / "kredite.csv", index=False, sep=";", encoding="cp1252")
    log = "Zahlung für APP-0003 über 12 € abgelehnt\nZahlung für APP-0004 angenommen\n"
    (data / "zahlungen.log").write_bytes(log.encode("latin-1", errors="replace"))
    blob = b"\x00\x01APP-0003\xff\xfe\x00"
    (data / "model.bin").write_bytes(blob)

    receipt = erase(_scope(tmp_path / "state", files=[Tree(str(data))]), ["APP-0003"], hash_key=None)

    assert receipt.stores["files"].rows == 2  # the CSV row and the log line's occurrence
    raw = (data / "kredite.csv").read_bytes()
    assert b"APP-0003" not in raw
    assert "Köln;1,50 €".encode("cp1252") in raw  # written back in its own code page
    kept = pd.read_csv(data / "kredite.csv", sep=";", encoding="cp1252")
    assert len(kept) == len(frame) - 1
    assert set(kept["Stadt"]) == {"Köln"}
    assert (data / "zahlungen.log").read_bytes() == log.replace("APP-0003", ERASED).encode("latin-1", errors="replace")
    assert (data / "model.bin").read_bytes() == blob
