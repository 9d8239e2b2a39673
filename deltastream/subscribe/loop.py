"""The subscriber's loop: one session of polling Kafka into batches and handing them to the writer.

A :class:`Session` has its own consumer, a :class:`~deltastream.subscribe.guard.TopicGuard`
holding the topics' identity (and so the app ids its writes carry), and positions read from Delta
(:mod:`deltastream.subscribe.positions`). It ends when the run is stopped or caught up, or when the
broker no longer holds what it was reading (topics with new ids, another partition count, a broker
that went away): then the batch in hand is dropped, the write in flight finishes, and the
:class:`~deltastream.subscribe.subscriber.Subscriber` starts a new session from the offsets in
Delta.

Threads: the loop thread owns the consumer, the batch and the session; the writer thread owns the
sink (:mod:`deltastream.subscribe.writer`); a client's own IO thread, if it has one, only records
rebalances (:mod:`deltastream.subscribe.assignment`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass

from deltastream.config import Config
from deltastream.errors import BrokerUnavailable, KafkaReadError
from deltastream.kafka import clients
from deltastream.kafka.admins import Admin
from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import Polled
from deltastream.kafka.topics import BrokerGone
from deltastream.kafka.wait import plain
from deltastream.logs import counted
from deltastream.subscribe import positions
from deltastream.subscribe.assignment import Assignment
from deltastream.subscribe.batch import Batch, FlushPolicy
from deltastream.subscribe.guard import StartOver, TopicGuard
from deltastream.subscribe.handover import HandOver
from deltastream.tables import Tables

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    STOPPED = "stopped"
    CAUGHT_UP = "caught up"
    STARTING_OVER = "starting over"
    BROKER_GONE = "broker gone"
    #: Kafka sent what the client cannot read: what was read before it is still written.
    UNREADABLE = "unreadable records"
    FAILED = "failed"

    @property
    def clean(self) -> bool:
        """Whether the batch in hand is written before the session ends."""
        return self in (Outcome.STOPPED, Outcome.CAUGHT_UP, Outcome.UNREADABLE)


@dataclass(frozen=True)
class Shared:
    """What every session of one run shares."""

    cfg: Config
    tables: Tables
    handover: HandOver
    assignment: Assignment
    stopping: threading.Event


class Session:
    """One consumer's run, from positions read in Delta until it stops or must start over."""

    def __init__(self, shared: Shared, admin: Admin, *, create_topics: bool) -> None:
        self.cfg = cfg = shared.cfg
        self.tables = shared.tables
        self.handover = shared.handover
        self.assignment = shared.assignment
        self.stopping = shared.stopping
        self.create_topics = create_topics
        self.guard = TopicGuard(admin, cfg.topics, cfg.subscriber.group_id)
        self.batch = Batch()
        self.empty_polls = 0
        self.consumer: Consumer | None = None

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
                plain(exc),
                dropping(self.batch),
            )
        except StartOver as exc:
            outcome = Outcome.STARTING_OVER
            log.warning("%s; %s, starting over from the offsets in Delta", exc, dropping(self.batch))
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
        # Only the first session creates missing topics: later, a missing topic is one someone
        # deleted (or a restarted broker forgot), and is waited for.
        create = (cfg.publisher.partitions, cfg.publisher.replication_factor) if self.create_topics else None
        self.guard.start(create, time.monotonic())
        try:
            # After the first session the subscriber's own warnings say what it waits for.
            self.consumer = clients.consumer(
                cfg, patience_s=cfg.kafka.connect_timeout_s, stop=self.stopping, quiet=not self.create_topics
            )
        except BrokerUnavailable as exc:
            raise BrokerGone(str(exc)) from exc
        self.assignment.start(self.consumer, self.guard.snapshot)

    def _loop(self) -> Outcome:
        consumer = self.consumer
        assert consumer is not None
        sub = self.cfg.subscriber
        policy = FlushPolicy(sub.max_batch_records, sub.max_batch_latency_ms / 1000)
        while not self.stopping.is_set():
            idle, drained = self.handover.idle, self.assignment.drained(consumer)
            wait_ms = policy.poll_wait_ms(self.batch, now=time.monotonic(), writer_idle=idle, drained=drained)
            self.assignment.before_poll(consumer)
            self._moved(consumer)
            records = self._moved(consumer, consumer.poll(wait_ms, sub.max_batch_records))
            self.batch.add(records)
            self.empty_polls = 0 if records else self.empty_polls + 1
            now = time.monotonic()
            if self.guard.due(now):
                self.guard.verify()
                if reason := self.assignment.stalled(consumer, now):
                    raise StartOver(reason)
            drained = self.assignment.drained(consumer)
            if policy.should_flush(self.batch, now=now, writer_idle=self.handover.idle, drained=drained):
                self._flush()
            elif self.handover.done_uncollected:
                self.handover.collect(consumer)
            if self.batch.size == 0 and self.assignment.finished(consumer, self.empty_polls):
                return Outcome.CAUGHT_UP
        return Outcome.STOPPED

    def _moved(self, consumer: Consumer, records: Polled | None = None) -> Polled:
        """Seek the partitions assigned since the last look (before a poll too: none is fetched
        to be dropped) where Delta says; what was read of partitions moved is left out."""
        moves = self.assignment.take()
        if not (moves.revoked or moves.assigned):
            return records or {}
        moved = moves.revoked | moves.assigned
        self.batch.drop(moved)
        if moves.assigned:
            self.guard.verify()
            starts = positions.seek(consumer, self.tables, self.guard.ids, moves.assigned)
            self.handover.seeked(consumer, starts)
        return {tp: batch for tp, batch in (records or {}).items() if tp not in moved}

    def _flush(self) -> None:
        """Hand the batch to the writer, once the write in flight is collected and the topics are
        known to be the ones the batch was read from."""
        self.handover.collect(self.consumer)
        self.guard.verify()
        batch, self.batch = self.batch, Batch()
        self.handover.submit(batch, self.guard.ids)

    def _end(self, outcome: Outcome) -> None:
        """Finish the write in flight and, on a clean stop, the batch in hand; close the consumer."""
        try:
            if outcome is not Outcome.FAILED:
                if outcome.clean and self.batch.size:
                    try:
                        self._flush()
                    except (BrokerGone, StartOver) as exc:
                        log.info("%s; %s", exc, dropping(self.batch))
                self.handover.collect(self.consumer, ack=outcome.clean)
        finally:
            self.batch = Batch()
            if self.consumer is not None:
                close(self.consumer, outcome, self.cfg.kafka.session_timeout_ms / 1000, self.stopping)
                self.consumer = None


def close(consumer: Consumer, outcome: Outcome, join_s: float, stopping: threading.Event) -> None:
    """Close a session's consumer; a join in progress is given ``join_s`` to complete first.

    A join completes in about 3 s on the embedded broker: waiting for it lets the next session
    join at once. A consumer that sent what it cannot read is not polled again.
    """
    finish_join = outcome in (Outcome.STOPPED, Outcome.CAUGHT_UP, Outcome.STARTING_OVER)
    consumer.close(join_s, stopping, finish_join=finish_join)


def dropping(batch: Batch) -> str:
    """What ending a session now does to the batch in hand, in a few words."""
    if not batch.size:
        return "nothing in hand"
    return f"dropping {counted(batch.size, 'record')} in hand (read again from Delta's offsets)"
