"""The messages polled since the last write, and the decision to write them.

A :class:`Batch` keeps each partition's messages apart and in offset order. :class:`FlushPolicy`
is the whole flush policy: a batch is written when it is full or, once the writer is free, when
its first message has waited ``max_batch_latency_ms``: the latency budget. So a trickle is written
once per budget (one commit, one small file), and under load batches grow while the previous one is
being written. A one-off run that has read everything there is writes its last batch at once:
nothing more is coming to wait for.
Its :meth:`~FlushPolicy.poll_wait_ms` is the counterpart: how long the loop's next poll may wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deltastream.kafka.message import Message, TopicPartition
from deltastream.subscribe.offsets import next_offset


@dataclass
class Batch:
    """Messages by topic, then by partition, each partition's in offset order."""

    started: float = 0.0
    size: int = 0
    by_topic: dict[str, dict[int, list[Message]]] = field(default_factory=dict)

    def add(self, records: Mapping[TopicPartition, Sequence[Message]]) -> None:
        for tp, messages in records.items():
            if not messages:
                continue
            if not self.size:
                self.started = time.monotonic()
            self.by_topic.setdefault(tp.topic, {}).setdefault(tp.partition, []).extend(messages)
            self.size += len(messages)

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget the messages of ``partitions``: they are read again from Delta's offsets."""
        for tp in partitions:
            dropped = self.by_topic.get(tp.topic, {}).pop(tp.partition, [])
            self.size -= len(dropped)

    def next_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the offset after the last message held: where reading goes on."""
        return {
            TopicPartition(topic, partition): next_offset(messages[-1].offset)
            for topic, parts in self.by_topic.items()
            for partition, messages in parts.items()
            if messages
        }


#: Poll timeout while a due batch waits for the writer.
QUIET_POLL_MS = 10
#: The longest poll while no batch is open: a poll returns as soon as records come, but
#: kafka-python 3.0.12 sends the metadata request a new consumer needs only when a poll ends.
IDLE_POLL_MS = 100


@dataclass(frozen=True)
class FlushPolicy:
    """When a batch is written, and so how long each poll may wait."""

    #: A batch this big is written at once.
    max_records: int
    #: Once the writer is free, a batch whose first message has waited this long is written.
    max_latency_s: float

    def should_flush(self, batch: Batch, *, now: float, writer_idle: bool, drained: bool = False) -> bool:
        """Whether to hand ``batch`` to the writer now.

        Full, or ``drained`` (a one-off run has read all there is): always (the hand-over waits for
        the write in flight). Otherwise once its first message has waited ``max_latency_s`` and the
        writer is free: a trickle is written once per latency, not once per message, which keeps
        the log and the small files few.
        """
        if batch.size == 0:
            return False
        if batch.size >= self.max_records or drained:
            return True
        return writer_idle and now - batch.started >= self.max_latency_s

    def poll_wait_ms(self, batch: Batch, *, now: float, writer_idle: bool, drained: bool = False) -> int:
        """How long the next poll may wait for records.

        Polls of up to :data:`IDLE_POLL_MS` while no batch is open; while one is, until it is due
        but no longer than that either (a poll returns as soon as records come, but not when a
        fetch without records shows a partition read to its end: a one-off run looks again at
        least that often whether it has read everything); none once it is due and the writer can
        take it (a due batch waiting for a busy writer polls briefly rather than spin). Briefly
        once ``drained``: a one-off run that has read all there is only makes sure of it.
        """
        if drained:
            return QUIET_POLL_MS
        if not batch.size:
            return min(IDLE_POLL_MS, int(max(self.max_latency_s, 0.05) * 1000))
        left_ms = int((self.max_latency_s - (now - batch.started)) * 1000)
        if left_ms <= 0 and not writer_idle:
            return QUIET_POLL_MS
        return min(IDLE_POLL_MS, max(0, left_ms))
