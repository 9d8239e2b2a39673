"""A topic's CSV file read in one pass by Polars, when it provably reads as the exact reader does.

The exact reader (:mod:`deltastream.publish.source`) reads line by line, so that it can name the
line of every record it rejects. Most files hold nothing to reject and nothing that needs its care:
no quote (so no field spans lines and no comma sits inside a field), no carriage return but those of
CRLF line ends, no blank line and no NUL, every line UTF-8 with the header's number of fields, no
field longer than the csv module allows, and an id on every line that is not only white space. Such
a file, up to :data:`MAX_BYTES`, is read at once and its rows encoded as JSON in one pass: the same
keys, bytes and line numbers the exact reader and :class:`~deltastream.publish.encoders.JsonObjects`
give (tests/publish/test_bulk.py holds the two to each other). :func:`read` returns ``None`` for any
other file, which the exact reader then reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: The largest file read at once (it is held in memory about five times over while it is read).
MAX_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Encoded:
    """One CSV record on one line, its message value already encoded."""

    line: int
    key: str
    value: bytes

    @property
    def last(self) -> int:
        return self.line


@dataclass(frozen=True)
class Bulk:
    """A file's records, encoded: their keys and values in the file's order, the first on line 2."""

    keys: list[str]
    values: list[bytes]

    def __iter__(self) -> Iterator[Encoded]:
        numbered = zip(range(2, len(self.keys) + 2), self.keys, self.values, strict=True)
        return (Encoded(line, key, value) for line, key, value in numbered)


def read(path: Path, id_column: str = "id") -> Bulk | None:
    """The records of ``path`` with their values encoded, or ``None`` when the exact reader must
    read it (see the module's docstring)."""
    text = plain_text(path)
    lines = None if text is None else uniform_lines(text, id_column)
    frame = None if lines is None else parsed(lines, id_column)
    if frame is None:
        return None
    import polars as pl

    keys: list[str] = frame[id_column].to_list()
    if not all(key.strip() for key in keys):  # Python's idea of white space, as the exact reader's
        return None
    encoded = frame.select(pl.struct(pl.all()).struct.json_encode().cast(pl.Binary)).to_series()
    return Bulk(keys, encoded.to_list())


def plain_text(path: Path) -> str | None:
    """The file as text with ``\n`` line ends, if small enough, UTF-8, without a quote or a NUL,
    and without a carriage return but those of CRLF line ends."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError):
        return None
    if '"' in text or "\x00" in text:
        return None
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None
    return text.replace("\r\n", "\n")


def uniform_lines(text: str, id_column: str) -> list[str] | None:
    """The header and the records, one a line, if no line is blank, the header names
    ``id_column`` once among distinct names, and every record has the header's number of fields,
    none longer than the csv module allows."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or "" in lines:
        return None
    names = [name.strip() for name in lines[0].split(",")]
    if id_column not in names or "" in names or len(set(names)) != len(names):
        return None
    import polars as pl  # imported once a file may be read this way: ~150 MB of a process's memory

    body = pl.Series(lines[1:])
    if body.str.count_matches(",", literal=True).ne(len(names) - 1).any():
        return None
    if (body.str.len_chars().max() or 0) > csv.field_size_limit():  # type: ignore[operator]
        return None
    return lines


def parsed(lines: list[str], id_column: str) -> pl.DataFrame | None:
    """The records as text columns named by the header (names stripped, as the exact reader
    does)."""
    import polars as pl

    names = [name.strip() for name in lines[0].split(",")]
    frame = pl.read_csv(
        io.BytesIO("\n".join(lines[1:]).encode()),
        has_header=False,
        new_columns=names,
        infer_schema=False,
        quote_char=None,
        empty_string_is_null=False,
    )
    return frame if frame.height == len(lines) - 1 else None
