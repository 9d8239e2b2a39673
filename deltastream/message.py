"""What the subscriber reads of a Kafka record: where it came from, its key and its value.

kafka-python's ``ConsumerRecord`` fits, and so does any object with these attributes (the tests'
fake messages); nothing downstream of the consumer needs more.
"""

from __future__ import annotations

from typing import Protocol


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
