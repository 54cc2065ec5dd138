"""A batch input's CSV header: read once, for its delimiter and its column names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops.errors import DatasetError
from serving.batch.inputs import BatchInput, open_input, read_columns


def test_the_header_line_is_read_once_for_the_delimiter_and_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.csv"
    path.write_text('"Credit Amount";"emp.var.rate";Größe\r\n1200;1,1;180\r\n', encoding="utf-8-sig")
    opened: list[str] = []
    real = BatchInput.open_stream

    def counting(self: BatchInput, file: str) -> Any:
        opened.append(file)
        return real(self, file)

    monkeypatch.setattr(BatchInput, "open_stream", counting)
    source = open_input(path)
    assert read_columns(source).names == ["Credit Amount", "emp.var.rate", "Größe"]
    assert source.delimiter == ";"
    assert len(opened) == 1  # one read (one request for an object in a store)


def test_a_header_that_is_not_utf8_is_named_with_its_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Größe,income\n180,1200\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1.csv is not UTF-8 text .*save it as UTF-8"):
        read_columns(open_input(path))
