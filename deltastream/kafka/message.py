"""What the subscriber reads of a Kafka record: where it came from, its key and its value.

kafka-python's ``ConsumerRecord`` fits, and so does any object with these attributes
(:class:`Fetched`, :class:`Record`); nothing downstream of the consumer needs more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class TopicPartition(NamedTuple):
    """A partition of a topic. Equal to, and hashed as, kafka-python's own (both are tuples)."""

    topic: str
    partition: int


class Message(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Record:
    """A message built by hand, in the order of its fields: where it is, then what it holds.

    For the tests and the benchmark, which feed the subscriber's parts without a broker.
    """

    offset: int
    value: bytes | None
    key: bytes | None = b"k"
    partition: int = 0
    topic: str = "t"
    headers: tuple[tuple[str, bytes], ...] = ()


class Fetched(NamedTuple):
    """A record as a client that hands out its own message objects is read into."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


#: What one poll returns: each partition's records, in offset order.
Polled = Mapping[TopicPartition, Sequence[Message]]
