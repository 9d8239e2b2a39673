"""The topics a session reads, held against the broker: their identity decides the app ids.

A :class:`TopicGuard` takes a snapshot of the topics' ids and partition counts when a session
starts; the app ids the session's writes carry are made from those ids
(:class:`deltastream.subscribe.offsets.AppIds`). Before each hand-over to the writer, and every
:data:`CHECK_EVERY_S` while idle, the broker is asked again: a topic created anew, resized, gone or
back raises :class:`TopicsChanged`, and a broker that does not answer raises
:class:`~deltastream.kafka.topics.BrokerGone`. So a record of a re-created topic is never stored
under the old topic's offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from deltastream.kafka import clients
from deltastream.kafka.admins import Admin
from deltastream.kafka.topics import Snapshot, TopicChanges, diff
from deltastream.logs import typos_of
from deltastream.subscribe.offsets import AppIds

log = logging.getLogger(__name__)

#: How often an idle loop asks the broker whether its topics changed.
CHECK_EVERY_S = 1.0


class StartOver(Exception):
    """The session cannot go on with what it holds: the message says why."""


class TopicsChanged(StartOver):
    def __init__(self, changes: TopicChanges) -> None:
        super().__init__(str(changes))
        self.changes = changes


def close_names(topic: str, others: set[str]) -> list[str]:
    """The topics on the broker whose names ``topic`` could be a misspelling of."""
    return typos_of(topic, sorted(t for t in others if not t.startswith("_")))


class TopicGuard:
    """The session's snapshot of its topics, and the checks against the broker."""

    def __init__(self, admin: Admin, topics: Sequence[str], group_id: str) -> None:
        self.admin = admin
        self.topics = list(topics)
        self.group_id = group_id
        self.snapshot: Snapshot = {}
        self.ids = AppIds.of(group_id)
        self._next_check = 0.0

    def start(self, create: tuple[int, int] | None, now: float) -> None:
        """Take the snapshot, creating the missing topics first when ``create`` gives their
        (partitions, replication factor)."""
        if create is not None:
            created = clients.ensure_topics(self.admin, self.topics, *create)
            others = self.admin.names() - set(created) if created else set()
            for topic in created:
                if close := close_names(topic, others):
                    log.warning(
                        "topic %s was not on the broker and is created; the broker has %s: is the topic "
                        "misspelled in [general] topics?",
                        topic,
                        ", ".join(close),
                    )
        self.snapshot = self.admin.describe(self.topics)
        if missing := [t for t in self.topics if t not in self.snapshot]:
            log.info("waiting for %s to be created on the broker", ", ".join(missing))
        self.ids = AppIds.of(
            self.group_id, {t: s.topic_id for t, s in self.snapshot.items() if s.topic_id is not None}
        )
        self._next_check = now + CHECK_EVERY_S

    def verify(self) -> None:
        """Raise :class:`TopicsChanged` or :class:`BrokerGone` unless the broker still holds the
        topics of the snapshot."""
        changes = diff(self.snapshot, self.admin.describe(self.topics))
        if changes:
            raise TopicsChanged(changes)

    def due(self, now: float) -> bool:
        """Whether the periodic check is due (and, if so, counted as done)."""
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY_S
        return True
