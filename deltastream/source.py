"""Reading a topic's CSV file: rows keyed by id, and the rows that cannot be sent, with their line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

from deltastream.errors import SourceError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: the line it ends on, its id and its fields as strings."""

    line: int
    key: str
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A CSV record that cannot be published, and why."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def csv_path(raw_path: Path, topic: str) -> Path:
    return raw_path / f"{topic}.csv"


def count_lines(path: Path) -> int:
    """Physical lines in ``path``: a cheap upper bound of its records, for progress bars."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def read_rows(path: Path, id_column: str = "id") -> Iterator[Row | Rejected]:
    """Yield each record of a UTF-8 CSV file (BOM, CRLF and quoted fields welcome).

    Raises :class:`SourceError` for a file that cannot be read at all: missing, not UTF-8, no
    header, or a header without ``id_column`` or with a repeated column.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise SourceError(str(path), "file not found") from None
    except OSError as exc:
        raise SourceError(str(path), f"cannot open ({exc.strerror})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise SourceError(str(path), "empty file: expected a header line")
            header = [name.strip() for name in header]
            _check_header(path, header, id_column)
            id_index = header.index(id_column)
            width = len(header)
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue  # a blank line is not a record
                if len(fields) != width:
                    yield Rejected(path, line, f"expected {width} fields, got {len(fields)}")
                elif not fields[id_index].strip():
                    yield Rejected(path, line, f"empty {id_column!r}")
                else:
                    yield Row(line, fields[id_index], dict(zip(header, fields, strict=True)))
        except UnicodeDecodeError as exc:
            raise SourceError(
                str(path), f"not UTF-8 near line {reader.line_num + 1} ({exc.reason})"
            ) from None
        except csv.Error as exc:
            raise SourceError(str(path), f"line {reader.line_num}: {exc}") from None


def _check_header(path: Path, header: list[str], id_column: str) -> None:
    if id_column not in header:
        raise SourceError(str(path), f"header has no {id_column!r} column: {','.join(header)}")
    seen: set[str] = set()
    for name in header:
        if not name:
            raise SourceError(str(path), "header has an empty column name")
        if name in seen:
            raise SourceError(str(path), f"header repeats the column {name!r}")
        seen.add(name)


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items; the last one may be shorter."""
    if size < 1:
        raise ValueError("size must be at least 1")
    while batch := list(islice(items, size)):
        yield batch
