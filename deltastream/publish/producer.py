"""CSV rows to Kafka: one JSON object of strings per row (or an Avro record, for a topic whose
format is avro: :mod:`deltastream.avro.writer`), keyed by id.

Rows are sent one by one as they are read, or, for a file read in one pass (:mod:`deltastream.publish.bulk`),
:data:`CHUNK` at a time, already encoded. They are confirmed in batches: every ``batch_size``
rows, and when paced by ``rate`` at least every second, the rows of a batch are each
acknowledged by the broker or counted as failed, with one log line. Unpaced, a batch is confirmed
while the next one is being sent, so the producer never sits idle; paced, it is confirmed at once.

A stop (Ctrl-C or SIGTERM, through the ``stop`` event) ends reading before the next row; the rows
already sent are still confirmed (Ctrl-C again gives up waiting), the topics not begun are left,
and the summary says, per topic, what the broker confirmed and from which line nothing was read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from deltastream.config import Config
from deltastream.errors import Interrupted, KafkaOperationError, RegistryUnavailable, SourceError
from deltastream.kafka import clients
from deltastream.kafka.producers import FlushTimedOut, Producer, SendRefused
from deltastream.kafka.topics import BrokerGone
from deltastream.publish import bulk, folders
from deltastream.publish.confirm import InFlight, confirm, settle, turn
from deltastream.publish.encoders import TopicEncoder
from deltastream.publish.pacing import PACED_BATCH_S, Pacer
from deltastream.publish.progress import Bar, progress
from deltastream.publish.results import TopicResult
from deltastream.publish.source import Rejected, Row, read_rows
from deltastream.schema import NotConverted

log = logging.getLogger(__name__)

#: Rows of a file read in one pass handed to the producer at once (a stop waits for one chunk).
CHUNK = 1000


class Sender:
    """Sends topics' CSV rows through one producer, one topic at a time, paced by ``pacer``, until
    each file ends or ``stop`` is set."""

    def __init__(
        self,
        producer: Producer,
        cfg: Config,
        pacer: Pacer | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.producer = producer
        self.cfg = cfg
        self.pacer = pacer or Pacer(0)
        self.stop = stop or threading.Event()
        #: How long confirmations are waited for.
        self.timeout_s = cfg.publisher.delivery_timeout_ms / 1000 + 5

    def publish_topic(self, topic: str, folder: folders.Folder) -> TopicResult:
        """Send every row of ``topic``'s file in ``folder`` to ``topic``; never raises for bad rows
        or files.

        A second Ctrl-C (``KeyboardInterrupt``) stops waiting for confirmations: the rows not
        confirmed yet are counted as failed and :attr:`TopicResult.unconfirmed`.
        """
        result = TopicResult.named(topic, folder.name(topic))
        if self.stop.is_set():
            return result
        result.started = True
        started = time.monotonic()
        try:
            with folder.fetched(topic) as path:
                result.path = path
                self._publish_file(result, path)
        except SourceError as exc:
            result.error = str(exc)
            log.error("%s; topic %s not published", result.error, topic)
        result.seconds = time.monotonic() - started
        return result

    def _publish_file(self, result: TopicResult, path: Path) -> None:
        producer, stop, timeout_s = self.producer, self.stop, self.timeout_s
        topic = result.topic
        batches: list[InFlight] = []
        try:
            with progress(path, topic) as bar:
                self._send_rows(result, batches, bar)
            if stop.is_set():
                # Usually done in a few milliseconds; say so only when the broker keeps us waiting.
                with contextlib.suppress(FlushTimedOut):
                    producer.flush(min(1.0, timeout_s))
            if stop.is_set() and any(not f.is_done for b in batches if not b.settled for f in b.futures):
                log.warning(
                    "%s: waiting up to %.0f s for the broker to confirm the rows sent (Ctrl-C: stop waiting)",
                    topic,
                    timeout_s,
                )
            producer.flush(timeout_s)
            for batch in batches:
                confirm(batch, result, timeout_s, self.pacer.paced)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, count what is not confirmed
            stop.set()
            result.stopped = True
            producer.serve()  # what the broker acknowledged meanwhile counts as sent
            for batch in batches:
                settle(batch, result, log_line=False)
        except FlushTimedOut as exc:  # the rows not acknowledged by now count as failed
            log.error("%s: %s", topic, exc)
            producer.serve()
            for batch in batches:
                settle(batch, result, paced=self.pacer.paced)

    def _send_rows(self, result: TopicResult, batches: list[InFlight], bar: Bar) -> None:
        """Read and send rows until the file ends, a stop, or an error that ends the file."""
        cfg, pacer, stop, timeout_s = self.cfg, self.pacer, self.stop, self.timeout_s
        topic = result.topic
        size = cfg.publisher.batch_size
        rows = rows_to_send(cfg, topic, result.path, pacer.paced)
        current = InFlight(1, time.monotonic())
        batches.append(current)
        if isinstance(rows, bulk.Bulk):
            send_bulk(self.producer, rows, result, batches, bar, stop, size, timeout_s)
            bar.update(batches[-1].rows)
            return
        encode = TopicEncoder(cfg, topic).encode
        handed = 0  # rows given to the producer
        try:
            while True:
                pacer.wait_turn(stop)
                if stop.is_set():
                    result.stopped = True
                    break
                item = next(rows, None)
                if item is None:
                    break
                # Counted as read and as in hand together, so that a second Ctrl-C at any point
                # leaves every row read either sent, rejected, failed or unconfirmed.
                result.read += 1
                result.last_line = item.last
                current.rows += 1
                if isinstance(item, Rejected):
                    result.note_rejected(item)
                else:
                    handed += send_row(self.producer, encode, item, current, result)
                if current.rows >= size or (
                    pacer.paced and time.monotonic() - current.started >= PACED_BATCH_S
                ):
                    bar.update(current.rows)
                    current = turn(batches, result, timeout_s, pacer.paced)
        except (SourceError, RegistryUnavailable) as exc:
            result.error = str(exc)
            if handed:
                log.error("%s; the rows before it are sent", exc)
            else:
                log.error("%s; topic %s not published", exc, topic)
        finally:
            rows.close()
        bar.update(current.rows)


def send_bulk(  # noqa: PLR0913 (what the row-by-row loop of Sender has at hand)
    producer: Producer,
    rows: bulk.Bulk,
    result: TopicResult,
    batches: list[InFlight],
    bar: Bar,
    stop: threading.Event,
    size: int,
    timeout_s: float,
) -> None:
    """Send a file read in one pass (unpaced, every value encoded), :data:`CHUNK` rows at a
    time, in batches of ``size`` confirmed as the row-by-row loop does; a stop ends it before the
    next chunk."""
    keys, values = rows.keys, rows.values
    current = batches[-1]
    start = 0
    while start < len(keys):
        if stop.is_set():
            result.stopped = True
            return
        end = min(len(keys), start + min(CHUNK, size - current.rows))
        chunk = keys[start:end]
        # Counted as read and in hand before they go: a second Ctrl-C in the send leaves them
        # unconfirmed, as it does a row sent alone.
        result.read += end - start
        result.last_line = end + 1  # the first record is on line 2
        current.rows += end - start
        current.keys.extend(chunk)
        current.futures.extend(
            producer.send_many(result.topic, [k.encode() for k in chunk], values[start:end])
        )
        start = end
        if current.rows >= size:
            bar.update(current.rows)
            current = turn(batches, result, timeout_s, paced=False)


def rows_to_send(
    cfg: Config, topic: str, path: Path, paced: bool
) -> bulk.Bulk | Generator[Row | Rejected, None, None]:
    """The file's rows, encoded in one pass when they can be (JSON, unpaced), else one by one."""
    # A paced file is sent row by row anyway: the one-pass reader would only cost memory.
    bulky = None if paced or cfg.format(topic) == "avro" else bulk.read(path, cfg.general.id_column)
    return bulky or read_rows(path, cfg.general.id_column)


