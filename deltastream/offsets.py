"""Kafka offsets kept in the Delta log: the one place that names, reads and writes them.

Each Delta commit carries one ``txn`` action per topic partition it consumed from:
``Transaction(app_id, version)`` where ``version`` is the **last offset written** for that partition.
So the next offset to read is ``version + 1``. The app id is built by :func:`app_id` only.

The app id includes the broker's topic id when the broker reports one: a topic deleted and created
again (or an in-memory broker restarted) starts from offset 0 again, and must not be mistaken for
the old one whose offsets the table remembers.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol, TypeVar

from deltalake import DeltaTable, Transaction


class Positioned(Protocol):
    partition: int
    offset: int


M = TypeVar("M", bound=Positioned)
_offset = attrgetter("offset")


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


#: Messages of one topic by partition, each list in offset order (as Kafka delivers them).
Partitioned = Mapping[int, Sequence[M]]


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
        stored = written.get(partition)
        start = 0 if stored is None else bisect_right(messages, stored, key=_offset)
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
