"""CSV rows to Kafka: one JSON object of strings per row, keyed by id, in batches."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from deltastream import clients
from deltastream.config import Config
from deltastream.errors import SourceError
from deltastream.source import Rejected, batched, count_lines, csv_path, read_rows

log = logging.getLogger(__name__)

#: Files with at least this many lines get a progress bar (on a terminal).
PROGRESS_MIN_LINES = 20_000
#: Failed sends logged one by one per topic before the rest are only counted.
FAILURES_LOGGED = 10
#: Compact JSON with non-ASCII text kept as UTF-8; one encoder for every row.
ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass
class TopicResult:
    """What happened to one topic's CSV file."""

    topic: str
    path: Path
    read: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    error: str | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def note_failure(self, key: str, exc: BaseException | None) -> None:
        """Count a send that failed for good; the first few are logged one by one."""
        self.failed += 1
        if len(self.failures) < FAILURES_LOGGED:
            self.failures.append(f"id {key}: {exc}")
            log.error("%s: send of id %s failed: %s", self.topic, key, exc)
        elif self.failed == FAILURES_LOGGED + 1:
            log.error("%s: more sends failed; the summary counts them all", self.topic)

    @property
    def ok(self) -> bool:
        return self.error is None and self.rejected == 0 and self.failed == 0


class Pacer:
    """Sleeps so that rows go out at no more than ``rate`` per second (0: as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.count = 0

    def wait(self, rows: int) -> None:
        self.count += rows
        if self.rate <= 0:
            return
        ahead = self.count / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


@dataclass
class SentBatch:
    """A batch whose rows are on their way: the keys and the futures of their sends."""

    number: int
    started: float
    keys: list[str] = field(default_factory=list)
    futures: list[FutureRecordMetadata] = field(default_factory=list)


def confirm(batch: SentBatch, result: TopicResult, timeout_s: float) -> None:
    """Wait until every row of ``batch`` is acknowledged or has failed; count it and log one line."""
    failed = 0
    for key, future in zip(batch.keys, batch.futures, strict=True):
        if not future.is_done:
            with contextlib.suppress(KafkaError):
                future.get(timeout=timeout_s)
        if future.failed():
            failed += 1
            result.note_failure(key, future.exception)
    result.sent += len(batch.futures) - failed
    log.info(
        "%s: batch %d: %d rows sent in %.0f ms (%d so far)",
        result.topic,
        batch.number,
        len(batch.futures) - failed,
        (time.monotonic() - batch.started) * 1000,
        result.sent,
    )


def publish_topic(
    producer: KafkaProducer, cfg: Config, topic: str, pacer: Pacer | None = None
) -> TopicResult:
    """Send every row of ``raw_path/<topic>.csv`` to ``topic``; never raises for bad rows.

    Each batch is confirmed (every row acknowledged by the broker, or counted as failed) and
    logged while the next one is already being sent, so the producer never sits idle.
    """
    path = csv_path(cfg.publisher.raw_path, topic)
    result = TopicResult(topic, path)
    started = time.monotonic()
    if not path.is_file():
        result.error = f"{path}: file not found"
        log.error("%s: file not found; topic %s not published", path, topic)
        return result
    lines = count_lines(path)
    bar = tqdm(
        total=max(lines - 1, 0),
        desc=topic,
        unit="rows",
        disable=None if lines >= PROGRESS_MIN_LINES else True,
        file=sys.stderr,
    )
    timeout_s = cfg.publisher.delivery_timeout_ms / 1000 + 5
    rows = read_rows(path, cfg.general.id_column)
    pending: SentBatch | None = None
    try:
        with bar, logging_redirect_tqdm(loggers=[logging.getLogger("deltastream")]):
            for number, batch in enumerate(batched(rows, cfg.publisher.batch_size), 1):
                current = SentBatch(number, time.monotonic())
                for item in batch:
                    result.read += 1
                    if isinstance(item, Rejected):
                        result.rejected += 1
                        log.warning("%s", item)
                        continue
                    value = ENCODER.encode(item.values).encode()
                    try:
                        future = producer.send(topic, key=item.key.encode(), value=value)
                    except KafkaError as exc:
                        result.note_failure(item.key, exc)
                        continue
                    current.keys.append(item.key)
                    current.futures.append(future)
                if pending is not None:
                    confirm(pending, result, timeout_s)
                pending = current
                bar.update(len(batch))
                if pacer is not None:
                    pacer.wait(len(batch))
    except SourceError as exc:
        result.error = str(exc)
        log.error("%s", exc)
    producer.flush()
    if pending is not None:
        confirm(pending, result, timeout_s)
    result.seconds = time.monotonic() - started
    return result


def publish(cfg: Config) -> list[TopicResult]:
    """Publish every configured topic's CSV file; topics whose file is missing are skipped."""
    present = [t for t in cfg.topics if csv_path(cfg.publisher.raw_path, t).is_file()]
    admin = clients.admin(cfg, patience_s=cfg.kafka.connect_timeout_s)
    try:
        clients.ensure_topics(admin, present, cfg.publisher.partitions, cfg.publisher.replication_factor)
    finally:
        admin.close()
    producer = clients.producer(cfg)
    pacer = Pacer(cfg.publisher.rate)
    try:
        return [publish_topic(producer, cfg, topic, pacer) for topic in cfg.topics]
    finally:
        producer.close()


def print_summary(results: Iterable[TopicResult], out: TextIO | None = None) -> None:
    """A table of rows read, sent, rejected and failed per topic (to stdout by default)."""
    out = out or sys.stdout
    rows = [("topic", "read", "sent", "rejected", "failed", "rows/s", "note")]
    for r in results:
        rate = f"{r.sent / r.seconds:,.0f}" if r.seconds > 0 and r.sent else "-"
        note = r.error or ("; ".join(r.failures[:1]) if r.failures else "")
        rows.append((r.topic, f"{r.read:,}", f"{r.sent:,}", f"{r.rejected:,}", f"{r.failed:,}", rate, note))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)]
        print("  ".join([*cells, row[6]]).rstrip(), file=out)
