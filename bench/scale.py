#!/usr/bin/env python3
"""How the pipeline grows: subscribers in one group, table sizes, and file sizes on object storage.

    python bench/scale.py                              # the figures in the README (about 25 minutes)
    python bench/scale.py --records 20000 --sizes 10000,100000 --s3-rows 20000   # a quick look

Three parts, each printing a table:

- scale-out: the same topic (12 partitions) read by 1, 2 and 4 subscriber.py processes in one
  consumer group, from the first process's start until the table holds every record: throughput,
  commits, and the commits retried after a concurrent commit by another process;
- table sizes: 10,000 changed rows upserted by the subscriber's sink into tables of each size,
  with the ids spread over the whole table or among the newest; then the file count and query.py
  on the largest sale table;
- file sizes on object storage (a local S3 server, moto): the same upserts and a full scan for
  tables written with several target file sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, write_deltalake
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from deltastream.demo import sampledata
from deltastream.kafka.embedded import EmbeddedBroker
from deltastream.kafka.message import Record
from deltastream.query import report
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.upsert import TableSettings
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local S3 server lives with the tests (tests/s3server.py)

CHANGED = 10_000


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def table_rows(table: DeltaTable) -> int:
    actions = table.get_add_actions(flatten=True)
    return sum(n or 0 for n in actions.column("num_records").to_pylist()) if actions.num_rows else 0


# -- scale-out ------------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    processes: int
    seconds: float
    records: int
    commits: int
    retries: int
    cpu_s: float


def write_config(path: Path, bootstrap: str, raw: Path, delta: Path, partitions: int) -> Path:
    """A config for one run; its consumer group is named after the file."""
    path.write_text(
        f"""[general]
logging_level = "INFO"
bootstrap_servers = "{bootstrap}"
topics = ["sale"]
[publisher]
raw_path = "{raw}"
batch_size = 10000
partitions = {partitions}
[subscriber]
delta_path = "{delta}"
group_id = "{path.stem}"
"""
    )
    return path


def closing_figures(text: str) -> tuple[int, int]:
    """(commits, retries) from a subscriber's closing log line."""
    line = next(line for line in reversed(text.splitlines()) if " stopped: " in line)
    commits = int(line.split(" in ")[1].split(" commit")[0].replace(",", ""))
    retries = int(line.split(", ")[-1].split(" retr")[0].replace(",", "")) if " retr" in line else 0
    return commits, retries


