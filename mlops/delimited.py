"""The field delimiter of a CSV file, told from its header line, and what a file that is not
UTF-8 text is told: shared by every room that reads one (training datasets, batch inputs,
erasure of dataset files).

Files exported by spreadsheets and databases in many locales separate fields with ``;`` (a
comma is their decimal mark), tab or ``|``. Read with a comma, such a file is one column named
after the whole header line, and nothing downstream can name what is wrong. The header decides:
of the delimiters below, the one that splits it into the most fields (quoted names respected)
is the file's; a header no candidate splits (one column) is read with a comma.
"""

from __future__ import annotations

import csv

# The delimiters a file may use, the default first: it wins a tie.
DELIMITERS = (",", ";", "\t", "|")


def delimiter_of(header: str) -> str:
    """The delimiter of a CSV whose first line is ``header``."""
    header = header.rstrip("\r\n")
    best, most = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        fields = len(next(csv.reader([header], delimiter=delimiter), []))
        if fields > most:
            best, most = delimiter, fields
    return best


def not_utf8(exc: UnicodeDecodeError) -> str:
    """What is wrong with a CSV file that is not UTF-8 text, and what to do (Windows spreadsheets
    save "CSV" in their code page)."""
    return f'not UTF-8 text (undecodable byte at offset {exc.start}): save it as UTF-8 (a spreadsheet\'s "CSV UTF-8")'


__all__ = ["DELIMITERS", "delimiter_of", "not_utf8"]
