#!/usr/bin/env python3
"""Join the Delta tables into the article's typed sales report and print it.

Reads client, department, employee and sale from <delta_path>, types them (Int64 ids, Date dates,
Decimal(38,2) amounts), joins them and sorts by id. Rows that cannot be typed, and sales whose
employee or client is unknown, are left out with a warning on stderr (or fail, with --strict).

examples:
  python query.py
  python query.py --format csv --output report.csv
  python query.py --dead-letters       # messages the subscriber could not store

exit status: 0 on success; 1 when a table is missing, or with --strict when rows were left out;
2 for a bad config or bad flags.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from deltastream import cli, render, report
from deltastream.sink import DEAD_LETTERS, load

log = logging.getLogger("query")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("query.py", __doc__)
    parser.add_argument("--format", choices=render.FORMATS, default="table", help="output format")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--rows", type=int, metavar="N", help="rows shown in table format (-1: all)")
    parser.add_argument("--strict", action="store_true", help="fail when any row is left out")
    parser.add_argument("--delta-path", metavar="DIR", help="override [subscriber] delta_path")
    parser.add_argument(
        "--dead-letters", action="store_true", help="show the dead letters instead of the report"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        cfg = cli.load(args, {("subscriber", "delta_path"): args.delta_path})
        delta_path = cfg.subscriber.delta_path
        if args.dead_letters:
            table = load(delta_path / DEAD_LETTERS)
            import polars as pl

            frame = pl.read_delta(table).sort("topic", "partition", "offset") if table else pl.DataFrame()
            header = f"dead letters: {frame.height} (table {delta_path / DEAD_LETTERS})"
            render.write(frame, args.format, args.output, header, args.rows)
            return 0
        result = report.load(delta_path, cfg.query.tables)
        for problem in result.problems:
            log.warning("left out of the report: %s", problem)
        report.check(result, args.strict)
        versions = ", ".join(f"{t} v{v}" for t, v in result.versions.items())
        header = f"sales report: {result.frame.height} rows ({versions})"
        render.write(result.frame, args.format, args.output, header, args.rows)
        return 0

    return cli.run("query.py", body)


if __name__ == "__main__":
    sys.exit(main())
