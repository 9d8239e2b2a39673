"""What a long Delta log costs: each write and each check of a table whose log holds N entries.

With the default retention (``vacuum_retention_hours`` 24) a steady trickle keeps a day of
commits in ``_delta_log``: about 170,000 entries at two commits a second. The subscriber looks at
the log before each write (delta-rs reads the new entries; ``deltalog.inspect`` lists the folder
to find a damaged or missing entry), and ``query.py --watch`` at every check. This measures both
on a table whose log holds N entries before its newest checkpoint (commits that change nothing,
as many as a day of trickle leaves), for several N; an append with delta-rs's default post-commit
hooks and with the subscriber's (no clean-up of expired entries at every commit).

    .venv/bin/python bench/loglength.py                         # N = 0, 10k, 50k, 170k
    .venv/bin/python bench/loglength.py --entries 0,1000 --repeat 3  # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake

from deltastream import deltalog
from deltastream.subscribe.upsert import HOOKS


def table_with_log(path: Path, entries: int) -> None:
    """A one-file table, then ``entries`` commits that change nothing, a checkpoint, and one
    more commit after it (as the log is between two checkpoints)."""
    write_deltalake(str(path), pl.DataFrame({"id": ["1"], "v": ["a"]}).to_arrow(), mode="append")
    log_dir = path / "_delta_log"
    first = json.loads((log_dir / f"{0:020d}.json").read_text().splitlines()[0])
    for version in range(1, entries + 1):
        info = {"commitInfo": {**first.get("commitInfo", {}), "operation": "WRITE", "timestamp": version}}
        (log_dir / f"{version:020d}.json").write_text(json.dumps(info) + "\n")
    DeltaTable(str(path)).create_checkpoint()
    write_deltalake(str(path), pl.DataFrame({"id": ["2"], "v": ["b"]}).to_arrow(), mode="append")


def timed(action: Callable[[], object], repeat: int) -> float:
    """The median time of ``action`` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(work: Path, entries: int, repeat: int) -> tuple[float, ...]:
    path = work / f"t{entries}"
    table_with_log(path, entries)
    table = DeltaTable(str(path))
    frame = pl.DataFrame({"id": ["3"], "v": ["c"]}).to_arrow()

    def write(hooks: PostCommitHookProperties | None) -> Callable[[], None]:
        def append() -> None:
            table.update_incremental()
            write_deltalake(table, frame, mode="append", post_commithook_properties=hooks)

        return append

    return (
        timed(lambda: DeltaTable(str(path)), repeat),
        timed(table.update_incremental, repeat),
        timed(lambda: deltalog.inspect(path, every_entry=False), repeat),
        timed(write(None), repeat),
        timed(write(HOOKS), repeat),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--entries", default="0,10000,50000,170000", help="log lengths, comma-separated")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deltastream-loglength-"))
    try:
        print(
            "| log entries | open table ms | update_incremental ms | deltalog.inspect ms "
            "| append, delta-rs's hooks ms | append, the subscriber's hooks ms |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for entries in (int(n) for n in args.entries.split(",")):
            figures = " | ".join(f"{ms:.1f}" for ms in measure(work, entries, args.repeat))
            print(f"| {entries:,} | {figures} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
