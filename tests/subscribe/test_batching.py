"""The subscriber's batches and its flush decision, as one predicate."""

from __future__ import annotations

from kafka import TopicPartition

from deltastream.subscribe.batch import Batch, FlushPolicy

from ..fakes import FakeMessage


def batch_of(n: int, partition: int = 0) -> Batch:
    batch = Batch()
    batch.add(
        {TopicPartition("t", partition): [FakeMessage(i, b"{}", partition=partition) for i in range(n)]}
    )
    return batch


def flush(batch: Batch, *, after_s: float = 0.0, idle: bool = True, full: int = 10) -> bool:
    policy = FlushPolicy(max_records=full, max_latency_s=0.1)
    return policy.should_flush(batch, now=batch.started + after_s, writer_idle=idle)


def test_an_empty_batch_is_never_flushed() -> None:
    assert not flush(Batch(), after_s=100)


def test_a_full_batch_is_flushed_even_while_the_writer_is_busy() -> None:
    assert flush(batch_of(10), idle=False)
    assert not flush(batch_of(9), idle=False)


def test_a_batch_that_waited_its_latency_goes_when_the_writer_is_free() -> None:
    assert not flush(batch_of(5), after_s=0.05)
    assert flush(batch_of(5), after_s=0.11)
    assert not flush(batch_of(5), after_s=0.11, idle=False)


def test_a_trickle_is_written_once_per_latency_budget_not_once_per_message() -> None:
    assert not flush(batch_of(1), after_s=0.0)  # a long-running subscriber waits its budget for more
    assert not flush(batch_of(1), after_s=0.09)
    assert flush(batch_of(1), after_s=0.11)


def test_batches_keep_partitions_apart_and_drop_revoked_ones() -> None:
    batch = batch_of(3, partition=0)
    batch.add(
        {
            TopicPartition("t", 1): [FakeMessage(7, b"{}", partition=1)],
            TopicPartition("u", 0): [FakeMessage(1, b"{}", topic="u")],
        }
    )
    assert batch.size == 5
    assert [m.offset for m in batch.by_topic["t"][0]] == [0, 1, 2]
    assert batch.next_offsets() == {
        TopicPartition("t", 0): 3,
        TopicPartition("t", 1): 8,
        TopicPartition("u", 0): 2,
    }
    batch.drop({TopicPartition("t", 0)})
    assert batch.size == 2
    assert 0 not in batch.by_topic["t"]
    assert [m.offset for m in batch.by_topic["t"][1]] == [7]


def test_polls_wait_until_the_batch_is_due_and_not_at_all_once_it_is() -> None:
    policy = FlushPolicy(max_records=10, max_latency_s=0.1)
    assert policy.poll_wait_ms(Batch(), now=0.0, writer_idle=True) == 100
    open_batch = batch_of(1)
    assert policy.poll_wait_ms(open_batch, now=open_batch.started, writer_idle=True) == 100
    assert 39 <= policy.poll_wait_ms(open_batch, now=open_batch.started + 0.06, writer_idle=True) <= 40
    due = open_batch.started + 0.2
    assert policy.poll_wait_ms(open_batch, now=due, writer_idle=True) == 0
    assert policy.poll_wait_ms(open_batch, now=due, writer_idle=False) == 10  # waits, does not spin


def test_a_poll_never_waits_long_while_a_batch_is_open() -> None:
    """A batch with ten minutes of budget left: the loop still looks every 100 ms whether the
    run has read everything (librdkafka learns a partition's end from fetches without records,
    and its poll returns only for a record)."""
    policy = FlushPolicy(max_records=10, max_latency_s=600)
    open_batch = batch_of(1)
    assert policy.poll_wait_ms(open_batch, now=open_batch.started, writer_idle=True) == 100


def test_a_one_off_run_that_read_everything_writes_at_once_and_only_makes_sure() -> None:
    policy = FlushPolicy(max_records=10, max_latency_s=0.1)
    last = batch_of(1)
    assert policy.should_flush(last, now=last.started, writer_idle=False, drained=True)
    assert not policy.should_flush(Batch(), now=0.0, writer_idle=True, drained=True)
    assert policy.poll_wait_ms(Batch(), now=0.0, writer_idle=True, drained=True) == 10
