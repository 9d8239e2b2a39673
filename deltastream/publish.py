"""CSV rows to Kafka: one JSON object of strings per row, keyed by id.

Rows are sent one by one as they are read. They are confirmed in batches: every ``batch_size``
rows, and when paced by ``rate`` at least every second, the rows of a batch are each
acknowledged by the broker or counted as failed, with one log line. Unpaced, a batch is confirmed
while the next one is being sent, so the producer never sits idle; paced, it is confirmed at once.

A stop (Ctrl-C or SIGTERM, through the ``stop`` event) ends reading before the next row; the rows
already sent are still confirmed (Ctrl-C again gives up waiting), the topics not begun are left,
and the summary says, per topic, what the broker confirmed and from which line nothing was read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from deltastream import clients, compat, logs
from deltastream.config import Config
from deltastream.errors import KafkaOperationError, PublishIncomplete, SourceError, Stopped
from deltastream.logs import counted
from deltastream.source import Rejected, Row, count_lines, csv_path, problem, read_rows

log = logging.getLogger(__name__)

#: Files with at least this many lines get a progress bar (on a terminal).
PROGRESS_MIN_LINES = 20_000
#: Failed sends logged one by one per topic before the rest are only counted.
FAILURES_LOGGED = 10
#: Rejected rows logged one by one per topic before the rest are only counted.
REJECTIONS_LOGGED = 100
#: A paced publisher confirms and logs what it sent at least this often.
PACED_BATCH_S = 1.0
#: A paced publisher that fell this far behind its rate starts counting again, instead of
#: sending a burst to catch up.
PACER_SLACK_S = 1.0
#: Compact JSON with non-ASCII text kept as UTF-8; one encoder for every row.
ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: What a re-run does with rows that arrived already.
AGAIN = "publishing again is safe: the subscriber upserts by id, so a row sent twice is stored once"


@dataclass
class TopicResult:
    """What happened to one topic's CSV file.

    ``read`` rows = ``sent`` (acknowledged by the broker) + ``rejected`` (bad rows, not sent) +
    ``failed`` (sends that failed, or that a second Ctrl-C left unconfirmed: ``unconfirmed``).
    """

    topic: str
    path: Path
    read: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    unconfirmed: int = 0
    error: str | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    first_rejected: str | None = None
    #: False when a stop came before this topic's turn.
    started: bool = False
    #: The last line read, and whether a stop ended reading there.
    last_line: int = 0
    stopped: bool = False

    def note_rejected(self, item: Rejected) -> None:
        """Count a row that cannot be sent; the first few are logged one by one."""
        self.rejected += 1
        if self.first_rejected is None:
            self.first_rejected = f"line {item.line}: {item.reason}"
        if self.rejected <= REJECTIONS_LOGGED:
            log.warning("%s", item)
        elif self.rejected == REJECTIONS_LOGGED + 1:
            log.warning(
                "%s: more rows rejected; they are not logged one by one, the summary counts them all",
                self.topic,
            )

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
        return (
            self.started
            and not self.stopped
            and self.error is None
            and self.rejected == 0
            and self.failed == 0
        )

    @property
    def note(self) -> str:
        """The summary's last column: what went wrong, or where a stop left the file."""
        if not self.started:
            return "not started (stopped before its turn)"
        parts = []
        if self.error:
            parts.append(self.error)
        if self.stopped:
            parts.append(f"stopped after line {self.last_line}: the lines after it were not read")
        if self.unconfirmed:
            parts.append(f"{counted(self.unconfirmed, 'row')} sent but not confirmed (they may have arrived)")
        if not parts and self.failures:
            parts.append(self.failures[0])
        if not parts and self.first_rejected:
            parts.append(f"first rejected: {self.first_rejected}")
        return "; ".join(parts)

    def problems(self) -> str:
        """What was not sent, in a few words, for the closing line; empty when all was."""
        parts = []
        if not self.started:
            parts.append("not started")
        if self.error:
            parts.append(self.error.removeprefix(f"{self.path}: "))
        if self.rejected:
            parts.append(f"{counted(self.rejected, 'row')} rejected")
        if self.failed:
            parts.append(f"{counted(self.failed, 'send')} failed")
        return ", ".join(parts)


