#!/usr/bin/env python3
"""Benchmark the pipeline against the limits of its own parts, in one run, on this machine.

    python bench/run.py                    # 1M sales (a few minutes)
    python bench/run.py --sales 20000      # a quick look

It generates the sample CSV files at the given size, starts an embedded broker and measures, in
order: the kafka-python producer alone and publisher.py on the same rows; a fresh consumer group
alone and subscriber.py --once on the same messages (with its peak RSS and file count); the cost of
upserting 10k changed rows into a 10k-row and into the full table; query.py on the result; and
end-to-end freshness (publish a row, see it in Delta) while subscriber.py runs. It prints a table.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import DeltaTable
from kafka import KafkaProducer

from deltastream import config
from deltastream.demo import sampledata
from deltastream.kafka import clients, librdkafka, rdconsumer
from deltastream.kafka.apache import ApacheKafka
from deltastream.kafka.embedded import EmbeddedBroker
from deltastream.kafka.message import Fetched, Record
from deltastream.query import report
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables

ROOT = Path(__file__).resolve().parent.parent

SESSION_MS = 6000


@dataclass
class Row:
    stage: str
    records: int
    seconds: float
    note: str = ""
    limit: float | None = None  # records/s of the raw client for the same work

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def write_config(path: Path, bootstrap: str, raw: Path, delta: Path, **subscriber: object) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in subscriber.items())
    path.write_text(
        f"""[general]
