"""Topic identity: what the broker says each topic is (its id and partition count), and changes.

A topic's id changes when it is deleted and created again, and every topic of an in-memory broker
is new after a restart. :func:`diff` compares two snapshots without any I/O; an admin client
(:meth:`deltastream.kafka.admins.Admin.describe`) takes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


def known_topic_id(topic_id: object) -> str | None:
    """A topic id as a string, or ``None`` for a broker that reports none.

    Brokers before Apache Kafka 2.8 answer with no id or the all-zero UUID; a table's offsets then
    go under app ids without a topic id, as before topic ids existed.
    """
    text = str(topic_id or "")
    return text if text and set(text) - {"0", "-"} else None


@dataclass(frozen=True)
class TopicState:
    """One topic as the broker describes it: its id (``None`` if the broker has none) and size."""

    topic_id: str | None
    partitions: int


#: Topic name -> its state; a topic missing from the mapping does not exist on the broker.
Snapshot = Mapping[str, TopicState]


@dataclass(frozen=True)
class TopicChanges:
    """What differs between two snapshots of the same topics."""

    recreated: frozenset[str] = frozenset()
    resized: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    appeared: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.recreated or self.resized or self.missing or self.appeared)

    def __str__(self) -> str:
        parts = [f"{t}: created anew" for t in sorted(self.recreated)]
        parts += [f"{t}: {old} -> {new} partitions" for t, (old, new) in sorted(self.resized.items())]
        parts += [f"{t}: gone from the broker" for t in sorted(self.missing)]
        parts += [f"{t}: now on the broker" for t in sorted(self.appeared)]
        return "; ".join(parts)


def diff(before: Snapshot, after: Snapshot) -> TopicChanges:
    """The changes from ``before`` to ``after``, for the topics named in either."""
    recreated: set[str] = set()
    resized: dict[str, tuple[int, int]] = {}
    for topic in before.keys() & after.keys():
        old, new = before[topic], after[topic]
        if old.topic_id != new.topic_id:
            recreated.add(topic)
        if old.partitions != new.partitions:
            resized[topic] = (old.partitions, new.partitions)
    return TopicChanges(
        frozenset(recreated),
        resized,
        frozenset(before.keys() - after.keys()),
        frozenset(after.keys() - before.keys()),
    )


class BrokerGone(Exception):
    """The broker did not answer a request for topic metadata."""
