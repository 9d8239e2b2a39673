"""One fake Kafka message type for the tests that need no broker, and helpers to build them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from deltastream.kafka.message import Record

#: The fake message of the tests: a message built by hand.
FakeMessage = Record


def record(
    topic: str, partition: int, offset: int, fields: Mapping[str, Any] | None, key: str | None = None
) -> FakeMessage:
    """A message holding ``fields`` as JSON (``None``: a tombstone), keyed by ``key`` or its id."""
    if key is None and fields is not None:
        key = str(fields.get("id"))
    value = None if fields is None else json.dumps(fields).encode()
    return FakeMessage(offset, value, None if key is None else key.encode(), partition, topic)


def by_partition(messages: Iterable[FakeMessage]) -> dict[int, list[FakeMessage]]:
    result: dict[int, list[FakeMessage]] = {}
    for m in messages:
        result.setdefault(m.partition, []).append(m)
    return result


def numbered(
    topic: str, ids: Iterable[int], partition: int = 0, first_offset: int = 0, **extra: str
) -> dict[int, list[FakeMessage]]:
    """One partition of records ``{"id": "<n>", **extra}`` at consecutive offsets."""
    return {
        partition: [
            record(topic, partition, first_offset + i, {"id": str(n), **extra}) for i, n in enumerate(ids)
        ]
    }