logging_level = "WARNING"
bootstrap_servers = "{bootstrap}"
topics = ["client", "department", "employee", "sale"]
[kafka]
session_timeout_ms = {SESSION_MS}
heartbeat_interval_ms = 1000
[publisher]
raw_path = "{raw}"
batch_size = 10000
[subscriber]
delta_path = "{delta}"
group_id = "bench"
{extra}"""
    )
    return path


def with_topics(cfg: Path, *topics: str) -> Path:
    """A copy of config ``cfg`` naming ``topics`` (--topics chooses only among the config's)."""
    text = cfg.read_text(encoding="utf-8")
    copy = cfg.with_name(f"{cfg.stem}-{'-'.join(topics)}.toml")
    copy.write_text(
        re.sub(r"(?m)^topics = .*$", f"topics = {json.dumps(list(topics))}", text), encoding="utf-8"
    )
    return copy


def run(script: str, cfg: Path, *args: str) -> tuple[float, int]:
    """Run a script to completion; returns its wall time and peak RSS in KiB."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / script), "--config", str(cfg), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{script} {' '.join(args)} failed")
    return elapsed, usage.ru_maxrss


def keyed_json(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The work a bare producer does per row: read the CSV, JSON-encode each row, key it by id."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        for fields in reader:
            yield fields[0].encode(), json.dumps(dict(zip(header, fields, strict=True))).encode()


def producer_limit(cfg: config.Config, path: Path, topic: str) -> Row:
    """kafka-python alone: read the CSV, JSON-encode each row, send it keyed by id, flush."""
    producer = clients.kafka_producer(cfg)
    started = time.monotonic()
    count = 0
    for key, value in keyed_json(path):
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    elapsed = time.monotonic() - started
    producer.close()
    return Row("producer alone (kafka-python)", count, elapsed)


def librdkafka_limit(cfg: config.Config, path: Path, topic: str) -> Row:
    """confluent-kafka alone, with the publisher's settings: the same reading and encoding as
    :func:`producer_limit`, each send's report served, flush."""
    import confluent_kafka

    producer = confluent_kafka.Producer(librdkafka.settings(cfg))
    producer.list_topics(timeout=30)
    failed = 0

    def report(err: object, _message: object) -> None:
        nonlocal failed
        failed += err is not None

    started = time.monotonic()
    count = 0
    for key, value in keyed_json(path):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    elapsed = time.monotonic() - started
    if failed:
        raise SystemExit(f"confluent-kafka alone: {failed} sends failed")
    return Row("producer alone (confluent-kafka)", count, elapsed)


def consumer_limit(cfg: config.Config, topic: str, expected: int) -> Row:
    """kafka-python alone, built with the subscriber's settings, in a fresh group: from creation
    (group join included) to the last message."""
    started = time.monotonic()
    consumer = clients.kafka_consumer(cfg, patience_s=30, group_id=f"limit-{random.getrandbits(32)}")
    consumer.subscribe([topic])
    count = 0
    while count < expected:
        for batch in consumer.poll(timeout_ms=500).values():
            count += len(batch)
    elapsed = time.monotonic() - started
    consumer.close()
    return Row("consumer alone (fresh group)", count, elapsed)


def librdkafka_consumer_limit(cfg: config.Config, topics: list[str], expected: int) -> Row:
    """confluent-kafka alone, with the subscriber's settings, every partition of ``topics``
    assigned from its start: from creation to the last message, each record read into the
    subscriber's own record type (its topic, partition, offset, key and value)."""
    ck = librdkafka.module(cfg)
    started = time.monotonic()
    consumer = ck.Consumer(rdconsumer.consumer_settings(cfg, f"limit-{random.getrandbits(32)}"))
    metadata = consumer.list_topics(timeout=30)
    consumer.assign(
        [
            ck.TopicPartition(topic, partition, ck.OFFSET_BEGINNING)
            for topic in topics
            for partition in metadata.topics[topic].partitions
        ]
    )
    count = 0
    while count < expected:  # what is there within 100 ms (waiting for 50,000 would idle at the end)
        for m in consumer.consume(50_000, 0.1):
            if m.error() is None:
                Fetched(m.topic(), m.partition(), m.offset(), m.key(), m.value())
                count += 1
    elapsed = time.monotonic() - started
    consumer.close()
    return Row("consumer alone (confluent-kafka, partitions assigned)", count, elapsed)


def librdkafka_subscribe_stage(
    args: argparse.Namespace, cfg: config.Config, work: Path, total: int
) -> list[Row]:
    """confluent-kafka alone against subscriber.py --once with ``client = "confluent-kafka"``, on
    the same records, in alternating rounds."""
    text = (work / "config.toml").read_text(encoding="utf-8")
    fast_path = work / "librdkafka-subscriber.toml"
    fast_path.write_text(text.replace("[kafka]\n", '[kafka]\nclient = "confluent-kafka"\n'), encoding="utf-8")
    limits: list[Row] = []
    subscribes: list[tuple[float, int]] = []
    topics = ["client", "department", "employee", "sale"]
    for round_ in range(1, args.repeat + 1):
        log(f"round {round_}: confluent-kafka consumer alone ...")
        limits.append(librdkafka_consumer_limit(cfg, topics, total))
        log(f"round {round_}: subscriber.py --once with confluent-kafka ...")
        target = work / f"delta-librdkafka{round_}"
        subscribes.append(run("subscriber.py", fast_path, "--once", "--delta-path", str(target)))
    limit = min(limits, key=lambda r: r.seconds)
    seconds, _ = min(subscribes)
    peak = max(r for _, r in subscribes) / 1024
    script = Row(
        "subscriber.py --once, client confluent-kafka (whole process)",
        total,
        seconds,
        limit=limit.rate,
        note=f"peak RSS {peak:.0f} MB",
    )
    log("; ".join(f"{r.stage}: {r.rate:,.0f} records/s" for r in (limit, script)))
    return [limit, script]


def wide_update(work: Path, rows: int = 10_000, widths: tuple[int, ...] = (10, 2000)) -> list[Row]:
    """Update one record in tables of ``rows`` records and each width in ``widths`` columns.

    Each table is built by the sink in batches of 1,000 records and warmed by a first update,
    as a running subscriber's would be; the figure is the second update, best of three.
    """
    ids = offsets.AppIds.of("wide-bench")
    result = []
    for width in widths:
        sink = TopicWriter(DeltaSink(Tables.at(work / f"wide-{width}"), "id"), JsonFormat("id"))

        def batch(
            first: int, count: int, offset: int, tag: str, width: int = width
        ) -> dict[int, list[Record]]:
            values = [
                json.dumps(
                    {"id": str(first + i), **{f"c{c}": f"{tag}{c}" for c in range(width - 1)}}
                ).encode()
                for i in range(count)
            ]
            return {
                0: [Record(offset + i, v, str(first + i).encode(), 0, "wide") for i, v in enumerate(values)]
            }

        for start in range(0, rows, 1000):
            sink.write("wide", batch(start, 1000, start, "v"), ids)
        times = []
        for n in range(4):
            written = sink.write("wide", batch(rows // 2, 1, rows + n, f"u{n}-"), ids)
            assert written is not None and written.updated == 1
            times.append(written.millis / 1000)
            operation = written.operation
        result.append(
            Row(
                f"update 1 record of a {width:,}-column table ({rows:,} rows)",
                1,
                min(times[1:]),
                note=f"written by {operation}",
            )
        )
    return result


def merge_cost(delta: Path, sale_rows: int, changed: int = 10_000) -> list[Row]:
    """Upsert ``changed`` rows (ids in the middle of the table) into tables of growing size.

    The smaller tables are built like the subscriber builds them, in batches of ``changed``
    sorted rows; the largest is the sale table written by subscriber.py above.
    """
    ids = offsets.AppIds.of("merge-bench")
    start = max(1, sale_rows // 2)

    def messages(first_id: int, count: int, first_offset: int, region: str) -> dict[int, list[Record]]:
        return {
            7: [
                Record(
                    first_offset + i,
                    json.dumps({"id": str(first_id + i), "region": region}).encode(),
                    str(first_id + i).encode(),
                    7,
                    "sale",
                )
                for i in range(count)
            ]
        }

    tables: list[tuple[TopicWriter, int]] = []
    for size in sorted({size for size in (changed, 10 * changed) if size < sale_rows}):
        sink = TopicWriter(DeltaSink(Tables.at(delta.parent / f"merge-{size}"), "id"), JsonFormat("id"))
        first = start - (size - changed) // 2
        for offset in range(0, size, changed):
            sink.write("sale", messages(first + offset, changed, offset, "Old"), ids)
        tables.append((sink, size))
    tables.append((TopicWriter(DeltaSink(Tables.at(delta), "id"), JsonFormat("id")), sale_rows))
    rows = []
    for sink, size in tables:
        # A running subscriber has the table open and its readers warm: so does the measure.
        sink.write("sale", messages(start + changed, 100, 9_000_000, "Warm"), ids)
        result = sink.write("sale", messages(start, changed, 10_000_000, "Changed"), ids)
        assert result is not None
        metrics = result.metrics
        rows.append(
            Row(
                f"MERGE {changed:,} changed rows into {size:,}",
                changed,
                result.millis / 1000,
                note=f"rows rewritten {metrics.get('num_target_rows_copied', 0):,}, "
                f"files rewritten {metrics.get('num_target_files_removed', 0)}",
            )
        )
    return rows


def freshness(bootstrap: str, cfg_path: Path, delta: Path, count: int, rate: float) -> list[float]:
    """Seconds from send to visible in Delta, for rows sent one by one while subscriber.py runs."""
    topic = "client"
    process = subprocess.Popen(
        # Only the probe topic: the others may hold records this table has not caught up with.
        [sys.executable, str(ROOT / "subscriber.py"), "--config", str(cfg_path), "--topics", topic],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        table = DeltaTable(str(delta / topic))
        # Wait until the subscriber has joined: a probe row must show up.
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        probe = "probe-0"
        producer.send(topic, key=probe.encode(), value=json.dumps({"id": probe}).encode())
        producer.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            table.update_incremental()
            if pl.scan_delta(table).filter(pl.col("id") == probe).collect().height:
                break
            time.sleep(0.05)

        def send() -> None:
            for i in range(count):
                key = f"fresh-{i}"
                producer.send(
                    topic, key=key.encode(), value=json.dumps({"id": key, "first_name": "F"}).encode()
                )
                producer.flush()
                sent[key] = time.monotonic()
                time.sleep(1 / rate)

        sender = threading.Thread(target=send)
        sender.start()
        version = table.version()
        deadline = time.monotonic() + count / rate + 30
        while len(seen) < count and time.monotonic() < deadline:
            table.update_incremental()
            if table.version() != version:
                version = table.version()
                now = time.monotonic()
                ids = (
                    pl.scan_delta(table).filter(pl.col("id").str.starts_with("fresh-")).select("id").collect()
                )
                for key in ids["id"]:
                    seen.setdefault(key, now)
            time.sleep(0.01)
        sender.join()
        producer.close()
    finally:
        process.terminate()
        process.wait(30)
    return sorted(seen[k] - sent[k] for k in seen if k in sent)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def files(path: Path) -> int:
    return len(DeltaTable(str(path)).file_uris())


def publish_stage(args: argparse.Namespace, cfg: config.Config, cfg_path: Path, raw: Path) -> list[Row]:
    """The producer alone against publisher.py, on the same rows, in alternating rounds."""
    run("publisher.py", cfg_path, "--topics", "client,department,employee")
    # Each round measures the raw client and then the script on the same rows; the best of the
    # rounds is kept for each, so a slow moment of the machine does not decide a ratio.
    limits: list[Row] = []
    publishes: list[float] = []
    for round_ in range(1, args.repeat + 1):
        topic = "sale" if round_ == 1 else f"sale{round_}"
        if round_ > 1:
            shutil.copy(raw / "sale.csv", raw / f"{topic}.csv")
        log(f"round {round_}: producer alone ...")
        limits.append(producer_limit(cfg, raw / "sale.csv", f"bench-raw-{round_}"))
        log(f"round {round_}: publisher.py ...")
        publishes.append(run("publisher.py", with_topics(cfg_path, topic))[0])
    limit = min(limits, key=lambda r: r.seconds)
    rows = [limit, Row("publisher.py (whole process)", args.sales, min(publishes), limit=limit.rate)]
    log("; ".join(f"{r.stage}: {r.rate:,.0f} records/s" for r in rows))
    return rows


def librdkafka_stage(args: argparse.Namespace, cfg: config.Config, cfg_path: Path, raw: Path) -> list[Row]:
    """confluent-kafka alone against publisher.py with ``client = "confluent-kafka"``, on the
    same rows, in alternating rounds."""
    text = cfg_path.read_text(encoding="utf-8")
    assert "[kafka]\n" in text
    fast_path = cfg_path.with_name("librdkafka.toml")
    fast_path.write_text(text.replace("[kafka]\n", '[kafka]\nclient = "confluent-kafka"\n'), encoding="utf-8")
    limits: list[Row] = []
    publishes: list[float] = []
    for round_ in range(1, args.repeat + 1):
        topic = f"salefast{round_}"
        shutil.copy(raw / "sale.csv", raw / f"{topic}.csv")
        log(f"round {round_}: confluent-kafka alone ...")
        limits.append(librdkafka_limit(cfg, raw / "sale.csv", f"bench-fast-{round_}"))
        log(f"round {round_}: publisher.py with confluent-kafka ...")
        publishes.append(run("publisher.py", with_topics(fast_path, topic))[0])
    limit = min(limits, key=lambda r: r.seconds)
    script = Row("publisher.py, client confluent-kafka (whole process)", args.sales, min(publishes))
    rows = [limit, Row(script.stage, script.records, script.seconds, limit=limit.rate)]
    log("; ".join(f"{r.stage}: {r.rate:,.0f} records/s" for r in rows))
    return rows


def subscribe_stage(
    args: argparse.Namespace, cfg: config.Config, cfg_path: Path, work: Path, total: int
) -> list[Row]:
    """A fresh consumer alone against subscriber.py --once, on the same records, alternating."""
    delta = work / "delta"
    consumer_limits: list[Row] = []
    subscribes: list[tuple[float, int]] = []
    for round_ in range(1, args.repeat + 1):
        log(f"round {round_}: consumer alone ...")
        consumer_limits.append(consumer_limit(cfg, "sale", args.sales))
        log(f"round {round_}: subscriber.py --once ...")
        target = delta if round_ == 1 else work / f"delta{round_}"
        subscribes.append(run("subscriber.py", cfg_path, "--once", "--delta-path", str(target)))
    climit = min(consumer_limits, key=lambda r: r.seconds)
    seconds, _ = min(subscribes)
    peak = max(r for _, r in subscribes) / 1024
    note = f"peak RSS {peak:.0f} MB, {files(delta / 'sale')} files"
    rows = [climit, Row("subscriber.py --once (whole process)", total, seconds, limit=climit.rate, note=note)]
    log("; ".join(f"{r.stage}: {r.rate:,.0f} records/s" for r in rows))
    return rows


def declarations() -> str:
    """The column types config.toml declares for the sample topics (its [topic.*] tables)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    return text[text.index("\n[topic.") : text.index("\n[query]")] + "\n"


def typed_stage(args: argparse.Namespace, cfg_path: Path, work: Path, total: int) -> list[Row]:
    """subscriber.py --once with the sample's declared columns against the same run without, in
    alternating rounds; then the same 1M sales published again into the typed tables."""
    typed_cfg = work / "typed.toml"
    typed_cfg.write_text(cfg_path.read_text(encoding="utf-8") + declarations(), encoding="utf-8")
    plain: list[float] = []
    typed: list[float] = []
    for round_ in range(1, args.repeat + 1):
        log(f"round {round_}: subscriber.py --once, text ...")
        plain.append(run("subscriber.py", cfg_path, "--once", "--delta-path", str(work / f"text{round_}"))[0])
        log(f"round {round_}: subscriber.py --once, declared columns ...")
        typed.append(
            run("subscriber.py", typed_cfg, "--once", "--delta-path", str(work / f"typed{round_}"))[0]
        )
    rows = [
        Row("subscriber.py --once, every value text", total, min(plain)),
        Row("subscriber.py --once, declared columns", total, min(typed), limit=total / min(plain)),
    ]
    log("the same sales published again ...")
    target = work / f"typed{args.repeat}"
    before = DeltaTable(str(target / "sale"))
    files = sorted(before.file_uris())
    run("publisher.py", cfg_path, "--topics", "sale")
    seconds, _ = run("subscriber.py", typed_cfg, "--once", "--delta-path", str(target), "--topics", "sale")
    after = DeltaTable(str(target / "sale"))
    same = sorted(after.file_uris()) == files
    note = (
        f"{after.version() - before.version()} commits, "
        f"{'no data file added or removed' if same else 'data files changed'}"
    )
    rows.append(Row("subscriber.py --once, the same sales again (unchanged)", args.sales, seconds, note=note))
    log("; ".join(f"{r.stage}: {r.rate:,.0f} records/s" for r in rows))
    return rows


def query_stage(cfg: config.Config, cfg_path: Path, work: Path) -> list[Row]:
    """The report in process, and query.py writing it as Parquet."""
    log("query.py ...")
    started = time.monotonic()
    built = report.make(Tables.at(work / "delta"), cfg.query.tables)
    in_process = time.monotonic() - started
    seconds, _ = run("query.py", cfg_path, "--format", "parquet", "--output", str(work / "report.parquet"))
    return [
        Row("query.py report (in process)", built.frame.height, in_process),
        Row("query.py --format parquet (whole process)", built.frame.height, seconds),
    ]


@contextlib.contextmanager
def running_broker(kind: str, work: Path) -> Iterator[EmbeddedBroker | ApacheKafka]:
    """The broker the run measures on, stopped when it ends."""
    broker: EmbeddedBroker | ApacheKafka = (
        ApacheKafka(work / "kafka-data") if kind == "kafka" else EmbeddedBroker()
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def freshness_line(latencies: list[float], args: argparse.Namespace, client_files: int) -> str:
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"freshness (send -> visible in Delta, {len(latencies)} rows at {args.fresh_rate:g}/s): "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"client table files after {args.fresh_rows} small commits: {client_files}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--fresh-rows", type=int, default=200, help="rows for the freshness test")
    parser.add_argument("--fresh-rate", type=float, default=20.0, help="rows per second sent")
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of client limit vs script")
    parser.add_argument(
        "--broker",
        choices=("embedded", "kafka"),
        default="embedded",
        help="the embedded broker (Tansu), or Apache Kafka (Java 17+, fetched with Maven)",
    )
    parser.add_argument(
        "--clients",
        type=lambda text: text.split(","),
        default=["kafka-python", "confluent-kafka"],
        help="the clients to measure the publisher and the subscriber on, comma-separated "
        "(kafka-python always)",
    )
    args = parser.parse_args()
    if unknown := set(args.clients) - {"kafka-python", "confluent-kafka"}:
        parser.error(f"--clients: unknown {', '.join(sorted(unknown))}")
    if "confluent-kafka" in args.clients and importlib.util.find_spec("confluent_kafka") is None:
        parser.error("--clients confluent-kafka needs the package: pip install confluent-kafka")

    work = args.workdir
    if work is None:
        work = Path(tempfile.mkdtemp(prefix="deltastream-bench-"))
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    raw, delta = work / "data", work / "delta"
    sizes = sampledata.Sizes(
        clients=max(100, args.sales // 100), employees=max(50, args.sales // 1000), sales=args.sales
    )
    log(f"generating {args.sales:,} sales in {raw} ...")
    sampledata.generate(raw, sizes)
    extra: list[str] = []
    with running_broker(args.broker, work) as broker:
        cfg_path = write_config(work / "config.toml", broker.bootstrap_servers, raw, delta)
        cfg = config.load(cfg_path)
        admin = clients.admin(cfg, patience_s=30)
        # The bare producers' topics, with the partitions publisher.py gives its own.
        bare = [f"bench-{kind}-{n}" for kind in ("raw", "fast") for n in range(1, args.repeat + 1)]
        clients.ensure_topics(admin, bare, 3, 1)
        admin.close()

        rows = publish_stage(args, cfg, cfg_path, raw)
        if "confluent-kafka" in args.clients:
            rows += librdkafka_stage(args, cfg, cfg_path, raw)
        total = args.sales + sizes.clients + sizes.employees + len(sampledata.DEPARTMENTS)
        rows += subscribe_stage(args, cfg, cfg_path, work, total)
        if "confluent-kafka" in args.clients:
            rows += librdkafka_subscribe_stage(args, cfg, work, total)
        rows += typed_stage(args, cfg_path, work, total)
        rows += query_stage(cfg, cfg_path, work)
        log("MERGE cost ...")
        rows.extend(merge_cost(delta, args.sales))
        log("wide records ...")
        rows.extend(wide_update(work, rows=min(10_000, max(1000, args.sales))))
        log("freshness ...")
        fresh_cfg = write_config(work / "fresh.toml", broker.bootstrap_servers, raw, delta)
        latencies = freshness(broker.bootstrap_servers, fresh_cfg, delta, args.fresh_rows, args.fresh_rate)
        client_files = files(delta / "client")

    if latencies:
        extra.append(freshness_line(latencies, args, client_files))
    print_table(rows, [f"broker: {args.broker}", *extra])
    return 0


def print_table(rows: list[Row], extra: list[str]) -> None:
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| stage | records | seconds | records/s | vs client limit | notes |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        ratio = f"{row.rate / row.limit:.2f}x" if row.limit else ""
        rate = f"{row.rate:,.0f}" if row.records > 1 else ""  # one record: a latency, not a rate
        print(f"| {row.stage} | {row.records:,} | {row.seconds:.2f} | {rate} | {ratio} | {row.note} |")
    for line in extra:
        print(f"\n{line}")


if __name__ == "__main__":
    sys.exit(main())
