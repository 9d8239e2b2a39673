"""The subscriber's consumer, whichever client reads (``[kafka] client``): one small interface.

Two implementations: :class:`deltastream.kafka.kafkapython.KafkaPythonConsumer` (kafka-python) and
:class:`deltastream.kafka.rdconsumer.LibrdkafkaConsumer` (librdkafka). The subscriber keeps the
offsets (Delta holds them): a consumer reads where it is sent (:meth:`Consumer.seek`), never
commits on its own, and says which partitions a rebalance took and gave through a
:class:`Rebalances` listener, without acting on them.

Each implementation raises, from :meth:`Consumer.poll`, the same errors:
:class:`~deltastream.kafka.topics.BrokerGone` for an error it reports while the broker is away
(librdkafka reconnects without a word: the subscriber's topic checks notice a broker gone),
:class:`~deltastream.errors.KafkaReadError` for records it cannot read (after returning those
before them), and :class:`~deltastream.errors.KafkaAccessDenied` for what the broker's authorizer
refuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from deltastream.kafka.message import Polled, TopicPartition

#: How long a fetch waits at the broker for records (measured on the embedded broker, a record
#: sent every 100 ms: in the consumer's hands p50 123 ms after the acknowledgement at 500, 20 ms
#: at 100).
FETCH_MAX_WAIT_MS = 100


class Rebalances(Protocol):
    """Told of the partitions a rebalance takes away and gives: during a poll, on the client's own
    IO thread (kafka-python) or on the thread that polls (librdkafka)."""

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None: ...

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None: ...


class Consumer(Protocol):
    def subscribe(self, topics: Sequence[str], listener: Rebalances) -> None:
        """Join the consumer group for ``topics``; ``listener`` hears of each rebalance."""

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        """Read ``partitions`` without a group."""

    def poll(self, wait_ms: int, most: int) -> Polled:
        """Up to ``most`` records, waiting up to ``wait_ms`` for the first."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on; records fetched before are not returned."""

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads now."""

    def position(self, tp: TopicPartition) -> int | None:
        """The next offset to be returned for ``tp``, if known without asking the broker."""

    def highwater(self, tp: TopicPartition) -> int | None:
        """The end of ``tp`` as its latest fetch saw it, if fetched yet."""

    def end_offsets(self, partitions: Sequence[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        """The end offsets the broker lists, or none for a partition it cannot list in time."""

    def commit(self, next_offsets: Mapping[TopicPartition, int], timeout_ms: int) -> bool:
        """Commit offsets to the group (for lag tools only); ``False`` when the client says at once
        that it was not taken (librdkafka sends it without waiting for the answer)."""

    def before_poll(self) -> None:
        """Whatever the client needs done before each poll."""

    def group_stable(self) -> bool:
        """Whether the group join is complete and the assignment is in hand."""

    def close(self, join_s: float, stop: threading.Event, *, finish_join: bool) -> None:
        """Leave the group and close; with ``finish_join``, a join under way is given ``join_s``
        (or until ``stop``) to complete first."""


def reaches(highwater: int | None, listed: int) -> bool:
    """Whether a fetch's watermark is there and reaches the end listed."""
    return highwater is not None and highwater >= listed


def true_ends(
    consumer: Consumer, partitions: list[TopicPartition], timeout_ms: int, fetch_s: float = 5.0
) -> dict[TopicPartition, int]:
    """Each partition's end offset: the larger of the one listed and the high watermark of a fetch
    from just before it (the embedded broker lists the base offset of the last record batch + 1;
    a fetch's high watermark is right), waiting up to ``fetch_s`` for the fetches. ``consumer``
    is left assigned to ``partitions``, and may be asked again."""
    listed = consumer.end_offsets(partitions, timeout_ms)
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, max((listed.get(tp) or 0) - 1, 0))
    # Until a fetch brought each partition's last record, or a watermark at least the end listed
    # (a partition that ends with a transaction marker has no record to bring).
    waiting = set(partitions)
    deadline = time.monotonic() + fetch_s
    while waiting and time.monotonic() < deadline:
        waiting -= set(consumer.poll(100, len(partitions)))
        waiting = {tp for tp in waiting if not reaches(consumer.highwater(tp), listed.get(tp) or 0)}
    ends = {tp: max(listed.get(tp) or 0, consumer.highwater(tp) or 0) for tp in partitions}
    return {tp: end for tp, end in ends.items() if tp in listed or consumer.highwater(tp) is not None}
