#!/usr/bin/env python3
"""Avro against JSON: decoding alone, each format's decode, and subscriber.py --once end to end.

    python bench/formats.py                   # 300k sales
    python bench/formats.py --sales 20000     # a quick look

It generates the sample sale file, encodes every row as publisher.py does (JSON objects of text;
Avro in the schema made from config.toml's declared sale columns) and measures, in memory:
fastavro reading the values alone (the limit the Avro format is held to), the Avro format's
decode (values to a typed frame), and the JSON format's decode with the same declared columns.
Then, with an embedded broker and a Schema Registry (Apicurio, Java 17+), publisher.py and
subscriber.py --once on each format, alternating. It prints a table.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from deltastream import config
from deltastream.avro.registry import Registry
from deltastream.avro.writer import AvroRows, record_schema
from deltastream.demo import sampledata
from deltastream.kafka.embedded import EmbeddedBroker
from deltastream.kafka.message import Record
from deltastream.kafka.registry import RegistryServer
from deltastream.publish.encoders import JsonObjects
from deltastream.subscribe.formats.avro import HEADER, AvroFormat
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.formats.typed import Declared

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import declarations, run  # noqa: E402  (the pipeline benchmark's helpers)

#: Messages per decode call: the subscriber's default max_batch_records.
BATCH = 20_000


def best_rate(count: int, repeat: int, work: Callable[[], Any]) -> float:
    """Records per second of the fastest of ``repeat`` runs of ``work``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def in_memory(
    rows: list[dict[str, str]], cfg: config.Config, registry: Registry, repeat: int
) -> list[tuple[str, float]]:
    declared = cfg.schema("sale").columns
    schema = record_schema("sale", list(rows[0]), declared, "id")
    schema_id = registry.register("bench-sale-value", schema)
    avro = AvroRows(schema, schema_id, declared, "id")
    objects = JsonObjects(rows[0])
    avro_messages = [Record(i, avro.encode(r)[1], r["id"].encode()) for i, r in enumerate(rows)]
    json_messages = [Record(i, objects.encode(r), r["id"].encode()) for i, r in enumerate(rows)]
    parsed = fastavro.parse_schema(schema)
    payloads = [m.value[HEADER:] for m in avro_messages if m.value]
    avro_format = AvroFormat("id", registry)
    json_format = JsonFormat("id", Declared("sale", cfg.schema("sale")))

    def fastavro_alone() -> None:
        for payload in payloads:
            fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)

    def decode(fmt: AvroFormat | JsonFormat, messages: list[Record]) -> Callable[[], None]:
        def work() -> None:
            for start in range(0, len(messages), BATCH):
                fmt.decode(messages[start : start + BATCH], {})

        return work

    count = len(rows)
    return [
        ("fastavro reading the values alone", best_rate(count, repeat, fastavro_alone)),
        (
            "Avro format: values to a typed frame",
            best_rate(count, repeat, decode(avro_format, avro_messages)),
        ),
        (
            "JSON format, declared columns: values to a typed frame",
            best_rate(count, repeat, decode(json_format, json_messages)),
        ),
    ]


def write_config(work: Path, bootstrap: str, fmt: str, registry: str, topic: str = "sale") -> Path:
    """A config in ``work`` for ``topic`` alone (its CSV in ``work/data``), its columns declared
    as config.toml declares the sale's."""
    path = work / f"{topic}.toml"
    raw = work / "data"
    path.write_text(
        f"""[general]
logging_level = "WARNING"
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
[kafka]
schema_registry_url = "{registry}"
[publisher]
raw_path = "{raw}"
batch_size = 10000
format = "{fmt}"
[subscriber]
delta_path = "delta"
group_id = "bench"
"""
        + declarations().replace("[topic.sale.columns]", f"[topic.{topic}.columns]")
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sales", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deltastream-formats-") as tmp:
        work = Path(tmp)
        paths = sampledata.generate(work / "data", sampledata.Sizes(sales=args.sales))
        with paths["sale"].open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        results: list[tuple[str, float]] = []
        with RegistryServer() as server, EmbeddedBroker() as broker:
            registry = Registry(server.url)
            base = write_config(work, broker.bootstrap_servers, "json", server.url)
            results += in_memory(rows, config.load(base), registry, args.repeat)
            seconds: dict[str, list[float]] = {"json": [], "avro": []}
            for round_ in range(args.repeat):
                for fmt in ("json", "avro"):
                    topic = f"{fmt}-sale-{round_}"
                    cfg = write_config(work, broker.bootstrap_servers, fmt, server.url, topic)
                    (work / "data" / f"{topic}.csv").write_bytes(paths["sale"].read_bytes())
                    run("publisher.py", cfg)
                    elapsed, _ = run(
                        "subscriber.py", cfg, "--once", "--delta-path", str(work / f"delta-{topic}")
                    )
                    seconds[fmt].append(elapsed)
            for fmt in ("json", "avro"):
                results.append(
                    (f"subscriber.py --once, {fmt} (whole process)", len(rows) / min(seconds[fmt]))
                )
    limit = results[0][1]
    print(f"\n{len(rows):,} sale records\n")
    print(f"{'stage':<58} {'records/s':>12} {'x fastavro alone':>17}")
    for stage, rate in results:
        print(f"{stage:<58} {rate:>12,.0f} {rate / limit:>16.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