class Pacer:
    """Spaces rows out at ``rate`` per second (0: no limit); a stop cuts a wait short."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.count = 0

    @property
    def paced(self) -> bool:
        return self.rate > 0

    def wait_turn(self, stop: threading.Event) -> None:
        """Wait until the next row is due."""
        if self.rate <= 0:
            return
        due = self.started + self.count / self.rate
        self.count += 1
        late = time.monotonic() - due
        if late > PACER_SLACK_S:  # fell behind (a slow confirmation): no burst to catch up
            self.started += late
        elif late < 0:
            stop.wait(-late)


@dataclass
class Batch:
    """Rows on their way: the keys and the futures of their sends, confirmed together.

    ``keys`` gets a row's key before its send, ``futures`` its future after: a row whose send a
    second Ctrl-C cut short has a key and no future.
    """

    number: int
    started: float
    rows: int = 0
    keys: list[str] = field(default_factory=list)
    futures: list[FutureRecordMetadata] = field(default_factory=list)
    settled: bool = False


def wait_for(batch: Batch, timeout_s: float) -> None:
    """Wait until every send of ``batch`` is acknowledged or has failed."""
    for future in batch.futures:
        if not future.is_done:
            with contextlib.suppress(KafkaError):
                future.get(timeout=timeout_s)


def settle(batch: Batch, result: TopicResult, log_line: bool = True) -> None:
    """Count the rows of ``batch``: acknowledged, failed, or not confirmed yet (given up on)."""
    if batch.settled:
        return
    batch.settled = True
    sent = unconfirmed = 0
    for key, future in zip(batch.keys, batch.futures, strict=False):
        if not future.is_done:
            unconfirmed += 1
        elif future.failed():
            result.note_failure(key, future.exception)
        else:
            sent += 1
    unconfirmed += len(batch.keys) - len(batch.futures)
    result.sent += sent
    result.unconfirmed += unconfirmed
    result.failed += unconfirmed
    if log_line and batch.futures:
        failed = len(batch.futures) - sent - unconfirmed
        log.info(
            "%s: batch %d: %s sent in %.0f ms%s (%s so far)",
            result.topic,
            batch.number,
            counted(sent, "row"),
            (time.monotonic() - batch.started) * 1000,
            f", {failed:,} failed" if failed else "",
            f"{result.sent:,}",
        )


def confirm(batch: Batch, result: TopicResult, timeout_s: float) -> None:
    """Wait for every row of ``batch`` to be acknowledged or to fail; count it and log one line."""
    wait_for(batch, timeout_s)
    settle(batch, result)


@contextlib.contextmanager
def progress(path: Path, topic: str) -> Iterator[tqdm[Any]]:
    """A progress bar on stderr for a big file when stderr is a terminal; log lines go above it."""
    show = sys.stderr.isatty()
    lines = 0
    if show:
        try:
            lines = count_lines(path)
        except OSError:
            show = False  # reading will say what is wrong
    show = show and lines >= PROGRESS_MIN_LINES
    bar = tqdm(total=max(lines - 1, 0), desc=topic, unit="rows", disable=not show, file=sys.stderr)
    with bar:
        if not show:
            yield bar
            return
        with logging_redirect_tqdm(loggers=logs.console_loggers()):
            yield bar


def publish_topic(
    producer: KafkaProducer,
    cfg: Config,
    topic: str,
    pacer: Pacer | None = None,
    stop: threading.Event | None = None,
) -> TopicResult:
    """Send every row of ``raw_path/<topic>.csv`` to ``topic``; never raises for bad rows or files.

    A second Ctrl-C (``KeyboardInterrupt``) stops waiting for confirmations: the rows not
    confirmed yet are counted as failed and :attr:`TopicResult.unconfirmed`.
    """
    pacer = pacer or Pacer(0)
    stop = stop or threading.Event()
    path = csv_path(cfg.publisher.raw_path, topic)
    result = TopicResult(topic, path)
    if stop.is_set():
        return result
    result.started = True
    started = time.monotonic()
    reason = problem(path)
    if reason is not None:
        result.error = f"{path}: {reason}"
        log.error("%s; topic %s not published", result.error, topic)
        return result
    timeout_s = cfg.publisher.delivery_timeout_ms / 1000 + 5
    batches: list[Batch] = []
    try:
        with progress(path, topic) as bar:
            _send_rows(producer, cfg, result, pacer, stop, batches, bar, timeout_s)
        if stop.is_set():
            # Usually done in a few milliseconds; say so only when the broker keeps us waiting.
            with contextlib.suppress(KafkaError):
                producer.flush(timeout=min(1.0, timeout_s))
        if stop.is_set() and any(not f.is_done for b in batches if not b.settled for f in b.futures):
            log.warning(
                "%s: waiting up to %.0f s for the broker to confirm the rows sent (Ctrl-C: stop waiting)",
                topic,
                timeout_s,
            )
        producer.flush(timeout=timeout_s)
        for batch in batches:
            confirm(batch, result, timeout_s)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, count what is not confirmed
        stop.set()
        result.stopped = True
        for batch in batches:
            settle(batch, result, log_line=False)
    except KafkaError as exc:  # flush timed out: the rows not acknowledged by now count as failed
        log.error("%s: %s", topic, exc)
        for batch in batches:
            settle(batch, result)
    result.seconds = time.monotonic() - started
    return result


def _send_rows(
    producer: KafkaProducer,
    cfg: Config,
    result: TopicResult,
    pacer: Pacer,
    stop: threading.Event,
    batches: list[Batch],
    bar: tqdm[Any],
    timeout_s: float,
) -> None:
    """Read and send rows until the file ends, a stop, or an error that ends the file."""
    topic = result.topic
    size = cfg.publisher.batch_size
    rows = read_rows(result.path, cfg.general.id_column)
    current = Batch(1, time.monotonic())
    batches.append(current)
    try:
        while True:
            pacer.wait_turn(stop)
            if stop.is_set():
                result.stopped = True
                break
            item = next(rows, None)
            if item is None:
                break
            value = ENCODER.encode(item.values).encode() if isinstance(item, Row) else b""
            # Counted as read and as in hand together, so that a second Ctrl-C at any point
            # leaves every row read either sent, rejected, failed or unconfirmed.
            result.read += 1
            result.last_line = item.last
            current.rows += 1
            if isinstance(item, Row):
                current.keys.append(item.key)
                send(producer, topic, item.key, value, current, result)
            else:
                result.note_rejected(item)
            if current.rows >= size or (pacer.paced and time.monotonic() - current.started >= PACED_BATCH_S):
                bar.update(current.rows)
                # Paced, a batch is confirmed at once, so the log follows the rows as they go;
                # unpaced, the previous one is, while this one is on its way.
                previous = [b for b in batches if not b.settled and (pacer.paced or b is not current)]
                for batch in previous:
                    confirm(batch, result, timeout_s)
                batches[:] = [b for b in batches if not b.settled]
                current = Batch(current.number + 1, time.monotonic())
                batches.append(current)
    except SourceError as exc:
        result.error = str(exc)
        if result.read:
            log.error("%s; the rows before it are sent", exc)
        else:
            log.error("%s; topic %s not published", exc, topic)
    finally:
        rows.close()
    bar.update(current.rows)


def send(
    producer: KafkaProducer, topic: str, key: str, value: bytes, batch: Batch, result: TopicResult
) -> None:
    """Hand one row (its key already in ``batch.keys``) to the producer; a send refused at once
    (too big, the buffer full for too long) counts as failed."""
    try:
        future = producer.send(topic, key=key.encode(), value=value)
    except KafkaError as exc:
        batch.keys.pop()
        result.note_failure(key, exc)
        return
    batch.futures.append(future)


def create_topics(cfg: Config, topics: Sequence[str], stop: threading.Event) -> dict[str, str]:
    """Create the topics that do not exist yet; returns the ones that could not be, with why.

    Raises :class:`clients.Interrupted` when a stop comes while waiting for a broker.
    """
    admin = clients.admin(cfg, patience_s=cfg.kafka.connect_timeout_s, stop=stop)
    refused: dict[str, str] = {}
    try:
        for topic in topics:
            try:
                clients.ensure_topics(
                    admin, [topic], cfg.publisher.partitions, cfg.publisher.replication_factor
                )
            except (KafkaOperationError, KafkaError) as exc:
                refused[topic] = f"cannot create the topic ({exc})"
                log.error("%s: %s; topic not published", topic, refused[topic])
    finally:
        admin.close()
    return refused


def publish(cfg: Config, stop: threading.Event | None = None) -> list[TopicResult]:
    """Publish every configured topic's CSV file, one topic after the other.

    A file that is missing or unreadable, a topic the broker will not create and a bad row each
    spoil only their own topic (or row). ``stop`` ends the run before the next row.
    """
    stop = stop or threading.Event()
    paths = {topic: csv_path(cfg.publisher.raw_path, topic) for topic in cfg.topics}
    present = [topic for topic, path in paths.items() if problem(path) is None]
    results: list[TopicResult] = []
    try:
        refused = create_topics(cfg, present, stop)
        producer = clients.producer(cfg, stop=stop)
    except (clients.Interrupted, KeyboardInterrupt):
        return [TopicResult(topic, path) for topic, path in paths.items()]
    pacer = Pacer(cfg.publisher.rate)
    try:
        for topic in cfg.topics:
            if topic in refused and not stop.is_set():
                results.append(TopicResult(topic, paths[topic], started=True, error=refused[topic]))
            else:
                results.append(publish_topic(producer, cfg, topic, pacer, stop))
    finally:
        _close(producer, hard=any(r.unconfirmed for r in results))
    return results


def _close(producer: KafkaProducer, hard: bool) -> None:
    """Close the producer; after a second Ctrl-C without waiting for what is still in flight."""
    if hard:
        compat.close_producer_now(producer)
        return
    try:
        producer.close()
    except (KafkaError, KeyboardInterrupt):
        compat.close_producer_now(producer)


def print_summary(
    results: Iterable[TopicResult], out: TextIO | None = None, secrets: Sequence[str] = ()
) -> None:
    """A table of rows read, sent, rejected and failed per topic (to stdout by default)."""
    out = out or sys.stdout
    rows = [("topic", "read", "sent", "rejected", "failed", "rows/s", "note")]
    for r in results:
        rate = f"{r.sent / r.seconds:,.0f}" if r.seconds > 0 and r.sent else "-"
        note = logs.redact(r.note, secrets)
        rows.append((r.topic, f"{r.read:,}", f"{r.sent:,}", f"{r.rejected:,}", f"{r.failed:,}", rate, note))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)]
        print("  ".join([*cells, row[6]]).rstrip(), file=out)


def check(results: Sequence[TopicResult], signum: int | None = None) -> None:
    """Raise what the closing line says: :class:`Stopped` after a signal (exit 128 + signal),
    :class:`PublishIncomplete` when anything was not sent (exit 1); nothing when all was."""
    sent = sum(r.sent for r in results)
    if signum and any(r.stopped or not r.started for r in results):
        unconfirmed = sum(r.unconfirmed for r in results)
        where = [f"{r.topic} after line {r.last_line}" for r in results if r.stopped]
        left = [r.topic for r in results if not r.started]
        detail = f"the broker confirmed {counted(sent, 'row')}"
        if where:
            detail += f"; reading stopped at {', '.join(where)}"
        if left:
            detail += f"; not started: {', '.join(left)}"
        if unconfirmed:
            detail += f"; {counted(unconfirmed, 'row')} sent but not confirmed"
        raise Stopped(signum, f"{detail} (the summary has each topic); {AGAIN}")
    bad = [r for r in results if not r.ok]
    if bad:
        what = "; ".join(f"{r.topic}: {r.problems()}" for r in bad)
        rest = f"the other rows were sent ({counted(sent, 'row')} in all)" if sent else "no row was sent"
        raise PublishIncomplete(f"{counted(len(bad), 'topic')} not sent in full ({what}); {rest}")
