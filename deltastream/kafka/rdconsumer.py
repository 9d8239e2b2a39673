"""The subscriber's consumer on librdkafka, through the confluent-kafka package: a
:class:`~deltastream.kafka.consumers.Consumer` with the same settings, errors and guarantees as the
kafka-python one (the common parts, how the client is built and waits for a broker, are in
:mod:`deltastream.kafka.librdkafka`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from deltastream.config import Config
from deltastream.errors import KafkaAccessDenied, KafkaAuthenticationFailed, KafkaReadError
from deltastream.kafka.consumers import FETCH_MAX_WAIT_MS, Rebalances
from deltastream.kafka.librdkafka import STEP_S, build, module, one_error, reach, refusals_into, refused
from deltastream.kafka.message import Fetched, Polled, TopicPartition
from deltastream.kafka.topics import BrokerGone
from deltastream.kafka.wait import Wait

if TYPE_CHECKING:
    import confluent_kafka
    from confluent_kafka import TopicPartition as Partition

log = logging.getLogger(__name__)


def consumer_settings(cfg: Config, group_id: str | None = None) -> dict[str, Any]:
    """The subscriber's consumer settings in librdkafka's names (see
    :func:`deltastream.kafka.clients.consumer_settings`)."""
    k = cfg.kafka
    return {
        "bootstrap.servers": ",".join(cfg.general.bootstrap_servers),
        "group.id": group_id or cfg.subscriber.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": k.isolation_level,
        "session.timeout.ms": k.session_timeout_ms,
        "heartbeat.interval.ms": k.heartbeat_interval_ms,
        "max.poll.interval.ms": k.max_poll_interval_ms,
        "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "allow.auto.create.topics": False,
        "topic.metadata.refresh.interval.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
        # librdkafka postpones the next fetch by this much whenever its queue is over its
        # thresholds (1 s by default): a subscriber busy writing found it full and read nothing
        # for a second. Measured on 300,000 records: subscriber.py --once 2.07 s -> 1.68 s.
        "fetch.queue.backoff.ms": 10,
        **k.librdkafka_settings(),
    }


#: The errors a fetch reports for records the client cannot read.
UNREADABLE = (
    "_BAD_MSG",
    "_BAD_COMPRESSION",
    "CORRUPT_MESSAGE",
    "INVALID_RECORD",
    "UNSUPPORTED_COMPRESSION_TYPE",
)
#: The errors a fetch reports for a topic or partition that is not there (the subscriber's topic
#: checks notice and act on it).
MISSING = ("_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION", "UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID")


class Faults:
    """What librdkafka reports while a consumer reads, as the pipeline's errors."""

    def __init__(self, ck: Any, cfg: Config, group: str, refusals: list[Any]) -> None:
        self.ck = ck
        self.cfg = cfg
        self.group = group
        #: Filled by the client's ``error_cb`` (:func:`~deltastream.kafka.librdkafka.refusals_into`).
        self.refusals = refusals

    def message(self, m: confluent_kafka.Message, err: confluent_kafka.KafkaError) -> None:
        """Raise for a message that carries an error, unless the error is no concern of the
        reader (the end of a partition, a topic gone: the subscriber's topic checks act on that)."""
        name = err.name()
        if name == "_PARTITION_EOF":
            return
        if name in MISSING:
            log.debug("librdkafka: %s", err)
            return
        if name == "_MAX_POLL_EXCEEDED":  # the member left the group; the next poll rejoins it
            log.warning("librdkafka: %s; joining the group again", err.str())
            return
        raise self.failure(err, m.topic())

    def failure(self, err: Any, topic: str | None = None) -> Exception:
        """The pipeline's error for an error librdkafka reports."""
        name = err.name() if hasattr(err, "name") else ""
        user = self.cfg.kafka.sasl_username
        if name == "TOPIC_AUTHORIZATION_FAILED":
            what = f"read topic {topic}" if topic else "read its topics"
            return KafkaAccessDenied(user, what, "grant it READ and DESCRIBE on each topic it reads")
        if name == "GROUP_AUTHORIZATION_FAILED":
            fix = f"grant it READ on the group {self.group} ([subscriber] group_id)"
            return KafkaAccessDenied(user, f"use consumer group {self.group}", fix)
        text = one_error(self.ck.KafkaException(err)) if hasattr(err, "name") else str(err)
        if name in UNREADABLE or (hasattr(err, "fatal") and err.fatal()):
            return KafkaReadError(text)
        return BrokerGone(text)

    def refused(self) -> None:
        """Raise when the broker refused the client's credentials since it connected (a TLS
        handshake cut short by a broker that restarts is no refusal: the client reconnects)."""
        denied = [err for err in self.refusals if err.code() == self.ck.KafkaError._AUTHENTICATION]
        if denied:
            reason = refused(denied[-1], self.cfg.kafka.sasl_username, tls=False)
            raise KafkaAuthenticationFailed(self.cfg.general.bootstrap_servers, *reason)


