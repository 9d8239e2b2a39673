"""Kafka offsets kept in the Delta log: the one place that names, reads and writes them.

Each Delta commit carries one ``txn`` action per topic partition it consumed from:
``Transaction(app_id, version)`` where ``version`` is the **last offset written** for that partition.
So the next offset to read is ``version + 1``. The app id is built by :func:`app_id` only.

The app id includes the broker's topic id when the broker reports one: a topic deleted and created
again (or an in-memory broker restarted) starts from offset 0 again, and must not be mistaken for
the old one whose offsets the table remembers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from deltalake import DeltaTable, Transaction


class Positioned(Protocol):
    partition: int
    offset: int


M = TypeVar("M", bound=Positioned)


def app_id(group_id: str, topic: str, partition: int, topic_id: str | None = None) -> str:
    """The Delta app id under which ``group_id`` stores its offset for one topic partition."""
    base = f"{group_id}-{topic}-{partition}"
    return f"{base}-{topic_id}" if topic_id else base


@dataclass(frozen=True)
class AppIds:
    """App ids for one consumer group, knowing the current id of each topic (when known)."""

    group_id: str
    topic_ids: Mapping[str, str] = field(default_factory=dict)

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


def unwritten(messages: Sequence[M], written: Mapping[int, int]) -> list[M]:
    """The messages above the stored offset of their partition: the ones still to write."""
    return [m for m in messages if m.offset > written.get(m.partition, -1)]


def last_offsets(messages: Iterable[Positioned]) -> dict[int, int]:
    """The highest offset per partition."""
    result: dict[int, int] = {}
    for m in messages:
        if m.offset > result.get(m.partition, -1):
            result[m.partition] = m.offset
    return result


def spans(messages: Iterable[Positioned]) -> dict[int, tuple[int, int]]:
    """The first and last offset per partition."""
    result: dict[int, tuple[int, int]] = {}
    for m in messages:
        low, high = result.get(m.partition, (m.offset, m.offset))
        result[m.partition] = (min(low, m.offset), max(high, m.offset))
    return result


def transactions(ids: AppIds, topic: str, last: Mapping[int, int]) -> list[Transaction]:
    """The txn actions that record ``last`` (partition -> last offset written) in a commit."""
    return [Transaction(ids(topic, partition), offset) for partition, offset in sorted(last.items())]
