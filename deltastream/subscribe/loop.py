"""The subscriber's loop: poll Kafka into batches, hand them to the writer, acknowledge what Delta holds.

The loop runs in sessions. A session has its own consumer, a snapshot of the topics' ids and
partition counts (the app ids its writes carry, :mod:`deltastream.subscribe.offsets`) and positions read
from Delta (:mod:`deltastream.subscribe.positions`). Before each batch is handed to the writer, and every
second in between, the loop asks the broker whether the topics are still the ones in the
snapshot. A session ends when the run is stopped or caught up, or when the broker no longer holds
what it was reading (topics with new ids, another partition count, a broker that went away):
then the batch in hand is dropped, the write in flight finishes, and a new session starts from the
offsets in Delta. So a record of a re-created topic is never stored under the old topic's offsets.

Threads: the loop thread owns the consumer, the batch and the session; the writer thread owns the
sink (:mod:`deltastream.subscribe.writer`); kafka-python's IO thread only records rebalances
(:mod:`deltastream.subscribe.assignment`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError

from deltastream import signals
from deltastream.config import Config
from deltastream.errors import BrokerUnavailable, KafkaReadError
from deltastream.kafka import clients, compat, topics
from deltastream.kafka.topics import BrokerGone, TopicChanges, TopicWatcher
from deltastream.logs import counted
from deltastream.subscribe import offsets, positions
from deltastream.subscribe.assignment import AllPartitions, Assignment, InGroup
from deltastream.subscribe.batch import Batch, should_flush
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.sink import DeltaSink, WriteResult
from deltastream.subscribe.upsert import TableSettings
from deltastream.subscribe.writer import WriteJob, Writer
from deltastream.tables import Tables

log = logging.getLogger(__name__)

#: Poll timeout while a batch is open: how long "no new data" takes to notice.
QUIET_POLL_MS = 10
#: How often an idle loop asks the broker whether its topics changed.
TOPIC_CHECK_S = 1.0
#: How long closing a consumer may take (leaving the group) when a session ends.
CLOSE_TIMEOUT_MS = 2000
#: How often a subscriber waiting for a lost broker says it still waits.
STILL_WAITING_S = 60.0
#: A pause before a session starts over, so that a broker in flux is not asked in a tight loop.
RESTART_PAUSE_S = 0.5


class Outcome(enum.Enum):
    STOPPED = "stopped"
    CAUGHT_UP = "caught up"
    STARTING_OVER = "starting over"
    BROKER_GONE = "broker gone"
    #: Kafka sent what the client cannot read: what was read before it is still written.
    UNREADABLE = "unreadable records"
    FAILED = "failed"


class StartOver(Exception):
    """The session cannot go on with what it holds: the message says why."""


class TopicsChanged(StartOver):
    def __init__(self, changes: TopicChanges) -> None:
        super().__init__(str(changes))
        self.changes = changes


@dataclass
class Totals:
    """What a run did, for the closing summary."""

    records: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    dead: int = 0
    commits: int = 0
    retries: int = 0
    sessions: int = 0

    def add(self, result: WriteResult) -> None:
        self.records += result.records
        self.inserted += result.inserted
        self.updated += result.updated
        self.deleted += result.deleted
        self.dead += result.dead
        self.retries += result.retries
        self.commits += result.operation is not None

    def __str__(self) -> str:
        retries = (
            f", {counted(self.retries, 'retry', 'retries')} after concurrent commits" if self.retries else ""
        )
        return (
            f"{counted(self.records, 'record')} in {counted(self.commits, 'commit')} "
            f"({self.inserted} inserted, {self.updated} updated, {self.deleted} deleted, "
            f"{counted(self.dead, 'dead letter')}{retries})"
        )


def commit_line(result: WriteResult, lag: int | None) -> str:
    """The one INFO line logged per write."""
    parts = [counted(result.records, "record")]
    if result.operation is None:
        parts.append("nothing to commit")
    else:
        parts.append(f"{result.inserted} inserted, {result.updated} updated, {result.deleted} deleted")
    if result.dead:
        parts.append(counted(result.dead, "dead letter"))
    line = f"{result.topic}: " + ", ".join(parts)
    if result.operation is not None:
        line += f" -> version {result.version} ({result.operation}) in {result.millis:.0f} ms"
    if result.retries:
        line += f" after {counted(result.retries, 'retry', 'retries')}"
    return f"{line}, lag {'?' if lag is None else lag}"


class Subscriber:
    """Consumes the configured topics into their Delta tables, exactly once, until stopped."""

    def __init__(self, cfg: Config, stop: threading.Event | None = None) -> None:
        self.cfg = cfg
        self.stopping = stop or threading.Event()
        sub = cfg.subscriber
        self.tables = Tables.at(sub.delta_path, sub.storage_options)
        target = sub.file_target_bytes
        self.sink = DeltaSink(
            self.tables,
            cfg.general.id_column,
            TableSettings(file_target_bytes=target),
            Maintenance(self.tables, sub.compact_every, sub.vacuum_retention_hours, target),
        )
        self.totals = Totals()
        #: The session in progress, for tests and tools that look at a running subscriber.
        self.session: Session | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self, assignment: Assignment) -> Totals:
        """Consume until stopped, or until ``assignment`` is finished."""
        writer = Writer(self.sink)
        admin: KafkaAdminClient | None = None
        try:
            admin = self._admin(self.cfg.kafka.connect_timeout_s)
            first = True
            while admin is not None and not self.stopping.is_set():
                # Only the first session creates missing topics: later, a missing topic is one
                # someone deleted (or a restarted broker forgot), and is waited for.
                self.session = Session(self, admin, writer, assignment, create_topics=first)
                first = False
                outcome = self.session.run()
                self.session = None
                if outcome in (Outcome.STOPPED, Outcome.CAUGHT_UP):
                    break
                if outcome is Outcome.BROKER_GONE:
                    admin.close()
                    admin = self._wait_for_broker(assignment.waits_for_broker)
                elif self.stopping.wait(RESTART_PAUSE_S):
                    break
        except clients.Interrupted:
            pass
        finally:
            writer.close()
            if admin is not None:
                admin.close()
        return self.totals

    def _admin(self, patience_s: float | None, quiet: bool = False) -> KafkaAdminClient:
        return clients.admin(
            self.cfg,
            patience_s=patience_s,
            stop=self.stopping,
            request_timeout_ms=clients.WATCH_TIMEOUT_MS,
            quiet=quiet,
        )

    def _wait_for_broker(self, forever: bool) -> KafkaAdminClient | None:
        """Wait for the broker to answer again; ``None`` when stopped first."""
        servers = ",".join(self.cfg.general.bootstrap_servers)
        started = time.monotonic()
        patience = None if forever else self.cfg.kafka.connect_timeout_s
        while not self.stopping.is_set():
            try:
                admin = self._admin(STILL_WAITING_S if patience is None else patience, quiet=True)
            except clients.Interrupted:
                return None
            except BrokerUnavailable:
                if not forever:
                    raise
                log.warning(
                    "still waiting for the broker at %s (%.0f s so far; Ctrl-C stops)",
                    servers,
                    time.monotonic() - started,
                )
                continue
            log.warning(
                "the broker at %s is back after %.0f s; starting over from the offsets in Delta",
                servers,
                time.monotonic() - started,
            )
            return admin
        return None


class Session:
    """One consumer's run, from positions read in Delta until it stops or must start over."""

    def __init__(
        self,
        subscriber: Subscriber,
        admin: KafkaAdminClient,
        writer: Writer,
        assignment: Assignment,
        create_topics: bool,
    ) -> None:
        self.cfg = subscriber.cfg
        self.create_topics = create_topics
        self.stopping = subscriber.stopping
        self.tables = subscriber.tables
        self.totals = subscriber.totals
        self.admin = admin
        self.writer = writer
        self.assignment = assignment
        self.watcher = TopicWatcher(admin, self.cfg.topics)
        self.batch = Batch()
        self.empty_polls = 0
        self.snapshot: topics.Snapshot = {}
        self.ids = offsets.AppIds.of(self.cfg.subscriber.group_id)
        self.consumer: KafkaConsumer | None = None

    def run(self) -> Outcome:
        outcome = Outcome.STOPPED
        try:
            self._start()
            outcome = self._loop()
        except BrokerGone as exc:
            outcome = Outcome.BROKER_GONE
            log.warning(
                "the broker at %s is not answering (%s); %s, waiting for it (Ctrl-C stops)",
                ",".join(self.cfg.general.bootstrap_servers),
                exc,
                self._dropping(),
            )
        except StartOver as exc:
            outcome = Outcome.STARTING_OVER
            log.warning("%s; %s, starting over from the offsets in Delta", exc, self._dropping())
        except KafkaReadError:
            outcome = Outcome.UNREADABLE
            raise
        except BaseException:
            outcome = Outcome.FAILED
            raise
        finally:
            self._end(outcome)
        return outcome

    def _start(self) -> None:
        cfg = self.cfg
        if self.create_topics:
            try:
                clients.ensure_topics(
                    self.admin, cfg.topics, cfg.publisher.partitions, cfg.publisher.replication_factor
                )
            except KafkaError as exc:
                raise BrokerGone(str(exc)) from exc
        self.snapshot = self.watcher.snapshot()
        if missing := [t for t in cfg.topics if t not in self.snapshot]:
            log.info("waiting for %s to be created on the broker", ", ".join(missing))
        self.ids = offsets.AppIds.of(
            cfg.subscriber.group_id,
            {t: s.topic_id for t, s in self.snapshot.items() if s.topic_id is not None},
        )
        try:
            # After the first session the subscriber's own warnings say what it waits for.
            self.consumer = clients.consumer(
                cfg, patience_s=cfg.kafka.connect_timeout_s, stop=self.stopping, quiet=not self.create_topics
            )
        except BrokerUnavailable as exc:
            raise BrokerGone(str(exc)) from exc
        self.assignment.start(self.consumer, self.snapshot)

    def _loop(self) -> Outcome:
        consumer = self.consumer
        assert consumer is not None
        sub = self.cfg.subscriber
        latency_s = sub.max_batch_latency_ms / 1000
        next_check = time.monotonic() + TOPIC_CHECK_S
        while not self.stopping.is_set():
            self.assignment.before_poll(consumer)
            try:
                records = consumer.poll(
                    timeout_ms=self._poll_wait_ms(latency_s), max_records=sub.max_batch_records
                )
            except KafkaError as exc:
                if exc.retriable:
                    raise BrokerGone(str(exc)) from exc
                # A batch it cannot decode: kafka-python 3.0.12 raises this once, and its next
                # poll would spin for good.
                raise KafkaReadError(exc) from exc
            moves = self.assignment.take()
            if moves.revoked or moves.assigned:
                # Records of a partition revoked or assigned during the poll are left out too:
                # a partition assigned again is read from where Delta says, not from where the
                # consumer happened to fetch.
                moved = moves.revoked | moves.assigned
                records = {tp: batch for tp, batch in records.items() if tp not in moved}
                self.batch.drop(moved)
            if moves.assigned:
                self._verify()
                start = positions.seek(consumer, self.tables, self.ids, moves.assigned)
                offsets.commit_group(consumer, start)
            self.batch.add(records)
            self.empty_polls = 0 if records else self.empty_polls + 1
            now = time.monotonic()
            if now >= next_check:
                next_check = now + TOPIC_CHECK_S
                self._verify()
                if reason := self.assignment.stalled(consumer, now):
                    raise StartOver(reason)
            if should_flush(
                self.batch,
                max_records=sub.max_batch_records,
                max_latency_s=latency_s,
                now=now,
                polled_records=bool(records),
                writer_idle=self.writer.idle,
            ):
                self._flush()
            elif self.writer.busy and self.writer.idle:
                self._collect()
            if self.batch.size == 0 and self.assignment.finished(consumer, self.empty_polls):
                return Outcome.CAUGHT_UP
        return Outcome.STOPPED

    def _verify(self) -> None:
        """Raise :class:`TopicsChanged` or :class:`BrokerGone` unless the broker still holds the
        topics of the session's snapshot."""
        changes = topics.diff(self.snapshot, self.watcher.snapshot())
        if changes:
            raise TopicsChanged(changes)

    def _flush(self) -> None:
        """Hand the batch to the writer, once the write in flight is collected and the topics are
        known to be the ones the batch was read from."""
        self._collect()
        self._verify()
        batch, self.batch = self.batch, Batch()
        self.writer.submit(WriteJob(batch.by_topic, self.ids, batch.next_offsets()))

    def _collect(self, ack: bool = True) -> None:
        """Wait for the write in flight (its error is raised here), log it, acknowledge it."""
        written = self.writer.collect()
        if written is None:
            return
        consumer = self.consumer
        lag = positions.lag(consumer) if consumer is not None else None
        for result in written.results:
            self.totals.add(result)
            log.info("%s", commit_line(result, lag))
        if ack and consumer is not None:
            offsets.commit_group(consumer, written.job.next_offsets)

    def _dropping(self) -> str:
        if not self.batch.size:
            return "nothing in hand"
        return f"dropping {counted(self.batch.size, 'record')} in hand (read again from Delta's offsets)"

    def _end(self, outcome: Outcome) -> None:
        """Finish the write in flight and, on a clean stop, the batch in hand; close the consumer."""
        clean = outcome in (Outcome.STOPPED, Outcome.CAUGHT_UP, Outcome.UNREADABLE)
        try:
            if outcome is not Outcome.FAILED:
                if clean and self.batch.size:
                    try:
                        self._flush()
                    except (BrokerGone, StartOver) as exc:
                        log.info("%s; %s", exc, self._dropping())
                self._collect(ack=clean)
        finally:
            self.batch = Batch()
            if self.consumer is not None:
                try:
                    # A consumer that sent what it cannot read must not be polled again: it
                    # would spin for good (kafka-python 3.0.12).
                    if outcome in (Outcome.STOPPED, Outcome.CAUGHT_UP, Outcome.STARTING_OVER):
                        # A join completes in about 3 s on the embedded broker: waiting for it
                        # lets the next session join at once.
                        join_s = self.cfg.kafka.session_timeout_ms / 1000
                        compat.finish_join(self.consumer, join_s, self.stopping)
                    self.consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
                except KafkaError as exc:  # closing must not hide the run's own outcome
                    log.debug("consumer close: %s", exc)
                self.consumer = None

    def _poll_wait_ms(self, latency_s: float) -> int:
        """Long polls while idle; short ones while a batch is open, to notice when data stops; none
        once the batch is due and the writer can take it."""
        if not self.batch.size:
            return int(max(latency_s, 0.05) * 1000)
        left_ms = int((latency_s - (time.monotonic() - self.batch.started)) * 1000)
        if left_ms <= 0 and not self.writer.idle:
            return QUIET_POLL_MS  # due, but the write in flight is not done: wait, do not spin
        return max(0, min(left_ms, QUIET_POLL_MS))


def assignment_for(cfg: Config, once: bool) -> Assignment:
    """``--once``: every partition, until caught up; otherwise the consumer group."""
    if once:
        return AllPartitions(cfg.topics, read_committed=cfg.kafka.isolation_level == "read_committed")
    return InGroup(cfg.topics, join_timeout_s=max(10.0, 2 * cfg.kafka.session_timeout_ms / 1000))


def subscribe(cfg: Config, once: bool = False) -> int:
    """subscriber.py's body: consume until stopped (or, with ``once``, caught up), then log totals."""
    subscriber = Subscriber(cfg)
    assignment = assignment_for(cfg, once)
    with signals.stop_on_signals(subscriber.stopping, "finishing the current batch, then stopping"):
        totals = subscriber.run(assignment)
    caught_up = once and not subscriber.stopping.is_set()
    log.info("%s: %s", "caught up" if caught_up else "stopped", totals)
    return 0
