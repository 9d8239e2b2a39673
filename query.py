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
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from deltastream import cli, render, report, watch
from deltastream.config import Config
from deltastream.sink import DEAD_LETTERS, load

log = logging.getLogger("query")


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


def show_report(cfg: Config, args: argparse.Namespace) -> int:
    result = report.load(cfg.subscriber.delta_path, cfg.query.tables, args.as_of)
    for note in result.notes:
        log.warning("%s", note)
    for problem in result.problems:
        log.warning("left out of the report: %s", problem)
    report.check(result, args.strict)
    if args.summary:
        for title, frame in report.summary(result.frame).items():
            render.write(frame, args.format, None, f"{title}:", -1)
        return 0
    versions = ", ".join(f"{t} v{'-' if v is None else v}" for t, v in result.versions.items())
    when = f" as of {args.as_of.isoformat()}" if args.as_of else ""
    header = f"sales report{when}: {result.frame.height} rows ({versions})"
    render.write(result.frame, args.format, args.output, header, args.rows)
    return 0


def show_dead_letters(cfg: Config, args: argparse.Namespace) -> int:
    path = cfg.subscriber.delta_path / DEAD_LETTERS
    table = load(path)
    frame = report.lazy(table).sort("topic", "partition", "offset").collect() if table else pl.DataFrame()
    render.write(frame, args.format, args.output, f"dead letters: {frame.height} (table {path})", args.rows)
    return 0


def show_history(cfg: Config, args: argparse.Namespace) -> int:
    topics = [t for t in cfg.topics if (cfg.subscriber.delta_path / t).exists()]
    frame = report.history(cfg.subscriber.delta_path, topics)
    render.write(frame, args.format, args.output, f"history: {frame.height} commits", args.rows)
    return 0


def watch_report(cfg: Config, args: argparse.Namespace) -> int:
    def draw(result: report.Report) -> None:
        for problem in result.problems:
            print(f"left out: {problem}")
        render.write(result.frame, "table", None, f"sales report: {result.frame.height} rows", args.rows)

    with contextlib.suppress(KeyboardInterrupt):
        watch.watch(cfg.subscriber.delta_path, cfg.query.tables, args.watch, draw)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("query.py", __doc__)
    parser.add_argument("--format", choices=render.FORMATS, default="table", help="output format")
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

    def body() -> int:
        cfg = cli.load(args, {("subscriber", "delta_path"): args.delta_path})
        if args.dead_letters:
            return show_dead_letters(cfg, args)
        if args.history:
            return show_history(cfg, args)
        if args.watch:
            return watch_report(cfg, args)
        return show_report(cfg, args)

    return cli.run("query.py", body)


if __name__ == "__main__":
    sys.exit(main())
