#!/usr/bin/env python3
"""Join the Delta tables into the article's typed sales report and print it.

Reads client, department, employee and sale from <delta_path>, types them (Int64 ids, Date dates,
Decimal(38,2) amounts), joins them and sorts by id. Left out with a warning on stderr (or failing,
with --strict): rows that cannot be typed, sales whose employee or client is unknown, and every
row of an id written in more than one way ("7", "07", " 7"), so that no id has two rows.

examples:
  python query.py
  python query.py --format csv --output report.csv
  python query.py --watch                       # re-render whenever a table changes
  python query.py --history                     # every commit of every table, with its time
  python query.py --as-of 2026-11-21T09:30      # the report as it was then (local time)
  python query.py --as-of 2026-11-21T09:30:00.123+05:30   # a time copied from --history
  python query.py --summary --format json       # totals by department and region, and counts
  python query.py --summary --chart sales.png   # and the same totals, and sales per day, drawn
  python query.py --summary --window week       # and the sales of each week
  python query.py --watch --summary --window day   # kept current from the rows each version changed
  python query.py --watch --summary --chart sales.svg   # and the chart drawn again at each change
  python query.py --watch --into gold/report    # keep the report as a Delta table, a commit a change
  python query.py --catalog tables.duckdb       # every table by name, for DuckDB
  python query.py --dead-letters                # messages the subscriber could not store
  python query.py --table sale --columns id,sale --where "sale > 1000"   # one table, typed
  python query.py --schema sale                 # its columns and their types
  python query.py --sql "SELECT region, sum(sale) AS total FROM sale GROUP BY region"
  python query.py --as-of -5m                   # the report five minutes ago
  python query.py --table sale --as-of 12       # a version of one table (sale=12,client=3: each)

times: shown everywhere as local time with its offset from UTC, to the millisecond
(2026-11-21T09:30:00.123+05:30); --as-of takes them back as shown. A time without an offset is
local time; end it with Z or +00:00 for UTC. --as-of also takes -90s, -5m, -2h, -1d (back from
now), a version of the one table shown (12), or versions by table (sale=12,client=3).

--summary in each format: table: three tables (by department, by region, overall); json: one
object {"by_department": [...], "by_region": [...], "overall": {...}}; csv, ndjson, parquet: one
table whose first column, part, says which of the three each row belongs to.

output: --output FILE gets every row; on the terminal, table format shows --rows (default 20).

exit status: 0 on success, and when Ctrl-C or SIGTERM ends --watch; 1 when a table is missing or
cannot be read, --output cannot be written, a package is missing, or with --strict when rows were
left out; 2 for a bad config, bad flags, flags that do not go together, or a table name, column or
query that does not fit the tables (--table, --schema, --sql); 130 when Ctrl-C stops
anything else; 141 when stdout is closed early (query.py | head).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from deltastream import cli, native, scripts
from deltastream.config import Config
from deltastream.query import asof
from deltastream.query.asof import AsOf
from deltastream.query.formats import FORMATS


def as_of(text: str) -> AsOf:
    """A time or a version (see times, below)."""
    try:
        return asof.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The longest --watch interval: a day.
MAX_WATCH_S = 86_400
#: The most rows --rows shows.
MAX_ROWS = 100_000_000


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_WATCH_S:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of seconds above 0, at most {MAX_WATCH_S}"
        )
    return value


def rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if (value < 1 and value != -1) or value > MAX_ROWS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of rows from 1 to {MAX_ROWS:,}, or -1 for all"
        )
    return value


def relative_times(argv: Sequence[str]) -> list[str]:
    """``--as-of -5m`` read as ``--as-of=-5m``: argparse takes a value that starts with '-' for a flag."""
    out: list[str] = []
    given = iter(argv)
    for arg in given:
        value = next(given, None) if arg == "--as-of" else None
        if value is not None and value.strip()[:1] == "-" and value.strip()[1:2].isdigit():
            out.append(f"--as-of={value}")
        else:
            out += [arg] if value is None else [arg, value]
    return out


#: The views (a flag each, ``None`` for the report).
VIEWS = (None, "--watch", "--history", "--dead-letters", "--table", "--schema", "--sql")
#: What is said of a flag --watch does not take, as it draws on the terminal.
REDRAWS = "{flag} does not go with --watch, which redraws a table on the terminal"
INTO = "--into goes with the report and --watch (the report as it is now)"
CATALOG = "--catalog goes alone: it writes the database, then exits"


def set_in(name: str, unset: object = None) -> Callable[[argparse.Namespace], bool]:
    return lambda args: getattr(args, name) not in (unset, False)


#: The flags --watch does not take (:data:`REDRAWS`), in the order they are named.
REDRAWN = (
    ("--format", set_in("format", "table")),
    ("--output", set_in("output")),
    ("--strict", set_in("strict")),
    ("--as-of", set_in("as_of")),
)


#: Which views each flag goes with, and what is said when it is given with another view.
GOES_WITH: tuple[tuple[str, Callable[[argparse.Namespace], bool], tuple[str | None, ...], str], ...] = (
    (
        "--strict",
        set_in("strict"),
        (None,),
        "--strict goes with the report and --summary (where rows are left out), not with {view}",
    ),
    (
        "--as-of",
        set_in("as_of"),
        (None, "--table", "--schema", "--sql"),
        "--as-of goes with the report, --summary, --table, --schema and --sql, not with {view}",
    ),
    ("--columns", set_in("columns"), ("--table",), "--columns goes with --table NAME"),
    ("--where", set_in("where"), ("--table",), "--where goes with --table NAME"),
    (
        "--chart",
        set_in("chart"),
        (None, "--watch"),
        "--chart goes with the report and --summary, not with {view}",
    ),
    (
        "--summary",
        set_in("summary"),
        (None, "--watch"),
        "--summary goes with the report and --watch, not with {view}",
    ),
    ("--into", set_in("into"), (None, "--watch"), INTO),
    ("--catalog", set_in("catalog"), (None,), CATALOG),
)


def together(args: argparse.Namespace, view: str | None) -> list[tuple[bool, str]]:
    """Flags that need or refuse one another whatever the view: (broken, what is said)."""
    suffixes = (".png", ".svg")
    one_table = args.as_of is not None and None in args.as_of.versions
    others = (
        args.summary,
        args.into,
        args.chart,
        args.output,
        args.strict,
        args.as_of,
        args.format != "table",
    )
    return [
        (
            args.chart is not None and args.chart.suffix.lower() not in suffixes,
            f"--chart {args.chart}: expected a file name ending {' or '.join(suffixes)}",
        ),
        (
            one_table and view not in ("--table", "--schema"),
            "--as-of VERSION is of one table: give --table NAME, or name each table "
            "(--as-of sale=12,client=3)",
        ),
        (
            args.chart is not None and view == "--watch" and not args.summary,
            "--chart goes with --watch and --summary (drawn again at each change)",
        ),
        (
            args.window is not None and not (args.summary or args.chart is not None),
            "--window goes with --summary and --chart",
        ),
        (args.into is not None and (args.summary or args.as_of is not None), INTO),
        (args.catalog is not None and any(others), CATALOG),
        (args.format == "parquet" and args.output is None, "--format parquet needs --output FILE"),
        (
            args.rows is not None and args.format != "table",
            f"--rows goes with --format table, not with --format {args.format}",
        ),
    ]


def conflict(args: argparse.Namespace) -> str | None:
    """Why the flags given do not go together, or ``None``: no flag may be given for nothing."""
    view = next((flag for flag in VIEWS[1:] if set_in(flag[2:].replace("-", "_"))(args)), None)
    if view == "--watch" and (flag := next((f for f, is_given in REDRAWN if is_given(args)), None)):
        return REDRAWS.format(flag=flag)
    for _flag, is_given, views, said in GOES_WITH:
        if is_given(args) and view not in views:
            return said.format(view=view)
    return next((said for broken, said in together(args, view) if broken), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("query.py", __doc__, kafka=False)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout (needed for parquet)"
    )
    parser.add_argument(
        "--rows",
        type=rows,
        metavar="N",
        help="rows shown in table format (default: 20 on the terminal, all in a file; -1: all)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any row is left out (the report, --summary)"
    )
    parser.add_argument("--delta-path", metavar="DIR", help="override [subscriber] delta_path")
    view = parser.add_mutually_exclusive_group()
    view.add_argument(
        "--watch",
        type=seconds,
        nargs="?",
        const=1.0,
        metavar="SECONDS",
        help="re-render when a table changes, checking every SECONDS (default 1)",
    )
    view.add_argument("--history", action="store_true", help="list every commit of every table")
    view.add_argument("--dead-letters", action="store_true", help="show the dead letters")
    view.add_argument(
        "--table", metavar="NAME", help="show one table (a topic of the config, or _dead_letters)"
    )
    view.add_argument("--schema", metavar="NAME", help="the columns of table NAME and their types")
    view.add_argument(
        "--sql", metavar="QUERY", help='run a SELECT over the tables by name (Polars SQL; quote "a.b")'
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="totals by department and by region (with --watch: kept current from the rows changed)",
    )
    parser.add_argument("--columns", metavar="A,B", help="with --table: only these columns, in this order")
    parser.add_argument(
        "--where", metavar="CONDITION", help="with --table: only rows where CONDITION holds (SQL)"
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        metavar="FILE",
        help="write a DuckDB database with a view per table (over delta_scan) to FILE, then exit",
    )
    parser.add_argument(
        "--into",
        metavar="PATH",
        help="with the report or --watch: also keep it as a Delta table at PATH (a folder or s3://...)",
    )
    parser.add_argument(
        "--window",
        choices=("day", "week", "month", "year"),
        help="with --summary or --chart: also the sales per tumbling window of the sale date",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        metavar="FILE",
        help="with the report or --summary: also draw the totals and sales per day into FILE (.png, .svg)",
    )
    parser.add_argument(
        "--as-of",
        type=as_of,
        metavar="TIME|VERSION",
        help="the tables as they were at TIME, or at a VERSION (see times, below)",
    )
    args = parser.parse_args(relative_times(sys.argv[1:] if argv is None else argv))
    problem = conflict(args)
    if problem:
        parser.error(problem)

    def body(cfg: Config) -> int:
        from deltastream.query import views

        return views.run(cfg, args)

    extra = {("subscriber", "delta_path"): args.delta_path}
    return scripts.run("query.py", args.config, cli.overrides(args, extra), body)


if __name__ == "__main__":
    native.hold_back_panics()
    sys.exit(main())
