"""The subscriber's loop: poll Kafka into micro-batches, write each batch to Delta, then ack Kafka.

Delta is the source of truth for offsets. On every partition assignment the consumer seeks to the
offset after the one stored in the table (:mod:`deltastream.offsets`); the group offsets committed
to Kafka after each Delta commit are only there for lag tools.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from deltastream import clients, offsets
from deltastream.config import Config
from deltastream.decode import Message
from deltastream.errors import KafkaOperationError
from deltastream.sink import DeltaSink, WriteResult

log = logging.getLogger(__name__)

#: Poll timeout while a batch is open: how long "no new data" takes to notice.
QUIET_POLL_MS = 10
#: How often the subscriber asks whether a topic was created anew (a new topic id).
TOPIC_CHECK_S = 3.0


@dataclass
class Batch:
    """Messages polled since the last write: by topic, then by partition, in offset order."""

    started: float = 0.0
    size: int = 0
    by_topic: dict[str, dict[int, list[Message]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, records: dict[TopicPartition, list[Message]]) -> None:
        for tp, messages in records.items():
            if messages and not self.size:
                self.started = time.monotonic()
            self.by_topic[tp.topic].setdefault(tp.partition, []).extend(messages)
            self.size += len(messages)

    def drop(self, partitions: set[TopicPartition]) -> None:
        """Forget messages of revoked partitions: their next owner reads them from Delta's offset."""
        for tp in partitions:
            dropped = self.by_topic.get(tp.topic, {}).pop(tp.partition, [])
            self.size -= len(dropped)


def batch_full(batch: Batch, max_records: int) -> bool:
    return batch.size >= max_records


def batch_due(batch: Batch, max_latency_s: float, now: float) -> bool:
    return batch.size > 0 and now - batch.started >= max_latency_s


def caught_up_while_idle(batch: Batch, polled_records: bool, writer_idle: bool) -> bool:
    """Nothing more arrived and the writer is free: waiting longer would only add latency.

    When data trickles in, each arrival is written at once. Under load polls keep returning
    records and the writer is busy: the batch keeps growing while the previous one is written,
    and is handed over when the writer is free and the batch is due, or when it is full.
    """
    return batch.size > 0 and not polled_records and writer_idle


@dataclass
class Totals:
    """What a run did, for the closing summary."""

    records: int = 0
    upserts: int = 0
    deletes: int = 0
    dead: int = 0
    commits: int = 0

    def add(self, result: WriteResult) -> None:
        self.records += result.records
        self.upserts += result.upserts
        self.deletes += result.deletes
        self.dead += result.dead
        self.commits += 1


def finish_interrupted_rebalance(consumer: KafkaConsumer) -> None:
    """Keep a rebalance that a poll timed out in from being dropped (kafka-python 3.0.12).

    A rebalance started by a metadata change (partitions added, a topic created anew with another
    partition count) is asked for only through the coordinator's metadata snapshots. Once this
    member, as the group's leader, has computed the assignment, the coordinator stops reporting
    that a rejoin is needed; a poll that timed out before the SyncGroup answer then never applies
    it, and the member keeps its old partitions with heartbeats off, for good. Asking for the
    rejoin again while one is under way makes the next poll wait for it (or start it over).
    """
    coordinator: Any = getattr(consumer, "_coordinator", None)
    if getattr(coordinator, "rejoining", False) and not coordinator.need_rejoin():
        coordinator.request_rejoin()


