"""The producer the publisher sends through, whichever Kafka client is configured.

``[kafka] client`` chooses the implementation (:func:`deltastream.kafka.clients.producer`):
kafka-python (:mod:`deltastream.kafka.clients`) or librdkafka through confluent-kafka
(:mod:`deltastream.kafka.librdkafka`). Both acknowledge a send once every in-sync replica has it
(``acks=all``), keep each partition in order with one request in flight, and put a key in the
same partition (murmur2, as the Java client does), so a topic written by one reads the same as a
topic written by the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: The largest request a producer sends, and so the largest record it takes (either client).
MAX_REQUEST_BYTES = 1_048_576


def too_large(size: int) -> str:
    """Why a record of ``size`` bytes (key and value) was refused, in the same words for both."""
    return f"the record is too large: {size:,} bytes, over the {MAX_REQUEST_BYTES:,} a request may hold"


class SendRefused(Exception):
    """The producer would not take a record (too big, or its buffer stayed full): it failed."""


class FlushTimedOut(Exception):
    """Records were still unacknowledged when a flush gave up waiting."""


class Delivery(Protocol):
    """One record on its way: acknowledged, failed, or not known yet."""

    @property
    def is_done(self) -> bool: ...

    def failed(self) -> bool: ...

    @property
    def exception(self) -> BaseException | None: ...

    def wait(self, timeout_s: float) -> None:
        """Return once the record is acknowledged or has failed, or after ``timeout_s``."""


class Refused:
    """The delivery of a record the producer would not take: failed, with why."""

    __slots__ = ("exception",)

    is_done = True

    def __init__(self, exception: SendRefused) -> None:
        self.exception = exception

    def failed(self) -> bool:
        return True

    def wait(self, timeout_s: float) -> None:
        del timeout_s


class Producer(Protocol):
    """Sends keyed records; what it says of them comes back through each :class:`Delivery`."""

    def send(self, topic: str, key: bytes, value: bytes) -> Delivery:
        """Hand one record over; raises :class:`SendRefused` when it cannot be taken."""

    def send_many(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes]) -> list[Delivery]:
        """Hand records over in order, one delivery each (a :class:`Refused` one for a record
        that cannot be taken)."""

    def serve(self) -> None:
        """Bring every delivery up to date with what the broker has said so far, without waiting."""

    def flush(self, timeout_s: float) -> None:
        """Wait for every record handed over; raises :class:`FlushTimedOut` after ``timeout_s``."""

    def close(self, hard: bool = False) -> None:
        """Close; ``hard``: at once, failing what is still on its way."""


def send_each(
    producer: Producer, topic: str, keys: Sequence[bytes], values: Sequence[bytes]
) -> list[Delivery]:
    """:meth:`Producer.send_many` made of :meth:`Producer.send`, one record at a time."""
    deliveries: list[Delivery] = []
    for key, value in zip(keys, values, strict=True):
        try:
            deliveries.append(producer.send(topic, key, value))
        except SendRefused as exc:
            deliveries.append(Refused(exc))
    return deliveries
