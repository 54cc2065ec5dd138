"""How a CSV file is written: its field delimiter (told from its header line), how a dataset's
files write values (:class:`CsvFormat`), and what a file that cannot be decoded is told. Shared
by every room that reads one (training datasets, batch inputs, erasure of dataset files).

Files exported by spreadsheets and databases in many locales separate fields with ``;`` (a
comma is their decimal mark), tab or ``|``. Read with a comma, such a file is one column named
after the whole header line, and nothing downstream can name what is wrong. The header decides:
of the delimiters below, the one that splits it into the most fields (quoted names respected)
is the file's; a header no candidate splits (one column) is read with a comma.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

# How much of a file is decoded at a time to find an undecodable byte.
_BLOCK = 1 << 20
# At most this many characters of a file's first line are read (its header: the delimiter and
# the column names); a longer line is cut there.
HEADER_CHARS = 1 << 20
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


def codec_name(encoding: str) -> str:
    """``encoding``'s canonical codec name (``UTF8`` and ``utf_8`` are ``utf-8``, ``latin-1`` is
    ``iso8859-1``): one spelling for every reader. Raises LookupError for an unknown one, or
    one that does not turn bytes into text (``base64``, ``zlib``)."""
    name = codecs.lookup(encoding).name
    "a".encode(name)  # refuses codecs that are not text encodings (bytes to bytes, text to text)
    return name


def header_codec(encoding: str) -> str:
    """The codec a file's first line is decoded with: UTF-8 without the byte-order mark
    spreadsheets write first (else the first column's name starts with U+FEFF and matches nothing)."""
    return "utf-8-sig" if codec_name(encoding) == "utf-8" else encoding


def first_line(stream: BinaryIO, encoding: str) -> str:
    """The first line of a CSV (at most :data:`HEADER_CHARS`) written in ``encoding``, decoded
    as :func:`header_codec` says, and nothing after it. Raises UnicodeDecodeError."""
    text = io.TextIOWrapper(stream, encoding=header_codec(encoding), newline="")
    try:
        return text.readline(HEADER_CHARS)
    finally:
        text.detach()  # the stream is the caller's to close


@dataclass(frozen=True)
class CsvFormat:
    """How a dataset's CSV files write values, beyond the delimiter each file's header tells:
    declared in its config (``na_values``, ``encoding``, ``decimal``), kept in its lineage (the
    roles), and applied to every file read for its models (batch inputs, by either engine), so a
    file written like the training data reads alike."""

    # Placeholders read as missing besides each reader's own null tokens ("?", "-").
    na_values: tuple[str, ...] = ()
    # The text encoding, a canonical codec name (:func:`codec_name`).
    encoding: str = "utf-8"
    # The decimal mark of numbers: "." or "," (1,5 in most of Europe's spreadsheets).
    decimal: str = "."

    @classmethod
    def of_roles(cls, roles: Mapping[str, Any]) -> CsvFormat:
        """The format a lineage's roles record (a version registered before ``encoding`` and
        ``decimal`` were recorded reads as UTF-8 with decimal points, as it was trained)."""
        return cls(
            na_values=tuple(str(v) for v in roles.get("na_values") or ()),
            encoding=codec_name(str(roles.get("encoding") or "utf-8")),
            decimal=str(roles.get("decimal") or "."),
        )


# A CSV as every reader takes one by default: UTF-8, decimal points, their own null tokens only.
PLAIN_CSV = CsvFormat()


def shown_encoding(encoding: str) -> str:
    """An encoding as a message names it (``UTF-8``, ``cp1252``)."""
    return "UTF-8" if codec_name(encoding) == "utf-8" else encoding


def undecodable_at(stream: BinaryIO, encoding: str) -> tuple[int, int | None] | None:
    """Where ``encoding`` first fails to decode ``stream``: the byte offset and, for an encoding
    that writes a newline as one byte, the line (from 1); None when it decodes it all.

    A parser's UnicodeDecodeError counts from the start of whatever block it was decoding, not
    of the file: this reads the file once more, on the error path only, to say where.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    counts_lines = "\n".encode(encoding) == b"\n"
    offset, line = 0, 1
    while block := stream.read(_BLOCK):
        carried = decoder.getstate()[0]  # bytes of a character begun in the previous block
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = offset - len(carried) + exc.start
            before = (carried + block)[: exc.start].count(b"\n") - carried.count(b"\n")
            return at, line + before if counts_lines else None
        offset += len(block)
        line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset - len(decoder.getstate()[0]), line if counts_lines else None
    return None


def not_in_dataset_encoding(encoding: str, at: tuple[int, int | None] | None) -> str:
    """What a file read for a model (a batch input, drift's current rows) is told when the
    encoding of the model's dataset does not decode it, and what to do."""
    return (
        f"is {undecodable(encoding, at)}: save it as {shown_encoding(encoding)}, the encoding of the model's "
        "dataset (its `encoding:` key)"
    )


def name_the_encoding(setting: str) -> str:
    """What to do about a file its declared encoding does not decode; ``setting`` is how the
    reader is told an encoding (``--encoding``, ``encoding:``)."""
    return (
        f'name the encoding it was saved in (`{setting} cp1252` is what Windows spreadsheets save as "CSV") '
        "or save it as UTF-8"
    )


def undecodable(encoding: str, at: tuple[int, int | None] | None) -> str:
    """What is wrong with a CSV file that its encoding does not decode: which encoding, and where
    (:func:`undecodable_at`) when known."""
    where = "a byte it does not decode"
    if at is not None:
        offset, line = at
        where = f"undecodable byte at offset {offset}" + (f", line {line}" if line is not None else "")
    return f"not {shown_encoding(encoding)} text ({where})"


__all__ = [
    "DELIMITERS",
    "HEADER_CHARS",
    "PLAIN_CSV",
    "CsvFormat",
    "codec_name",
    "delimiter_of",
    "first_line",
    "header_codec",
    "name_the_encoding",
    "not_in_dataset_encoding",
    "shown_encoding",
    "undecodable",
    "undecodable_at",
]