def send_row(
    producer: Producer,
    encode: Callable[[Row], tuple[str, bytes]],
    item: Row,
    batch: InFlight,
    result: TopicResult,
) -> bool:
    """Encode one row and send it; a value its type cannot hold rejects the row. Whether it was
    handed to the producer. An encoder that cannot work at all (the Schema Registry away) counts
    the row as failed, and its error ends the file."""
    try:
        key, value = encode(item)
    except NotConverted as exc:
        result.note_rejected(Rejected(result.path, item.line, str(exc), item.last))
        return False
    except (SourceError, RegistryUnavailable):
        result.failed += 1
        raise
    batch.keys.append(key)
    send(producer, key, value, batch, result)
    return True


def send(producer: Producer, key: str, value: bytes, batch: InFlight, result: TopicResult) -> None:
    """Hand one row of ``result.topic`` (its key already in ``batch.keys``) to the producer; a send
    refused at once (too big, the buffer full for too long) counts as failed."""
    try:
        future = producer.send(result.topic, key.encode(), value)
    except SendRefused as exc:
        batch.keys.pop()
        result.note_failure(key, exc)
        return
    batch.futures.append(future)


def create_topics(cfg: Config, topics: Sequence[str], stop: threading.Event) -> dict[str, str]:
    """Create the topics that do not exist yet; returns the ones that could not be, with why.

    Raises :class:`Interrupted` when a stop comes while waiting for a broker.
    """
    admin = clients.admin(cfg, patience_s=cfg.kafka.connect_timeout_s, stop=stop)
    refused: dict[str, str] = {}
    try:
        for topic in topics:
            try:
                clients.ensure_topics(
                    admin, [topic], cfg.publisher.partitions, cfg.publisher.replication_factor
                )
            except (KafkaOperationError, BrokerGone) as exc:
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
    folder = folders.of(cfg)
    present = [topic for topic in cfg.topics if folder.stamp(topic) is not None]
    results: list[TopicResult] = []
    clients.check_client(cfg)
    try:
        refused = create_topics(cfg, present, stop)
        producer = clients.producer(cfg, stop=stop)
    except (Interrupted, KeyboardInterrupt):
        return [TopicResult.named(topic, folder.name(topic)) for topic in cfg.topics]
    sender = Sender(producer, cfg, Pacer(cfg.publisher.rate), stop)
    try:
        for topic in cfg.topics:
            if topic in refused and not stop.is_set():
                result = TopicResult.named(topic, folder.name(topic), started=True, error=refused[topic])
                results.append(result)
            else:
                results.append(sender.publish_topic(topic, folder))
    finally:
        producer.close(hard=any(r.unconfirmed for r in results))
    return results


