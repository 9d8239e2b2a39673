"""Writing what query.py shows: a table for people, or CSV, JSON, NDJSON and Parquet for programs.

Times are shown in one way everywhere: local time with its offset from UTC, to the millisecond
(``2026-11-21T15:02:03.123+05:30``, :func:`moment`), which ``--as-of`` reads back as it is. Parquet
keeps them typed (instants in UTC). A file gets every row; the terminal gets the first ``rows``.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

from deltastream.errors import OutputError, PipelineError, one_line
from deltastream.query import terminal
from deltastream.query.asof import moment
from deltastream.query.formats import FORMATS

#: Rows shown on the terminal in table format unless --rows says otherwise; a file gets them all.
SCREEN_ROWS = 20


def local_times(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column of instants (a Datetime with a zone) as :func:`moment` text."""
    zoned = [
        name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone
    ]
    return frame.with_columns(
        pl.Series(name, [None if v is None else moment(v) for v in frame[name].to_list()], pl.String)
        for name in zoned
    )


def table_text(frame: pl.DataFrame, header: str | None = None, rows: int | None = None) -> str:
    """The frame as Polars prints it, every column shown, with an optional header line."""
    with pl.Config(tbl_cols=-1, tbl_rows=rows if rows is not None else SCREEN_ROWS, tbl_width_chars=250):
        text = str(local_times(frame))
    return f"{header}\n{text}" if header else text


def to_person(output: Path | None) -> bool:
    """Whether a table goes to a person's terminal (stdout, a terminal, no ``NO_COLOR``)."""
    return output is None and terminal.wanted()


def text(
    frame: pl.DataFrame, fmt: str, header: str | None = None, rows: int | None = None, person: bool = False
) -> str:
    """``frame`` in a text format (every format but Parquet); for a ``person`` at a terminal, the
    table format is :mod:`deltastream.query.terminal`'s."""
    if fmt == "table" and person:
        return terminal.table(local_times(frame), header, rows if rows is not None else SCREEN_ROWS)
    if fmt == "table":
        return table_text(frame, header, rows) + "\n"
    shown = local_times(frame)
    if fmt == "csv":
        return shown.write_csv()
    if fmt == "json":
        return shown.write_json() + "\n"
    if fmt == "ndjson":
        return shown.write_ndjson()
    raise PipelineError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


def write(
    frame: pl.DataFrame,
    fmt: str,
    output: Path | None = None,
    header: str | None = None,
    rows: int | None = None,
) -> None:
    """Write ``frame`` in ``fmt`` to ``output`` (a file) or to stdout.

    ``rows``: rows shown in table format; ``None``: :data:`SCREEN_ROWS` on the terminal, all in a file.
    """
    if fmt == "parquet":
        if output is None:
            raise PipelineError("--format parquet needs --output FILE")
        save(output, frame.write_parquet)
        return
    if rows is None and output is not None:
        rows = -1
    write_text(text(frame, fmt, header, rows, to_person(output)), output)


def write_text(content: str, output: Path | None = None) -> None:
    """``content`` to ``output`` (a file) or to stdout."""
    if output is None:
        sys.stdout.write(content)
        return

    def put(path: Path) -> None:
        with path.open("w", encoding="utf-8") as handle:
            handle.write(content)

    save(output, put)


def check_output(path: Path, flag: str = "--output") -> None:
    """Fail before any table is read when ``path`` cannot be written (see :class:`OutputError`)."""
    name = str(path)
    if os.path.isdir(path):
        raise OutputError(name, "is a folder", f"give a file name, e.g. {path / 'report.csv'}", flag)
    parent = path.parent
    if not os.path.exists(parent):
        raise OutputError(
            name, f"the folder {parent} does not exist", "create it first, or choose another path", flag
        )
    if not os.path.isdir(parent):
        raise OutputError(name, f"{parent} is not a folder", "choose another path", flag)
    exists = os.path.exists(path)
    if not os.access(path if exists else parent, os.W_OK if exists else os.W_OK | os.X_OK):
        raise OutputError(name, "permission denied", "choose a path you can write to", flag)


#: What to do about a write that failed, by errno.
FIXES = {
    errno.ENOSPC: "free some space, or choose another path",
    errno.EDQUOT: "free some space, or choose another path",
    errno.EACCES: "choose a path you can write to",
    errno.EPERM: "choose a path you can write to",
    errno.EROFS: "choose a path you can write to",
}


def save(output: Path, put: Callable[[Path], object]) -> None:
    """Run ``put(output)``; a failure becomes an :class:`OutputError` saying why."""
    try:
        put(output)
    except (OSError, pl.exceptions.PolarsError) as exc:
        code = exc.errno if isinstance(exc, OSError) else None
        found = re.search(r"os error (\d+)", str(exc))
        if code is None and found:
            code = int(found.group(1))
        reason = os.strerror(code) if code else one_line(exc)
        fix = FIXES.get(code or 0, "choose another path")
        raise OutputError(str(output), f"cannot write it ({reason})", fix) from exc
