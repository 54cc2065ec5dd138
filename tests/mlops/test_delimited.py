"""How a CSV is written: its delimiter, told from its header line, its encoding and decimal mark."""

from __future__ import annotations

import io

import pytest

from mlops import delimited
from mlops.delimited import (
    PLAIN_CSV,
    CsvFormat,
    codec_name,
    delimiter_of,
    first_line,
    header_codec,
    undecodable,
    undecodable_at,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("age,job,y\n", ","),
        ('"age";"job";"y"\r\n', ";"),
        ("age\tjob\ty", "\t"),
        ("age|job|y", "|"),
        # A quoted name holding another candidate does not split it.
        ('"balance, eur";"job";"y"', ";"),
        ('"a;b",c', ","),
        # The candidate splitting the header into the most fields wins.
        ("a,b;c;d", ";"),
        # One column, or nothing: a comma (the default) reads it alike.
        ("target", ","),
        ("", ","),
    ],
)
def test_the_delimiter_is_the_one_splitting_the_header_into_the_most_fields(header: str, expected: str) -> None:
    assert delimiter_of(header) == expected


def test_a_file_its_encoding_does_not_decode_is_told_where_and_which_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = ("a;b\n" + "x;1\n" * 5 + "Größe;2\n").encode("cp1252")
    at = (data.index("ö".encode("cp1252")), 7)
    assert undecodable_at(io.BytesIO(data), "utf-8") == at
    assert undecodable_at(io.BytesIO(data), "cp1252") is None
    monkeypatch.setattr(delimited, "_BLOCK", 3)  # a file read in blocks: counted from its start
    assert undecodable_at(io.BytesIO(data), "utf-8") == at
    truncated = "a\nö".encode()[:-1]  # a character cut short by the end of the file
    assert undecodable_at(io.BytesIO(truncated), "utf-8") == (2, 2)
    assert undecodable_at(io.BytesIO("a\nb".encode("utf-16") + b"\x00"), "utf-16") == (8, None)  # no line count
    assert undecodable("UTF8", at) == f"not UTF-8 text (undecodable byte at offset {at[0]}, line 7)"
    assert undecodable("cp1252", (3, None)) == "not cp1252 text (undecodable byte at offset 3)"
    assert undecodable("utf-8", None) == "not UTF-8 text (a byte it does not decode)"


@pytest.mark.parametrize(
    ("given", "name"),
    [("UTF8", "utf-8"), ("utf_8", "utf-8"), ("latin-1", "iso8859-1"), ("Windows-1252", "cp1252"), ("utf-16", "utf-16")],
)
def test_encodings_have_one_spelling(given: str, name: str) -> None:
    assert codec_name(given) == name


@pytest.mark.parametrize("codec", ["base64", "zlib", "rot13", "hex", "no-such-codec"])
def test_codecs_that_do_not_decode_bytes_to_text_are_refused(codec: str) -> None:
    with pytest.raises(LookupError):
        codec_name(codec)


def test_a_utf8_header_is_read_without_its_byte_order_mark() -> None:
    assert header_codec("UTF-8") == "utf-8-sig"
    assert header_codec("cp1252") == "cp1252"


def test_the_first_line_is_read_alone_decoded_as_the_file_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.BytesIO("\ufeffStadt;Betrag\r\nKöln;1,5\r\n".encode())
    assert first_line(stream, "utf-8") == "Stadt;Betrag\r\n"
    assert not stream.closed  # the caller's stream, to read on or close
    assert first_line(io.BytesIO("Straße;Betrag\nKöln;1,5\n".encode("cp1252")), "cp1252") == "Straße;Betrag\n"
    with pytest.raises(UnicodeDecodeError):
        first_line(io.BytesIO("Straße;Betrag\n".encode("cp1252")), "utf-8")
    monkeypatch.setattr(delimited, "HEADER_CHARS", 8)
    assert first_line(io.BytesIO(b"a;b;c;d;e;f;g;h\n1;2\n"), "utf-8") == "a;b;c;d;"  # a runaway line is cut


def test_the_csv_format_of_a_lineage_and_of_an_older_one() -> None:
    roles = {"na_values": ["?", "-"], "encoding": "latin-1", "decimal": ","}
    assert CsvFormat.of_roles(roles) == CsvFormat(na_values=("?", "-"), encoding="iso8859-1", decimal=",")
    assert CsvFormat.of_roles({"features": ["a"]}) == PLAIN_CSV  # registered before they were recorded
    with pytest.raises(LookupError):
        CsvFormat.of_roles({"encoding": "no-such-codec"})