def follow_files(cfg: Config, stop: threading.Event) -> dict[str, int] | None:
    """``publisher.py --follow`` (:mod:`deltastream.publish.follow`): the rows sent per topic;
    ``None`` when a stop came before it began."""
    from deltastream.publish import follow

    clients.check_client(cfg)
    try:
        refused = create_topics(cfg, cfg.topics, stop)
        # Asked every few seconds: a broker gone keeps it waiting this long at most.
        admin = clients.admin(
            cfg,
            patience_s=cfg.kafka.connect_timeout_s,
            stop=stop,
            request_timeout_ms=clients.WATCH_TIMEOUT_MS,
        )
        producer = clients.producer(cfg, stop=stop)
    except (Interrupted, KeyboardInterrupt):
        return None
    for topic, why in refused.items():
        log.error("%s: %s; its file is not followed", topic, why)
    followed = [topic for topic in cfg.topics if topic not in refused]
    pub = cfg.publisher

    def topic_ids() -> dict[str, str] | None:
        try:
            clients.ensure_topics(admin, followed, pub.partitions, pub.replication_factor)
            snapshot = admin.describe(followed)
        except (BrokerGone, KafkaOperationError) as exc:
            log.debug("the topics could not be looked at: %s", exc)
            return None
        return {t: s.topic_id for t, s in snapshot.items() if s.topic_id is not None}

    timeout_s = pub.delivery_timeout_ms / 1000 + 5
    try:
        return follow.follow(cfg, producer, stop, timeout_s, topic_ids, skip=set(refused))
    finally:
        producer.close()
        admin.close()
