"""Reading a topic's CSV file: rows keyed by id, and the records that cannot be sent, with their line.

One bad record never stops a file. A record with the wrong number of fields, an empty id, a field
longer than ``csv.field_size_limit()`` or bytes that are not UTF-8 becomes a :class:`Rejected`
naming its exact line, and reading goes on with the next record. Each line is decoded on its own,
so a byte that is not UTF-8 is reported on the line that holds it, and the lines around it are
read as usual. Only a file that cannot be read at all raises :class:`SourceError`: not there, not
a regular file, no usable header, or a read error (after the records before it were yielded).
"""

from __future__ import annotations

import csv
import errno
import os
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deltastream.errors import SourceError
from deltastream.logs import counted, typos_of

#: Header text shown in a message at most.
SHOWN_CHARS = 80
BOMS_UTF16 = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: the lines it spans, its id and its fields as strings."""

    line: int
    key: str
    values: dict[str, str]
    last: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A CSV record that cannot be published, and why. ``line`` is where the problem is (the
    record's first line, or the line of a byte that is not UTF-8); ``last`` is the record's last."""

    path: Path
    line: int
    reason: str
    last: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def csv_path(raw_path: Path, topic: str) -> Path:
    return raw_path / f"{topic}.csv"


def file_name(raw_path: Path | str, topic: str) -> str:
    """What messages call ``topic``'s file: its path, or its URI when raw_path is on S3."""
    return str(csv_path(raw_path, topic)) if isinstance(raw_path, Path) else f"{raw_path}/{topic}.csv"


def problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a CSV file, in a few words; ``None`` for a regular file
    (or a symbolic link to one)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"a symbolic link to nothing ({os.readlink(path)})"
        if not path.parent.is_dir():
            return f"file not found (the directory {path.parent} does not exist)"
        return "file not found" + _close_names(path)
    except OSError as exc:
        return _os_problem(exc)
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ]
    what = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"{what}, not a CSV file"


def _close_names(path: Path) -> str:
    """The CSV files beside ``path`` whose names are close to its own (a topic misspelled in
    [general] topics, or a file misnamed), as the end of a message."""
    try:
        names = sorted(p.name for p in path.parent.glob("*.csv"))
    except OSError:
        return ""
    close = [f"{name}.csv" for name in typos_of(path.stem, [Path(n).stem for n in names])]
    return f"; there is {', '.join(close)} (is the topic misspelled in [general] topics?)" if close else ""


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop, not a CSV file"
    if exc.errno == errno.ENOTDIR:
        return "not found: a part of its path is a file, not a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    if exc.errno == errno.ENOENT:
        return "file not found"
    return f"cannot be read ({exc.strerror or exc})"