class Partitions:
    """The partitions a consumer was given, and which of them librdkafka reads.

    librdkafka starts fetching a partition as soon as it is assigned, from the group's committed
    offset, and refuses a seek until that fetch has begun. So a partition given (by a rebalance or
    an assignment) is held back until the subscriber has said where to read it (:meth:`start`),
    and only then handed to librdkafka, with its offset (:meth:`hand_over`).
    """

    def __init__(self, ck: Any, client: confluent_kafka.Consumer) -> None:
        self.ck = ck
        self.client = client
        #: Partitions given, and where to start each once known.
        self.held: dict[TopicPartition, int | None] = {}
        #: Partitions librdkafka reads, and where each was started.
        self.reading: dict[TopicPartition, int] = {}

    def given(self, partitions: Sequence[TopicPartition]) -> None:
        self.held.update(dict.fromkeys(partitions))
        self.hand_over()

    def taken(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self.held.pop(tp, None)
            self.reading.pop(tp, None)
        if self.reading:
            self.hand_over()
        else:
            # An empty assignment is not the end of one: a group waits for this member's
            # partitions to be given up before its rebalance goes on.
            self.client.unassign()

    def start(self, tp: TopicPartition, offset: int) -> None:
        if tp in self.held:
            self.held[tp] = offset
        else:
            self.client.seek(self.ck.TopicPartition(tp.topic, tp.partition, offset))
            self.reading[tp] = offset

    @property
    def due(self) -> bool:
        """Whether a partition held back can be handed over."""
        return any(offset is not None for offset in self.held.values())

    def hand_over(self) -> None:
        """Give librdkafka the partitions it reads and those held back whose start is known."""
        ready = {tp: offset for tp, offset in self.held.items() if offset is not None}
        for tp in ready:
            del self.held[tp]
        ck = self.ck
        # Those read already go on from their position (or their start, if nothing was read).
        going = {tp: start if (at := self.position(tp)) is None else at for tp, start in self.reading.items()}
        self.reading = going | ready
        self.client.assign([ck.TopicPartition(tp.topic, tp.partition, o) for tp, o in self.reading.items()])

    def all(self) -> set[TopicPartition]:
        return set(self.reading) | set(self.held)

    def position(self, tp: TopicPartition) -> int | None:
        """librdkafka knows a position once it has returned a record of the partition; until
        then it is where the partition was started."""
        start = self.reading.get(tp)
        if start is None:
            return None
        (found,) = self.client.position([self.ck.TopicPartition(tp.topic, tp.partition)])
        return int(found.offset) if found.offset >= 0 else start

    def highwater(self, tp: TopicPartition) -> int | None:
        if tp not in self.reading:
            return None
        partition = self.ck.TopicPartition(tp.topic, tp.partition)
        marks = self.client.get_watermark_offsets(partition, cached=True)
        return int(marks[1]) if marks and marks[1] >= 0 else None


class LibrdkafkaConsumer:
    """confluent-kafka's consumer as a :class:`~deltastream.kafka.consumers.Consumer`; which
    partitions it reads, and from where, is :class:`Partitions`' concern."""

    def __init__(self, ck: Any, client: confluent_kafka.Consumer, faults: Faults) -> None:
        self.ck = ck
        self.client = client
        self.faults = faults
        self.partitions = Partitions(ck, client)
        self.listener: Rebalances | None = None
        self.stable = True
        self.failed: Exception | None = None

    def subscribe(self, topics: Sequence[str], listener: Rebalances | None = None) -> None:
        self.listener = listener
        self.stable = False
        self.client.subscribe(list(topics), on_assign=self._given, on_revoke=self._taken, on_lost=self._taken)

    def _given(self, client: confluent_kafka.Consumer, partitions: list[Partition]) -> None:
        given = [TopicPartition(p.topic, p.partition) for p in partitions]
        self.stable = True
        self.partitions.given(given)
        if self.listener is not None:
            self.listener.on_partitions_assigned(given)

    def _taken(self, client: confluent_kafka.Consumer, partitions: list[Partition]) -> None:
        taken = [TopicPartition(p.topic, p.partition) for p in partitions]
        self.stable = False
        self.partitions.taken(taken)
        if self.listener is not None:
            self.listener.on_partitions_revoked(taken)

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.partitions.taken(list(self.partitions.all()))
        self.partitions.given(partitions)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.partitions.start(tp, offset)

    def poll(self, wait_ms: int, most: int) -> Polled:
        if self.failed is not None:
            failed, self.failed = self.failed, None
            raise failed
        if self.partitions.due:
            self.partitions.hand_over()
        try:
            # A message without an error always has its topic, partition and offset.
            messages: list[Any] = self.client.consume(min(most, 1_000_000), wait_ms / 1000)
        except self.ck.KafkaException as exc:
            raise self.faults.failure(exc.args[0] if exc.args else exc) from exc
        self.faults.refused()
        polled, self.failed = grouped(messages, self.faults)
        return polled

    def assignment(self) -> set[TopicPartition]:
        return self.partitions.all()

    def position(self, tp: TopicPartition) -> int | None:
        return self.partitions.position(tp)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.partitions.highwater(tp)

    def end_offsets(self, partitions: Sequence[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        deadline = time.monotonic() + timeout_ms / 1000
        ends: dict[TopicPartition, int] = {}
        for tp in partitions:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                partition = self.ck.TopicPartition(tp.topic, tp.partition)
                marks = self.client.get_watermark_offsets(partition, timeout=left)
            except self.ck.KafkaException as exc:
                log.debug("end offset of %s not listed (%s)", tp, exc)
                continue
            if marks is not None and marks[1] >= 0:
                ends[tp] = int(marks[1])
        return ends

    def commit(self, next_offsets: Mapping[TopicPartition, int], timeout_ms: int) -> bool:
        """Sent without waiting for the answer: the group's offsets are only for lag tools."""
        commit = [self.ck.TopicPartition(tp.topic, tp.partition, o) for tp, o in next_offsets.items()]
        try:
            self.client.commit(offsets=commit, asynchronous=True)
        except self.ck.KafkaException as exc:
            log.debug("Kafka group offsets not committed (%s); Delta holds the offsets", exc)
            return False
        return True

    def before_poll(self) -> None:
        """Nothing: librdkafka completes its rebalances on its own."""

    def group_stable(self) -> bool:
        return self.stable

    def close(self, join_s: float, stop: threading.Event, *, finish_join: bool) -> None:
        deadline = time.monotonic() + join_s
        try:
            while finish_join and not self.stable and time.monotonic() < deadline and not stop.is_set():
                self.client.consume(1000, STEP_S)  # records read here are read again by the next session
            self.client.close()
        except (self.ck.KafkaException, RuntimeError) as exc:  # closing must not hide the run's own outcome
            log.debug("consumer close: %s", exc)


def grouped(messages: list[Any], faults: Faults) -> tuple[Polled, Exception | None]:
    """librdkafka's messages by partition, as the subscriber's records; a message carrying an
    error stops there: the error is raised now if nothing came before it, else returned to be
    raised by the next poll, once the records before it are handed on."""
    polled: dict[TopicPartition, list[Fetched]] = {}
    at: tuple[str, int] | None = None
    into: list[Fetched] = []
    for m in messages:
        err = m.error()
        if err is not None:
            try:
                faults.message(m, err)
            except Exception as exc:
                if not polled:
                    raise
                return polled, exc
            continue
        topic, partition = m.topic(), m.partition()
        if (topic, partition) != at:
            at = (topic, partition)
            into = polled.setdefault(TopicPartition(topic, partition), [])
        into.append(Fetched(topic, partition, m.offset(), m.key(), m.value()))
    return polled, None


def consumer(
    cfg: Config,
    *,
    patience_s: float | None,
    stop: threading.Event | None = None,
    quiet: bool = False,
    group_id: str | None = None,
) -> LibrdkafkaConsumer:
    """The subscriber's consumer on librdkafka, once a broker answers (see :func:`reach`)."""
    ck = module(cfg)
    refusals: list[Any] = []
    settings = {**consumer_settings(cfg, group_id), "error_cb": refusals_into(ck, refusals)}
    client = build(cfg, ck.Consumer, settings)
    try:
        reach(cfg, client, refusals, Wait("subscriber", patience_s, stop or threading.Event(), quiet))
    except BaseException:
        client.close()
        raise
    return LibrdkafkaConsumer(ck, client, Faults(ck, cfg, settings["group.id"], refusals))
