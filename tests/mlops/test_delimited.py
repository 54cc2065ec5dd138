"""Telling a CSV's delimiter from its header line."""

from __future__ import annotations

import pytest

from mlops.delimited import delimiter_of, not_utf8


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


def test_a_file_that_is_not_utf8_is_told_where_and_what_to_do() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        "Größe".encode("cp1252").decode("utf-8")
    told = not_utf8(caught.value)
    assert told.startswith("not UTF-8 text (undecodable byte at offset 2)")
    assert "save it as UTF-8" in told
