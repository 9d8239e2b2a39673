#!/usr/bin/env python3
"""Join the Delta tables into the article's typed sales report and print it.

Reads client, department, employee and sale from <delta_path>, types them (Int64 ids, Date dates,
Decimal(38,2) amounts), joins them and sorts by id. Rows that cannot be typed, and sales whose
employee or client is unknown, are left out with a warning on stderr (or fail, with --strict).

examples:
  python query.py
  python query.py --format csv --output report.csv
  python query.py --watch                       # re-render whenever a table changes
  python query.py --as-of 2026-11-21T09:30      # the report as it was then (UTC without a zone)
  python query.py --history                     # every commit of every table
  python query.py --summary                     # totals by department and region
  python query.py --dead-letters                # messages the subscriber could not store

exit status: 0 on success; 1 when a table is missing, or with --strict when rows were left out;
2 for a bad config or bad flags.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from deltastream import cli
from deltastream.config import Config

#: Output formats (deltastream.render.FORMATS, repeated so that --help needs no third-party package).
FORMATS = ("table", "csv", "json", "ndjson", "parquet")


def timestamp(text: str) -> datetime:
    """ISO 8601, with or without a zone; UTC when none is given."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-21T09:30 or 2026-11-21T09:30:00+01:00)"
        ) from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("query.py", __doc__, kafka=False)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--rows", type=int, metavar="N", help="rows shown in table format (default 20; -1: all)"
    )
    parser.add_argument("--strict", action="store_true", help="fail when any row is left out")
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
    view.add_argument("--summary", action="store_true", help="totals by department and by region")
    view.add_argument("--dead-letters", action="store_true", help="show the dead letters")
    parser.add_argument(
        "--as-of",
        type=timestamp,
        metavar="TIMESTAMP",
        help="build the report from the tables as they were at this time",
    )
    args = parser.parse_args(argv)
    if args.as_of and (args.watch or args.history or args.dead_letters):
        parser.error("--as-of goes with the report or --summary only")

    def body(cfg: Config) -> int:
        from deltastream import views

        if args.dead_letters:
            return views.dead_letters(cfg, args)
        if args.history:
            return views.history(cfg, args)
        if args.watch:
            return views.watch_report(cfg, args)
        return views.report(cfg, args)

    return cli.run("query.py", args, body, {("subscriber", "delta_path"): args.delta_path})


if __name__ == "__main__":
    sys.exit(main())
