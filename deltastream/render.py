"""Writing a report: a table for people, or CSV, JSON, NDJSON and Parquet for programs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import polars as pl

from deltastream.errors import PipelineError

FORMATS = ("table", "csv", "json", "ndjson", "parquet")


def table_text(frame: pl.DataFrame, header: str | None = None, rows: int | None = None) -> str:
    """The frame as Polars prints it, every column shown, with an optional header line."""
    with pl.Config(tbl_cols=-1, tbl_rows=rows if rows is not None else 20, tbl_width_chars=250):
        text = str(frame)
    return f"{header}\n{text}" if header else text


def write(
    frame: pl.DataFrame,
    fmt: str,
    output: Path | None = None,
    header: str | None = None,
    rows: int | None = None,
    out: TextIO | None = None,
) -> None:
    """Write ``frame`` in ``fmt`` to ``output`` (a file) or to ``out`` (stdout by default)."""
    out = out or sys.stdout
    if fmt == "parquet":
        if output is None:
            raise PipelineError("--format parquet needs --output FILE")
        frame.write_parquet(output)
        return
    if fmt == "table":
        text = table_text(frame, header, rows) + "\n"
    elif fmt == "csv":
        text = frame.write_csv()
    elif fmt == "json":
        text = frame.write_json() + "\n"
    elif fmt == "ndjson":
        text = frame.write_ndjson()
    else:
        raise PipelineError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
