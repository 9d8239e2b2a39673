"""Kafka offsets kept in the Delta log: the one place that names, reads, writes and commits them.

The contract, shared with every table written so far:

- Each Delta commit carries one ``txn`` action per topic partition it consumed from:
  ``Transaction(app_id, version)``, where ``version`` is the **last offset written** for that
  partition. The next offset to read is therefore ``version + 1`` (:func:`next_offset`).
- The app id is ``<group_id>-<topic>-<partition>`` followed by ``-<topic id>`` when the broker
  reports topic ids (:func:`app_id`). A topic deleted and created again (or an in-memory broker
  restarted) gets a new id and starts again at offset 0; its offsets are never confused with the
  old topic's.
- Delta is the source of truth. The Kafka group offsets are committed after each Delta commit and
  after each seek (:func:`commit_group`), only so that lag tools tell the truth.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from types import MappingProxyType
from typing import Protocol, TypeVar

from deltalake import DeltaTable, Transaction

from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import TopicPartition

log = logging.getLogger(__name__)


class Positioned(Protocol):
    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


M = TypeVar("M", bound=Positioned)
_offset = attrgetter("offset")


def app_id(group_id: str, topic: str, partition: int, topic_id: str | None = None) -> str:
    """The Delta app id under which ``group_id`` stores its offset for one topic partition."""
    base = f"{group_id}-{topic}-{partition}"
    return f"{base}-{topic_id}" if topic_id else base


@dataclass(frozen=True)
class AppIds:
    """App ids for one consumer group, for the topic ids the broker reported at one moment.

    An immutable value: a new snapshot of topic ids makes a new ``AppIds``; each write carries the
    one its messages were read under.
    """

    group_id: str
    topic_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, group_id: str, topic_ids: Mapping[str, str] | None = None) -> AppIds:
        return cls(group_id, MappingProxyType(dict(topic_ids or {})))

    def __call__(self, topic: str, partition: int) -> str:
        return app_id(self.group_id, topic, partition, self.topic_ids.get(topic))


def stored(table: DeltaTable | None, ids: AppIds, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """The last offset written per partition, for the partitions the table has seen."""
    if table is None:
        return {}
    result: dict[int, int] = {}
    for partition in partitions:
        version = table.transaction_version(ids(topic, partition))
        if version is not None:
            result[partition] = version
    return result


def next_offset(last_written: int | None) -> int:
    """Where reading resumes: after the last offset written, or at 0 when nothing was."""
    return 0 if last_written is None else last_written + 1


def group(messages: Iterable[M]) -> dict[int, list[M]]:
    """Messages (each partition's in offset order) grouped by partition."""
    result: dict[int, list[M]] = {}
    for m in messages:
        result.setdefault(m.partition, []).append(m)
    return result


def unwritten(parts: Mapping[int, Sequence[M]], written: Mapping[int, int]) -> dict[int, Sequence[M]]:
    """The messages above the stored offset of their partition: the ones still to write."""
    result: dict[int, Sequence[M]] = {}
    for partition, messages in parts.items():
        last = written.get(partition)
        start = 0 if last is None else bisect_right(messages, last, key=_offset)
        if start < len(messages):
            result[partition] = messages[start:]
    return result


def last_offsets(parts: Mapping[int, Sequence[Positioned]]) -> dict[int, int]:
    """The highest offset per partition."""
    return {partition: messages[-1].offset for partition, messages in parts.items() if messages}


def spans(parts: Mapping[int, Sequence[Positioned]]) -> dict[int, tuple[int, int]]:
    """The first and last offset per partition."""
    return {p: (m[0].offset, m[-1].offset) for p, m in parts.items() if m}


def transactions(ids: AppIds, topic: str, last: Mapping[int, int]) -> list[Transaction]:
    """The txn actions that record ``last`` (partition -> last offset written) in a commit."""
    return [Transaction(ids(topic, partition), offset) for partition, offset in sorted(last.items())]


#: How long a group-offset commit may take. It is only for lag tools, so it never waits long:
#: kafka-python's own default (request_timeout_ms) would hold the loop 30 s when the broker is gone.
COMMIT_TIMEOUT_MS = 2000


def commit_group(
    consumer: Consumer, next_offsets: Mapping[TopicPartition, int], timeout_ms: int = COMMIT_TIMEOUT_MS
) -> bool:
    """Commit the next offsets to read to the Kafka group, for lag tools; Delta holds the truth.

    Only partitions the consumer still owns are committed. Returns whether the broker took them;
    a refusal (a rebalance, a broker going away) is not an error, since nothing is read from there.
    """
    owned = consumer.assignment()
    commit = {tp: o for tp, o in next_offsets.items() if tp in owned}
    return consumer.commit(commit, timeout_ms) if commit else True
