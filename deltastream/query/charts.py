"""Pictures of the sales: totals by department and by region as bars at the terminal
(``--summary``), and in a PNG or SVG file (``--chart FILE``) with the sales of each day too.

The file is drawn by matplotlib (``pip install matplotlib``; imported only for ``--chart``). Each
bar carries an id naming what it counts (``department:Finance``, ``region:North``,
``day:2024-11-09``), which an SVG keeps, so a program can find it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from deltastream.errors import PipelineError
from deltastream.query.summary import by_window

#: The widest bar at the terminal, in characters.
BAR_WIDTH = 40


def bars(parts: Mapping[str, pl.DataFrame]) -> str:
    """Totals by department and by region as bars of text, for a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    columns = shutil.get_terminal_size((120, 24)).columns
    console = Console(width=columns, force_terminal=True, highlight=False)
    with console.capture() as captured:
        for part, label in (("by_department", "department"), ("by_region", "region")):
            frame = parts[part]
            names = [str(v) for v in frame[label].to_list()]
            totals = [Decimal(v or 0) for v in frame["total"].to_list()]
            top = max(totals, default=Decimal(0)) or Decimal(1)
            # The bars get what the names and the totals leave of the terminal's width.
            beside = max(map(len, names), default=0) + max((len(f"{t:,}") for t in totals), default=0)
            longest = max(1, min(BAR_WIDTH, columns - beside - 8))
            grid = Table(title=f"total by {label}", title_justify="left", box=None, show_header=False)
            grid.add_column(label)
            grid.add_column("bar")
            grid.add_column("total", justify="right")
            for name, total in zip(names, totals, strict=True):
                width = round(longest * max(total, Decimal(0)) / top)
                grid.add_row(Text(name), "█" * width or "▏", f"{total:,}")
            console.print(grid)
    return captured.get()


def drawing() -> Any:
    """matplotlib's pyplot, drawing into files; one line naming the package when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise PipelineError(
            "--chart draws with matplotlib, which is not installed here: pip install matplotlib"
        ) from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def save(
    path: Path, parts: Mapping[str, pl.DataFrame], report: pl.DataFrame, title: str, window: str | None = None
) -> None:
    """Draw the totals by department and by region and the sales per ``window`` (a day unless
    given) into ``path``."""
    pyplot = drawing()

    window = window or "day"
    days = parts.get(f"by_{window}")
    days = by_window(report, window) if days is None else days
    figure, (by_department, by_region, by_day) = pyplot.subplots(3, 1, figsize=(9, 11), layout="constrained")
    try:
        figure.suptitle(title)
        for axes, part, label in (
            (by_department, "by_department", "department"),
            (by_region, "by_region", "region"),
        ):
            frame = parts[part]
            _bars(axes, label, [str(v) for v in frame[label].to_list()], frame["total"].to_list())
            axes.set_title(f"total by {label}")
        _bars(by_day, window, [str(d) for d in days[window].to_list()], days["total"].to_list())
        by_day.set_title(f"total by {window}")
        by_day.tick_params(axis="x", labelrotation=45)
        # Whole or not at all: a viewer showing the file (--watch draws it again) never sees half.
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        figure.savefig(partial, format=path.suffix.lower().lstrip("."))
        partial.replace(path)
    finally:
        pyplot.close(figure)


#: The most bars of a panel named under it.
MOST_LABELS = 24


def _bars(axes: object, kind: str, names: Sequence[str], totals: Sequence[object]) -> None:
    values = [float(Decimal(str(v))) if v is not None else 0.0 for v in totals]
    drawn = axes.bar(names, values)  # type: ignore[attr-defined]
    for name, rectangle in zip(names, drawn, strict=True):
        rectangle.set_gid(f"{kind}:{name}")
    if len(names) > MOST_LABELS:  # a year of days: every n-th one named, so that they can be read
        every = -(-len(names) // MOST_LABELS)
        axes.set_xticks(range(0, len(names), every), names[::every])  # type: ignore[attr-defined]
    axes.set_ylabel("sales")  # type: ignore[attr-defined]