def count_lines(path: Path) -> int:
    """Physical lines in ``path``: a cheap upper bound of its records, for progress bars."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


class Lines:
    """The physical lines of a file read as bytes, each decoded on its own and numbered.

    A line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as in a file opened with
    ``newline=''``. A line that is not UTF-8 is decoded with replacement characters, so that
    the CSV parser still finds the record's end, and noted in :attr:`bad`. The lines of the
    record being read are kept in :attr:`record`, so that a bad one can be skipped to its end.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._raw = iter(handle)
        self._split: list[bytes] = []
        self.number = 0
        self.first = 1
        self.record: list[str] = []
        #: The first line of the record that is not UTF-8, and why.
        self.bad: tuple[int, str] | None = None
        #: The end of the file was reached while reading the record.
        self.ended = False

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        raw = self._next_raw()
        self.number += 1
        try:
            text = raw.decode("utf-8-sig" if self.number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            if self.bad is None:
                self.bad = (self.number, _not_utf8(raw, exc, self.number == 1))
            text = raw.decode("utf-8", "replace")
        self.record.append(text)
        return text

    def _next_raw(self) -> bytes:
        if self._split:
            return self._split.pop()
        try:
            raw = next(self._raw)
        except StopIteration:
            self.ended = True
            raise
        cr = raw.find(b"\r")
        if cr != -1 and cr != len(raw) - 2:  # a lone \r ends a line too (not only the \r of \r\n)
            parts = raw.splitlines(keepends=True)
            raw, self._split = parts[0], parts[:0:-1]
        return raw

    def next_record(self) -> None:
        """Start a new record: forget the lines of the last one."""
        self.record.clear()
        self.first = self.number + 1
        self.bad = None

    def skip_record(self) -> None:
        """Read on to the end of a record the CSV parser gave up on (inside a quoted field, the
        record goes on until the quote closes)."""
        quoted = inside_quotes(self.record)
        while quoted:
            try:
                line = next(self)
            except StopIteration:
                return
            quoted = _line_inside_quotes(line, quoted=True)


def _not_utf8(raw: bytes, exc: UnicodeDecodeError, first: bool) -> str:
    if first and raw.startswith(BOMS_UTF16):
        return "not UTF-8 but UTF-16 (it starts with a UTF-16 byte-order mark); save the file as UTF-8"
    column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
    return f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {column}; save the file as UTF-8"


def inside_quotes(lines: list[str]) -> bool:
    """Whether a record made of ``lines`` ends inside a quoted field (CSV as Excel writes it)."""
    quoted = False
    for line in lines:
        quoted = _line_inside_quotes(line, quoted)
    return quoted


def _line_inside_quotes(line: str, quoted: bool) -> bool:
    """Whether a quoted field is still open after ``line``, given whether one was open before it.

    A quote opens a field only at the field's start; inside one, ``""`` is a quote and ``"``
    closes it, as the csv module reads it.
    """
    at_start = not quoted
    i, end = 0, len(line)
    while i < end:
        if quoted:
            j = line.find('"', i)
            if j < 0:
                return True
            if line.startswith('"', j + 1):
                i = j + 2
                continue
            quoted, at_start, i = False, False, j + 1
        elif at_start and line[i] == '"':
            quoted, i = True, i + 1
        else:
            j = line.find(",", i)
            if j < 0:
                return False
            at_start, i = True, j + 1
    return quoted


def read_rows(path: Path, id_column: str = "id") -> Generator[Row | Rejected, None, None]:
    """Yield each record of a UTF-8 CSV file (BOM, CRLF and quoted fields welcome).

    Raises :class:`SourceError` for a file that cannot be read at all: missing, not a regular
    file, no header, a header without ``id_column`` or with a repeated column, or a read error
    (then after yielding the records before it).
    """
    reason = problem(path)
    if reason is not None:
        raise SourceError(str(path), reason)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceError(str(path), _os_problem(exc)) from None
    with handle:
        lines = Lines(handle)
        try:
            yield from _records(path, lines, id_column)
        except OSError as exc:
            raise SourceError(
                str(path),
                f"read error at line {lines.number + 1} ({exc.strerror or exc})",
            ) from None


def _records(path: Path, lines: Lines, id_column: str) -> Iterator[Row | Rejected]:
    reader = csv.reader(lines)
    header = _header(path, lines, reader, id_column)
    id_index = header.index(id_column)
    width = len(header)
    while True:
        lines.next_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first = lines.first
            lines.skip_record()
            span = f" (the record's lines {first} to {lines.number})" if lines.number > first else ""
            yield Rejected(path, first, _csv_problem(exc) + span, lines.number)
            reader = csv.reader(lines)
            continue
        first, last = lines.first, lines.number
        if lines.bad is not None:
            line, why = lines.bad
            yield Rejected(path, line, why, last)
        elif lines.ended and inside_quotes(lines.record):
            yield Rejected(
                path,
                first,
                f"a quote that is never closed: the record runs to the end of the file (line {last})",
                last,
            )
        elif not fields:
            continue  # a blank line is not a record
        elif len(fields) != width:
            yield Rejected(path, first, f"expected {counted(width, 'field')}, got {len(fields)}", last)
        elif not fields[id_index].strip():
            yield Rejected(path, first, f"empty {id_column!r}", last)
        else:
            yield Row(first, fields[id_index], dict(zip(header, fields, strict=True)), last)


def _header(path: Path, lines: Lines, reader: Iterator[list[str]], id_column: str) -> list[str]:
    try:
        fields = next(reader, None)
    except csv.Error as exc:
        raise SourceError(str(path), f"line 1: header: {_csv_problem(exc)}") from None
    if lines.bad is not None:
        line, why = lines.bad
        raise SourceError(str(path), f"line {line}: header: {why}")
    if fields is None:
        raise SourceError(str(path), "empty file: expected a header line")
    header = [name.strip() for name in fields]
    if id_column not in header:
        shown = ",".join(header)
        if len(shown) > SHOWN_CHARS:
            shown = shown[: SHOWN_CHARS - 3] + "..."
        raise SourceError(str(path), f"header has no {id_column!r} column: {shown!r}")
    seen: set[str] = set()
    for name in header:
        if not name:
            raise SourceError(str(path), "header has an empty column name")
        if name in seen:
            raise SourceError(str(path), f"header repeats the column {name!r}")
        seen.add(name)
    return header


def _csv_problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a field longer than {csv.field_size_limit():,} characters (csv.field_size_limit)"
    return f"not CSV ({exc})"
