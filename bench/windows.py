"""What keeping the summary's windows current costs: an incremental refresh against a full recompute.

Builds the report's four tables as the subscriber writes them (its own writer, text columns, files
of the size it aims at), SALES sales over a year, then for each of ROUNDS rounds writes one batch
of CHANGES sales as one commit of the subscriber's writer (first new sales only, an append; then
half of them updates of sales already there, a MERGE, which rewrites every file holding one),
and times:

- incremental: what ``query.py --watch --summary --window W`` does at a new version: read the
  files the commit added and removed, build the report's rows of the sales it reaches, add and
  take away their sums, count the overall figures and the rows left out again in memory;
- full: what a reader without it does: read the four tables, build the report, sum every window.

Each round checks that both give the same summary. Prints the medians and their ratio.

    .venv/bin/python bench/windows.py                              # 1M sales, 10 rounds of 100
    .venv/bin/python bench/windows.py --sales 20000 --rounds 2     # a quick look
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from deltalake import Transaction

from deltastream.query import report, summary
from deltastream.query.incremental import LiveReport, LiveSummary
from deltastream.subscribe.rows import DELETED
from deltastream.subscribe.upsert import Upserter
from deltastream.tables import Tables

ROLES = {role: role for role in report.TABLES}
EMPLOYEES, DEPARTMENTS, CLIENTS = 200, 12, 2000


def sales(ids: range | list[int], rng: random.Random) -> pl.DataFrame:
    first = date(2024, 1, 1)
    days = [first + timedelta(days=rng.randrange(366)) for _ in ids]
    return pl.DataFrame(
        {
            "id": [str(i) for i in ids],
            "employee_id": [str(rng.randrange(1, EMPLOYEES + 1)) for _ in ids],
            "client_id": [str(rng.randrange(1, CLIENTS + 1)) for _ in ids],
            "date": [f"{d.day}/{d.month}/{d.year}" for d in days],
            "region": [rng.choice(["North", "South", "East", "West"]) for _ in ids],
            "sale": [f"{rng.randrange(100, 10_000_000) / 100:.2f}" for _ in ids],
        }
    )


def people(count: int, extra: dict[str, list[str]] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(1, count + 1)],
            "first_name": [f"F{i}" for i in range(count)],
            "last_name": [f"L{i}" for i in range(count)],
            **(extra or {}),
        }
    )


class Site:
    def __init__(self, root: Path) -> None:
        self.tables = Tables.at(root)
        self.writer = Upserter(self.tables, "id")
        self.commits = 0

    def write(self, name: str, rows: pl.DataFrame) -> None:
        self.commits += 1
        frame = rows.with_columns(pl.lit(False).alias(DELETED))
        self.writer.upsert(name, self.tables.open(name), frame, [Transaction(f"bench-{name}", self.commits)])


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--window", choices=tuple(summary.WINDOWS), default="day")
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="bench-windows-") as folder:
        site = Site(Path(folder))
        site.write(
            "department",
            pl.DataFrame(
                {
                    "id": [str(i) for i in range(1, DEPARTMENTS + 1)],
                    "department": [f"D{i}" for i in range(DEPARTMENTS)],
                }
            ),
        )
        site.write(
            "employee",
            people(EMPLOYEES, {"department_id": [str(1 + i % DEPARTMENTS) for i in range(EMPLOYEES)]}),
        )
        site.write("client", people(CLIENTS))
        started = time.perf_counter()
        site.write("sale", sales(range(1, args.sales + 1), rng))
        files = len(site.tables.open("sale").file_uris())  # type: ignore[union-attr]
        print(f"{args.sales:,} sales written in {ms(started) / 1000:.1f} s ({files} files)")

        live, totals = LiveReport(site.tables, ROLES), LiveSummary(args.window)
        started = time.perf_counter()
        first = live.refresh()
        assert first is not None
        totals.update(first)
        print(f"first read (in full, then kept): {ms(started):,.0f} ms")

        next_id = args.sales + 1
        results = {}
        for kind, share in (("new sales (appended)", 0), ("half of them updates (MERGE)", 2)):
            incremental, full = [], []
            for _ in range(args.rounds):
                updated = rng.sample(range(1, next_id), args.changes // share) if share else []
                new = list(range(next_id, next_id + args.changes - len(updated)))
                next_id += len(new)
                site.write("sale", sales(updated + new, rng))

                started = time.perf_counter()
                update = live.refresh()
                assert update is not None
                kept = totals.update(update)
                incremental.append(ms(started))

                started = time.perf_counter()
                whole = summary.summary(report.make(site.tables, ROLES).frame, args.window)
                full.append(ms(started))
                for part, frame in whole.items():
                    assert kept[part].equals(frame), f"{part} differs"
            results[kind] = incremental, full

    print(f"{args.rounds} rounds of {args.changes} changed sales on {args.sales:,}, by {args.window}:")
    for kind, (incremental, full) in results.items():
        a, b = statistics.median(incremental), statistics.median(full)
        print(f"  {kind}: incremental refresh p50 {a:,.1f} ms (max {max(incremental):,.1f}), ", end="")
        print(f"full recompute p50 {b:,.1f} ms (max {max(full):,.1f}): {b / a:.1f}x")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
