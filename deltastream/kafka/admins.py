"""The admin calls the scripts make, whichever client they run on (``[kafka] client``).

Two implementations: :class:`deltastream.kafka.kafkapython.KafkaPythonAdmin` (kafka-python) and
:class:`deltastream.kafka.rdadmin.LibrdkafkaAdmin` (librdkafka). Both describe topics with the
same topic ids (as text, ``xxxxxxxx-xxxx-...``): the app ids of the offsets in Delta are made of
them, so a table written on one client is read on by the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from deltastream.kafka.topics import Snapshot


class Admin(Protocol):
    def describe(self, topics: Sequence[str]) -> Snapshot:
        """Each of ``topics`` that exists: its id and partition count; raises
        :class:`~deltastream.kafka.topics.BrokerGone` when the broker does not answer."""

    def names(self) -> set[str]:
        """The names of the topics on the broker (raises
        :class:`~deltastream.kafka.topics.BrokerGone` when it does not answer)."""

    def create(self, names: Sequence[str], partitions: int, replication: int) -> list[str]:
        """Create those of ``names`` that do not exist yet; returns the ones it created. A
        refusal raises :class:`~deltastream.errors.KafkaAccessDenied` or
        :class:`~deltastream.errors.KafkaOperationError`; a broker that does not answer,
        :class:`~deltastream.kafka.topics.BrokerGone`."""

    def close(self) -> None: ...
