"""The subscriber's batching decisions, as small predicates."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import TopicPartition

from deltastream.consume import Batch, batch_due, batch_full, caught_up_while_idle


@dataclass
class Msg:
    offset: int
    partition: int = 0
    topic: str = "t"
    key: bytes | None = b"k"
    value: bytes | None = b"{}"


def batch_of(n: int, partition: int = 0) -> Batch:
    batch = Batch()
    batch.add({TopicPartition("t", partition): [Msg(i, partition) for i in range(n)]})
    return batch


def test_full_and_due() -> None:
    batch = batch_of(5)
    assert batch_full(batch, 5)
    assert not batch_full(batch, 6)
    assert not batch_due(batch, 0.1, batch.started + 0.05)
    assert batch_due(batch, 0.1, batch.started + 0.11)
    assert not batch_due(Batch(), 0.1, time.monotonic() + 10)


def test_a_trickle_is_written_at_once_but_not_while_the_writer_is_busy() -> None:
    batch = batch_of(1)
    assert caught_up_while_idle(batch, polled_records=False, writer_idle=True)
    assert not caught_up_while_idle(batch, polled_records=True, writer_idle=True)
    assert not caught_up_while_idle(batch, polled_records=False, writer_idle=False)
    assert not caught_up_while_idle(Batch(), polled_records=False, writer_idle=True)


def test_batches_keep_partitions_apart_and_drop_revoked_ones() -> None:
    batch = batch_of(3, partition=0)
    batch.add({TopicPartition("t", 1): [Msg(7, 1)], TopicPartition("u", 0): [Msg(1, 0, "u")]})
    assert batch.size == 5
    assert [m.offset for m in batch.by_topic["t"][0]] == [0, 1, 2]
    batch.drop({TopicPartition("t", 0)})
    assert batch.size == 2
    assert 0 not in batch.by_topic["t"]
    assert [m.offset for m in batch.by_topic["t"][1]] == [7]