class Seeker(ConsumerRebalanceListener):
    """Positions every newly assigned partition just after the offset stored in Delta.

    It runs on kafka-python's IO thread, where no blocking Kafka call is allowed: it only reads
    Delta logs and seeks. The rest (topic ids, end offsets) happens in :meth:`Subscriber.settle`.
    """

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.subscriber.batch.drop(set(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.subscriber.seek(assigned)
        self.subscriber.unsettled = True


class Subscriber:
    """Consumes the configured topics into their Delta tables, exactly once."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.topics = cfg.topics
        self.ids = offsets.AppIds(cfg.subscriber.group_id)
        self.sink = DeltaSink(
            cfg.subscriber.delta_path,
            cfg.general.id_column,
            self.ids,
            compact_every=cfg.subscriber.compact_every,
            vacuum_retention_hours=cfg.subscriber.vacuum_retention_hours,
            file_target_bytes=cfg.subscriber.file_target_kb * 1024,
        )
        self.batch = Batch()
        self.totals = Totals()
        self.stopping = threading.Event()
        self.unsettled = False
        self.empty_polls = 0
        self.end_offsets: dict[TopicPartition, int] = {}
        self.partitions: dict[str, int] = {}
        self.resized: dict[str, tuple[int, int]] = {}
        self.grouped = True
        self.consumer: KafkaConsumer | None = None
        self.admin: KafkaAdminClient | None = None
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-writer")
        self.pending: Future[tuple[list[WriteResult], dict[TopicPartition, int]]] | None = None

    # -- partitions -------------------------------------------------------------------------

    def fetch_topics(self) -> dict[str, clients.TopicState] | None:
        """The broker's current id and partition count of each topic, or ``None`` when it cannot
        say right now."""
        assert self.admin is not None
        try:
            return clients.topic_states(self.admin, self.topics)
        except KafkaError as exc:
            log.debug("cannot describe topics (%s); keeping what is known", exc)
            return None

    def apply_topics(self, current: dict[str, clients.TopicState]) -> set[str]:
        """Use the topic ids in ``current`` for offsets from now on; returns the topics whose id
        changed. Notes a change in partition count for :meth:`regroup`.

        Call it with no batch in flight: the writer must not see the ids change mid-batch.
        """
        ids = {t: state.topic_id for t, state in current.items()}
        changed = {t for t in self.topics if ids.get(t) != self.ids.topic_ids.get(t)}
        for topic in changed & current.keys() & self.partitions.keys():
            if current[topic].partitions != self.partitions[topic]:
                self.resized[topic] = (self.partitions[topic], current[topic].partitions)
        self.partitions.update({t: state.partitions for t, state in current.items()})
        self.ids = offsets.AppIds(self.cfg.subscriber.group_id, ids)
        self.sink.ids = self.ids
        return changed

    def refresh_topics(self) -> set[str]:
        current = self.fetch_topics()
        return set() if current is None else self.apply_topics(current)

    def check_topics(self) -> None:
        """Notice a topic deleted and created again (an in-memory broker restarted, say) even
        when the group did not rebalance, and read it by its new id from its start."""
        current = self.fetch_topics()
        if current is None or {t: s.topic_id for t, s in current.items()} == dict(self.ids.topic_ids):
            return
        self.collect()
        changed = self.apply_topics(current)
        assert self.consumer is not None
        moved = [tp for tp in self.consumer.assignment() if tp.topic in changed and tp.topic in current]
        if moved:
            log.warning(
                "%s: created anew on the broker; reading it by its new id",
                ", ".join(sorted({tp.topic for tp in moved})),
            )
            self.batch.drop(set(moved))
            self.seek(moved)

    def regroup(self) -> None:
        """Rejoin the group as a new member after a topic came back with another partition count.

        The group rebalances on such a change by itself, but a broker may hand a member that
        rejoins under the same id the assignment it had before (the embedded broker does): the
        new partitions would then be read by no one. A new member gets a fresh assignment, once
        the consumer's own metadata shows the new count (the group's leader assigns from it).
        """
        if not self.resized or not self.grouped:
            self.resized.clear()
            return
        consumer = self.consumer
        assert consumer is not None
        for topic, (_, count) in self.resized.items():
            if len(consumer.partitions_for_topic(topic) or ()) != count:
                return
        log.warning(
            "%s; rejoining the consumer group so that every partition is assigned",
            "; ".join(f"{t}: {old} -> {new} partitions" for t, (old, new) in sorted(self.resized.items())),
        )
        self.resized.clear()
        self.collect()
        consumer.unsubscribe()
        self.batch = Batch()
        consumer.subscribe(topics=list(self.topics), listener=Seeker(self))

    def seek(self, assigned: list[TopicPartition]) -> None:
        """Seek each partition to Delta's stored offset + 1, or to its beginning."""
        consumer = self.consumer
        assert consumer is not None
        by_topic: dict[str, list[int]] = defaultdict(list)
        for tp in assigned:
            by_topic[tp.topic].append(tp.partition)
        for topic, partitions in by_topic.items():
            stored = self.sink.stored_offsets(topic, partitions)
            for partition in sorted(partitions):
                tp = TopicPartition(topic, partition)
                if partition in stored:
                    consumer.seek(tp, stored[partition] + 1)
                else:
                    consumer.seek_to_beginning(tp)
                log.info(
                    "%s[%d]: reading from offset %d (%s)",
                    topic,
                    partition,
                    stored.get(partition, -1) + 1,
                    "after the offset stored in Delta" if partition in stored else "nothing in Delta yet",
                )

    def settle(self) -> None:
        """After an assignment: check topic ids (re-seeking a topic created anew), note end offsets."""
        consumer = self.consumer
        assert consumer is not None
        self.collect()  # the batch in flight was read under the previous assignment
        self.unsettled = False
        assignment = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
        changed = self.refresh_topics()
        moved = [tp for tp in assignment if tp.topic in changed]
        if moved:
            # The topic was created anew since the partitions were positioned: read it by its new id.
            self.batch.drop(set(moved))
            self.seek(moved)
        self.end_offsets = consumer.end_offsets(assignment) if assignment else {}
        self.regroup()

    def caught_up(self) -> bool:
        """True once every assigned partition has been read to its end.

        The end is the larger of the end offset listed at assignment and the high watermark of the
        latest fetch (some brokers list the base offset of the last record batch, not its end), and
        the last two polls must have returned nothing, so no fetched record is still buffered.
        """
        consumer = self.consumer
        assert consumer is not None
        assignment = consumer.assignment()
        if not assignment or self.empty_polls < 2:
            return False
        for tp in assignment:
            end = max(self.end_offsets.get(tp, 0), consumer.highwater(tp) or 0)
            if consumer.position(tp) < end:
                return False
        return True

    def lag(self) -> int | None:
        consumer = self.consumer
        if consumer is None:
            return None
        total = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            position = consumer.position(tp)
            if high is None or position is None:
                return None
            total += max(0, high - position)
        return total

    # -- writing ----------------------------------------------------------------------------

    def write_batch(self, batch: Batch) -> tuple[list[WriteResult], dict[TopicPartition, int]]:
        """Write a batch to Delta, one commit per topic. Runs on the writer thread: no Kafka calls."""
        results: list[WriteResult] = []
        acked: dict[TopicPartition, int] = {}
        for topic, parts in batch.by_topic.items():
            if not any(parts.values()):
                continue
            result = self.sink.write(topic, parts)
            for partition, offset in offsets.last_offsets(parts).items():
                acked[TopicPartition(topic, partition)] = offset + 1
            if result is None:
                log.debug("%s: records already in Delta; skipped", topic)
            else:
                results.append(result)
        return results, acked

    def flush(self) -> None:
        """Hand the current batch to the writer thread, once the previous one is committed.

        The Delta write of one batch overlaps the polling of the next; at most one is in flight.
        """
        self.collect()
        batch, self.batch = self.batch, Batch()
        self.pending = self.writer.submit(self.write_batch, batch)

    def collect(self) -> None:
        """Wait for the batch in flight (its errors are raised here), log it, ack Kafka."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        results, acked = pending.result()
        for result in results:
            self.totals.add(result)
            self.log_commit(result)
        self.ack(acked)

    def log_commit(self, result: WriteResult) -> None:
        lag = self.lag()
        log.info(
            "%s: %d records, %d upserts, %d deletes%s -> version %s in %.0f ms, lag %s",
            result.topic,
            result.records,
            result.upserts,
            result.deletes,
            f", {result.dead} dead letters" if result.dead else "",
            result.version,
            result.millis,
            "?" if lag is None else lag,
        )

    def ack(self, acked: dict[TopicPartition, int]) -> None:
        """Commit group offsets to Kafka for lag tools; Delta already holds the truth."""
        if not acked or self.consumer is None:
            return
        owned = self.consumer.assignment()
        commit = {tp: OffsetAndMetadata(o, "", -1) for tp, o in acked.items() if tp in owned}
        if not commit:
            return
        try:
            self.consumer.commit(commit)
        except KafkaError as exc:
            log.info("Kafka offset commit skipped (%s); Delta holds the offsets", exc)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, once: bool = False) -> Totals:
        """Consume until stopped (or, with ``once``, until caught up)."""
        sub = self.cfg.subscriber
        self.admin = clients.admin(self.cfg, request_timeout_ms=5000)
        clients.ensure_topics(
            self.admin,
            self.topics,
            self.cfg.publisher.partitions,
            self.cfg.publisher.replication_factor,
        )
        self.grouped = not once
        self.refresh_topics()
        self.consumer = clients.consumer(self.cfg, metadata_max_age_ms=5000)
        if once:
            # A one-off run reads every partition itself instead of joining the group: no join
            # wait, and no partition left to a crashed member whose session has not expired yet.
            # Delta's offsets keep it exactly-once even beside a running subscriber.
            assigned = self._all_partitions()
            self.consumer.assign(assigned)
            self.seek(assigned)
            self.unsettled = True
        else:
            self.consumer.subscribe(topics=list(self.topics), listener=Seeker(self))
        latency_s = sub.max_batch_latency_ms / 1000
        next_topic_check = time.monotonic() + TOPIC_CHECK_S
        try:
            while not self.stopping.is_set():
                if not once:
                    finish_interrupted_rebalance(self.consumer)
                wait_ms = self._poll_wait_ms(latency_s)
                records = self.consumer.poll(timeout_ms=wait_ms, max_records=sub.max_batch_records)
                self.batch.add(records)
                self.empty_polls = 0 if records else self.empty_polls + 1
                if self.unsettled:
                    self.settle()
                now = time.monotonic()
                if now >= next_topic_check:
                    next_topic_check = now + TOPIC_CHECK_S
                    self.check_topics()
                    self.regroup()
                writer_idle = self.pending is None or self.pending.done()
                if batch_full(self.batch, sub.max_batch_records) or (
                    writer_idle
                    and (
                        batch_due(self.batch, latency_s, now)
                        or caught_up_while_idle(self.batch, bool(records), writer_idle)
                    )
                ):
                    self.flush()
                elif self.pending is not None and self.pending.done():
                    self.collect()
                if once and self.batch.size == 0 and self.caught_up():
                    break
            if self.batch.size:
                self.flush()
            self.collect()
        finally:
            self.close()
        return self.totals

    def _all_partitions(self) -> list[TopicPartition]:
        consumer = self.consumer
        assert consumer is not None
        deadline = time.monotonic() + max(self.cfg.kafka.connect_timeout_s, 5.0)
        result: list[TopicPartition] = []
        for topic in self.topics:
            partitions = consumer.partitions_for_topic(topic)
            while not partitions and time.monotonic() < deadline:
                time.sleep(0.1)
                partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise KafkaOperationError(f"no partitions known for topic {topic}")
            result.extend(TopicPartition(topic, p) for p in sorted(partitions))
        return result

    def _poll_wait_ms(self, latency_s: float) -> int:
        """Long polls while idle; short ones while a batch is open, to notice when data stops."""
        if not self.batch.size:
            return int(max(latency_s, 0.05) * 1000)
        left_ms = int((latency_s - (time.monotonic() - self.batch.started)) * 1000)
        return max(0, min(left_ms, QUIET_POLL_MS))

    def close(self) -> None:
        self.writer.shutdown(wait=True, cancel_futures=True)
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)
            except KafkaError as exc:  # closing must not hide the run's own outcome
                log.debug("consumer close: %s", exc)
            self.consumer = None
        if self.admin is not None:
            self.admin.close()
            self.admin = None

    def stop(self) -> None:
        self.stopping.set()


@contextmanager
def stop_on_signals(subscriber: Subscriber) -> Iterator[None]:
    """SIGINT and SIGTERM finish the batch in hand and stop; a second SIGINT stops at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if subscriber.stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s: finishing the current batch, then stopping", signal.Signals(signum).name)
        subscriber.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
