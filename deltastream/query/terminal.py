"""Tables for a person at a terminal (rich): numbers right-aligned with thousands separators, ids
and versions as they are, times as query.py shows them, no type row, and the rows not shown
counted in a last line. Used only when stdout is a terminal and ``NO_COLOR`` is not set; anywhere
else query.py writes the same plain table as before, byte for byte (:mod:`deltastream.query.render`).
"""

from __future__ import annotations

import os
import shutil
import sys
from decimal import Decimal
from typing import Any

import polars as pl

#: Columns whose numbers name something (shown without separators): an id, a version, a partition.
NAMING = ("id", "version", "partition", "offset")


def wanted() -> bool:
    """Whether stdout is a person's terminal that takes colour."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def shown(value: Any, naming: bool) -> str:
    """One value as text: numbers with thousands separators (unless ``naming``), decimals at
    their scale, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal) and not naming:
        return f"{value:,}"
    if isinstance(value, float) and not naming:
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:g}"
    return str(value)


def names_something(name: str) -> bool:
    lowered = name.lower()
    return lowered in NAMING or lowered.endswith(tuple(f"_{n}" for n in NAMING))


def table(frame: pl.DataFrame, header: str | None, rows: int) -> str:
    """``frame`` (times already as text) as a rich table of its first ``rows`` rows (all for -1)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # values as text: a '[b]' in a value is not markup

    width = shutil.get_terminal_size((120, 24)).columns
    if (
        frame.height == 1
        and sum(len(n) + 3 for n in frame.columns)
        + sum(len(shown(v, names_something(n))) for n, v in frame.row(0, named=True).items())
        > width
    ):  # one row too wide for the terminal (overall): a line per column
        frame = pl.DataFrame(
            {
                "": frame.columns,
                "value": [shown(v, names_something(n)) for n, v in frame.row(0, named=True).items()],
            }
        )
    numeric = {n for n, t in frame.schema.items() if t.is_numeric()}
    whole = {n for n, t in frame.schema.items() if t.is_numeric() or t.is_temporal()}
    shown_rows = frame if rows < 0 else frame.head(rows)
    naming = [names_something(n) for n in frame.columns]
    cells = [[shown(v, n) for v, n in zip(record, naming, strict=True)] for record in shown_rows.iter_rows()]
    grid = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False)
    for i, name in enumerate(frame.columns):
        # A number, a date or a column's name is never cut in two: text folds first.
        widest = max([len(name), *(len(row[i]) for row in cells)]) if name in whole else len(name)
        grid.add_column(
            Text(name),
            justify="right" if name in numeric else "left",
            overflow="fold",
            no_wrap=name in whole,
            min_width=widest,
        )
    for row in cells:
        grid.add_row(*(Text(cell) for cell in row))
    console = Console(width=width, force_terminal=True, highlight=False)
    with console.capture() as captured:
        if header:
            console.print(header, style="bold", markup=False)
        console.print(grid)
        left = frame.height - shown_rows.height
        if left > 0:
            console.print(
                f"… {left:,} more row{'s' if left != 1 else ''} (--rows N shows more, --rows -1 all)",
                style="dim",
                markup=False,
            )
    return captured.get()
