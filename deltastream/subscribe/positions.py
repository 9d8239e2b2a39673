"""Where the consumer reads: seeking to the offsets stored in Delta, caught-up and lag.

Runs on the subscriber's loop thread only; it reads Delta logs and moves the consumer, nothing else.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from deltalake.exceptions import DeltaError

from deltastream.errors import SinkError
from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import TopicPartition
from deltastream.subscribe import offsets
from deltastream.tables import Tables

log = logging.getLogger(__name__)


def by_topic(partitions: Iterable[TopicPartition]) -> dict[str, list[int]]:
    result: dict[str, list[int]] = defaultdict(list)
    for tp in partitions:
        result[tp.topic].append(tp.partition)
    return {topic: sorted(parts) for topic, parts in result.items()}


def stored_offsets(
    tables: Tables, ids: offsets.AppIds, topic: str, partitions: Iterable[int]
) -> tuple[bool, dict[int, int]]:
    """Whether ``topic``'s table exists, and the last offset written per partition under ``ids``."""
    try:
        table = tables.open(topic)
        return table is not None, offsets.stored(table, ids, topic, partitions)
    except (DeltaError, OSError) as exc:
        raise SinkError(tables.uri(topic), f"cannot read the table's offsets: {exc}") from exc


def seek(
    consumer: Consumer, tables: Tables, ids: offsets.AppIds, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Move each partition to the offset after the one stored in Delta (or to 0); returns them."""
    result: dict[TopicPartition, int] = {}
    for topic, parts in by_topic(partitions).items():
        table_exists, stored = stored_offsets(tables, ids, topic, parts)
        starts = {p: offsets.next_offset(stored.get(p)) for p in parts}
        for partition, start in starts.items():
            tp = TopicPartition(topic, partition)
            consumer.seek(tp, start)
            result[tp] = start
        log.info("%s", starting_line(topic, starts, stored, table_exists, ids.topic_ids.get(topic)))
    return result


def starting_line(
    topic: str,
    starts: Mapping[int, int],
    stored: Mapping[int, int],
    table_exists: bool,
    topic_id: str | None,
) -> str:
    """One line saying where each partition of ``topic`` is read from, and why."""
    where = ", ".join(f"p{p} at {o}" for p, o in sorted(starts.items()))
    fresh = sorted(p for p in starts if p not in stored)
    if not fresh:
        why = "after the offsets stored in Delta"
    elif not table_exists:
        why = "no table yet"
    else:
        whose = f"topic id {topic_id}" if topic_id else "these partitions"
        why = f"the table holds no offsets for {whose}"
        if len(fresh) < len(starts):
            why = f"{', '.join(f'p{p}' for p in fresh)}: {why}; the others after the offsets stored in Delta"
    return f"{topic}: reading {where} ({why})"


def caught_up(consumer: Consumer, listed_ends: Mapping[TopicPartition, int], empty_polls: int) -> bool:
    """True once every assigned partition has been read to its end.

    The end is the larger of the end offset listed at assignment and the high watermark of the
    latest fetch (the embedded broker lists the base offset of a partition's last record batch + 1
    as its end; the high watermark is right), and the last two polls must have returned nothing,
    so no fetched record is still buffered.
    """
    assignment = consumer.assignment()
    if not assignment or empty_polls < 2:
        return False
    for tp in assignment:
        position = consumer.position(tp)
        if position is None or position < max(listed_ends.get(tp) or 0, consumer.highwater(tp) or 0):
            return False
    return True


def drained(consumer: Consumer) -> bool:
    """True when every assigned partition has been fetched and read up to the high watermark of its
    latest fetch. A partition not fetched yet is not drained: Tansu lists ends too low to rely on."""
    assignment = consumer.assignment()
    if not assignment:
        return False
    for tp in assignment:
        high = consumer.highwater(tp)
        position = consumer.position(tp)
        if high is None or position is None or position < high:
            return False
    return True


def lag(consumer: Consumer) -> int | None:
    """Records not read yet over the assigned partitions, or ``None`` when not known."""
    total = 0
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        position = consumer.position(tp)
        if high is None or position is None:
            return None
        total += max(0, high - position)
    return total