def scale_out(work: Path, records: int, counts: Sequence[int], partitions: int = 12) -> list[ScaleRun]:
    raw = work / "scale-data"
    sampledata.generate(
        raw,
        sampledata.Sizes(clients=max(100, records // 100), employees=max(50, records // 1000), sales=records),
    )
    runs = []
    with EmbeddedBroker() as broker:
        publish_cfg = write_config(work / "publish.toml", broker.bootstrap_servers, raw, work, partitions)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        admin.create_topics([NewTopic("sale", partitions, 1)])
        admin.close()
        log(f"publishing {records:,} sales to {partitions} partitions ...")
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "publisher.py"),
                "--config",
                str(publish_cfg),
                "--log-level",
                "WARNING",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for count in counts:
            delta = work / f"scale-delta-{count}"
            cfg = write_config(
                work / f"scale-{count}.toml",
                broker.bootstrap_servers,
                raw,
                delta,
                partitions,
            )
            logs = [work / f"scale-{count}-{n}.log" for n in range(count)]
            handles = [path.open("w") for path in logs]
            log(f"{count} subscriber process(es) ...")
            started = time.monotonic()
            processes = [
                subprocess.Popen(
                    [sys.executable, str(ROOT / "subscriber.py"), "--config", str(cfg)],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=handle,
                )
                for handle in handles
            ]
            try:
                while True:
                    time.sleep(0.2)
                    if (delta / "sale" / "_delta_log").exists():
                        table = DeltaTable(str(delta / "sale"))
                        if table_rows(table) >= records:
                            break
                    if time.monotonic() - started > 1800:
                        raise SystemExit(f"{count} subscribers did not finish within 30 minutes")
                elapsed = time.monotonic() - started
            finally:
                cpu = 0.0
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    _, _, usage = os.wait4(process.pid, 0)
                    cpu += usage.ru_utime + usage.ru_stime
                for handle in handles:
                    handle.close()
            figures = [closing_figures(path.read_text()) for path in logs]
            runs.append(
                ScaleRun(
                    count,
                    elapsed,
                    records,
                    sum(c for c, _ in figures),
                    sum(r for _, r in figures),
                    cpu,
                )
            )
            log(str(runs[-1]))
    return runs


# -- table sizes ----------------------------------------------------------------------------------


@dataclass
class UpsertCost:
    rows: int
    pattern: str
    seconds: float
    files: int
    files_rewritten: int
    rows_rewritten: int
    where: str = "local"
    target_kb: int = 128


def sales_frame(first: int, count: int, seed: int) -> pl.DataFrame:
    """Sale rows with ids first..first+count-1, as the subscriber stores them (all text)."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    ids = range(first, first + count)
    return pl.DataFrame(
        {
            "id": [str(i) for i in ids],
            "employee_id": [str(rng.randint(1, 1000)) for _ in ids],
            "client_id": [str(rng.randint(1, 10_000)) for _ in ids],
            "date": [(start + timedelta(days=rng.randint(0, 364))).strftime("%-d/%-m/%Y") for _ in ids],
            "region": [rng.choice(sampledata.REGIONS) for _ in ids],
            "sale": [f"{rng.uniform(1, 5000):.2f}" for _ in ids],
        }
    )


def build_sales(tables: Tables, name: str, rows: int, target_kb: int, chunk: int = 250_000) -> DeltaTable:
    """A sale table of ``rows`` rows written the way the subscriber appends new ids."""
    settings = TableSettings(file_target_bytes=target_kb * 1024)
    for first in range(1, rows + 1, chunk):
        frame = sales_frame(first, min(chunk, rows + 1 - first), seed=first)
        write_deltalake(
            tables.uri(name),
            frame,
            mode="append",
            configuration=settings.configuration(),
            target_file_size=settings.file_target_bytes,
            storage_options=tables.options,
        )
    table = tables.open(name)
    assert table is not None
    return table


def upsert(tables: Tables, name: str, rows: int, pattern: str, target_kb: int) -> UpsertCost:
    """Change ``CHANGED`` rows of table ``name`` through the subscriber's sink."""
    table = tables.open(name)
    assert table is not None
    files = len(table.file_uris())
    changed = min(CHANGED, rows // 2)
    if pattern == "spread":
        ids = list(range(1, rows + 1, max(1, rows // changed)))[:changed]
    else:
        ids = list(range(rows - changed + 1, rows + 1))
    messages = [
        Record(offset, json.dumps({"id": str(i), "region": "Changed"}).encode(), str(i).encode(), 0, name)
        for offset, i in enumerate(ids)
    ]
    sink = TopicWriter(
        DeltaSink(tables, "id", TableSettings(file_target_bytes=target_kb * 1024)), JsonFormat("id")
    )
    result = sink.write(name, {0: messages}, offsets.AppIds.of(f"bench-{pattern}"))
    assert result is not None and result.updated == len(ids), result
    metrics = result.metrics
    return UpsertCost(
        rows,
        pattern,
        result.millis / 1000,
        files,
        int(metrics.get("num_target_files_removed", 0)),
        int(metrics.get("num_target_rows_copied", 0)) + int(metrics.get("num_target_rows_updated", 0)),
        "local" if tables.local else "S3 (local moto server)",
        target_kb,
    )


def table_sizes(work: Path, sizes: Sequence[int]) -> list[UpsertCost]:
    costs = []
    for rows in sizes:
        log(f"table of {rows:,} rows ...")
        base = work / f"size-{rows}"
        build_sales(Tables.at(base), "sale", rows, 128)
        for pattern in ("spread", "newest"):
            copy = work / f"size-{rows}-{pattern}"
            shutil.copytree(base, copy)
            costs.append(upsert(Tables.at(copy), "sale", rows, pattern, 128))
            log(str(costs[-1]))
            shutil.rmtree(copy)
        if rows != max(sizes):
            shutil.rmtree(base)
    return costs


def query_cost(work: Path, rows: int) -> tuple[float, float, int]:
    """query.py on the largest sale table: (in-process report seconds, whole process seconds, files)."""
    base = work / f"size-{rows}"
    tables = Tables.at(base)
    sampledata.generate(work / "dims", sampledata.Sizes(clients=10_000, employees=1000, sales=1))
    for role in ("client", "department", "employee"):
        frame = pl.read_csv(work / "dims" / f"{role}.csv", infer_schema=False)
        write_deltalake(tables.uri(role), frame, mode="overwrite")
    roles = {"client": "client", "department": "department", "employee": "employee", "sale": "sale"}
    started = time.monotonic()
    built = report.make(tables, roles)
    in_process = time.monotonic() - started
    assert built.frame.height > 0
    cfg = work / "query.toml"
    cfg.write_text(
        f'[general]\nbootstrap_servers = "localhost:9092"\ntopics = ["sale"]\n'
        f'[publisher]\nraw_path = "{work}"\n[subscriber]\ndelta_path = "{base}"\n'
    )
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "query.py"),
            "--config",
            str(cfg),
            "--format",
            "parquet",
            "--output",
            str(work / "r.parquet"),
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    whole = time.monotonic() - started
    files = len(DeltaTable(str(base / "sale")).file_uris())
    return in_process, whole, files


def file_sizes_on_s3(
    work: Path, rows: int, targets: Sequence[int]
) -> list[tuple[UpsertCost, UpsertCost, float]]:
    """Per target file size: (spread upsert, newest upsert, full scan seconds) on a local S3 server."""
    from tests.s3server import S3Server

    results = []
    with S3Server() as s3:
        for target in targets:
            log(f"S3, {rows:,} rows, files of {target} KB ...")
            costs = []
            for pattern in ("spread", "newest"):
                tables = Tables.at(f"s3://{s3.bucket()}/lake", s3.storage_options)
                build_sales(tables, "sale", rows, target)
                costs.append(upsert(tables, "sale", rows, pattern, target))
            table = tables.open("sale")
            assert table is not None
            started = time.monotonic()
            scanned = tables.scan(table).select(pl.len()).collect().item()
            scan_s = time.monotonic() - started
            assert scanned == rows
            results.append((costs[0], costs[1], scan_s))
            log(f"{costs} scan {scan_s:.2f} s")
    return results


def print_tables(
    runs: list[ScaleRun],
    costs: list[UpsertCost],
    query: tuple[float, float, int] | None,
    s3: list[tuple[UpsertCost, UpsertCost, float]],
) -> None:
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if runs:
        base = runs[0].records / runs[0].seconds
        print(
            "\n| subscriber processes | records | seconds | records/s | vs 1 process | commits "
            "| retried commits | CPU seconds |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for run in runs:
            rate = run.records / run.seconds
            print(
                f"| {run.processes} | {run.records:,} | {run.seconds:.1f} | {rate:,.0f} | {rate / base:.2f}x "
                f"| {run.commits} | {run.retries} | {run.cpu_s:.1f} |"
            )
    if costs:
        print(
            f"\n| table rows | {CHANGED:,} changed ids | seconds | files in table | files rewritten "
            "| rows rewritten |"
        )
        print("|---:|---|---:|---:|---:|---:|")
        for cost in costs:
            print(
                f"| {cost.rows:,} | {cost.pattern} | {cost.seconds:.2f} | {cost.files:,} "
                f"| {cost.files_rewritten:,} | {cost.rows_rewritten:,} |"
            )
    if query:
        print(
            f"\nquery.py on {costs[-1].rows:,} sale rows ({query[2]:,} files): report built in "
            f"{query[0]:.2f} s in process, {query[1]:.2f} s for the whole query.py --format parquet process"
        )
    if s3:
        print(
            "\n| target file size (S3) | rows | files | spread upsert s | newest upsert s "
            "| rows rewritten (spread / newest) | full scan s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for spread, newest, scan_s in s3:
            print(
                f"| {spread.target_kb:,} KB | {spread.rows:,} | {spread.files:,} | {spread.seconds:.2f} "
                f"| {newest.seconds:.2f} | {spread.rows_rewritten:,} / {newest.rows_rewritten:,} "
                f"| {scan_s:.2f} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records for the scale-out runs")
    parser.add_argument("--processes", default="1,2,4", help="subscriber processes per run")
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="table sizes in rows")
    parser.add_argument("--s3-rows", type=int, default=1_000_000, help="rows of the tables on S3 (0: skip)")
    parser.add_argument("--s3-targets", default="128,1024,8192", help="target file sizes in KB on S3")
    parser.add_argument("--skip", default="", help="parts to skip: scale,sizes,query,s3")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="deltastream-scale-"))
    try:
        runs = (
            []
            if "scale" in skip
            else scale_out(work, args.records, [int(n) for n in args.processes.split(",")])
        )
        sizes = [int(n) for n in args.sizes.split(",")]
        costs = [] if "sizes" in skip else table_sizes(work, sizes)
        query = None if "sizes" in skip or "query" in skip else query_cost(work, max(sizes))
        s3 = (
            []
            if "s3" in skip or not args.s3_rows
            else file_sizes_on_s3(work, args.s3_rows, [int(n) for n in args.s3_targets.split(",")])
        )
        print_tables(runs, costs, query, s3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
