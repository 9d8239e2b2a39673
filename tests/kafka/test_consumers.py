"""The subscriber's consumer on either client ([kafka] client): kafka-python or librdkafka.

Both read a partition from where the subscriber sends it, in the group and without one, and
nothing from before; both say where they stand (position, high watermark) as the caught-up check
needs; and a table written on one client is read on by the other. (No broker, and a missing
confluent-kafka package, are tested for every client in test_producers.py.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import polars as pl
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

import publisher
import subscriber
from deltastream.kafka import clients
from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import TopicPartition

from ..conftest import CLIENTS, Project

PARTITIONS = 3
PER_PARTITION = 20


def topic_with_records(project: Project) -> str:
    """A topic of 3 partitions with records 0..19 in each (value b"<partition>:<offset>")."""
    topic = project.topics["item"]
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    producer = KafkaProducer(bootstrap_servers=project.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        for partition in range(PARTITIONS):
            for offset in range(PER_PARTITION):
                producer.send(topic, key=b"k", value=f"{partition}:{offset}".encode(), partition=partition)
        producer.flush()
    finally:
        producer.close()
        admin.close()
    return topic


def read_all(consumer: Consumer, expected: int, deadline_s: float = 30) -> dict[int, list[int]]:
    """Poll until ``expected`` records came; each partition's offsets in the order read."""
    read: dict[int, list[int]] = {}
    deadline = time.monotonic() + deadline_s
    while sum(map(len, read.values())) < expected:
        assert time.monotonic() < deadline, f"read {read} of {expected}"
        for tp, messages in consumer.poll(100, 1000).items():
            read.setdefault(tp.partition, []).extend(m.offset for m in messages)
            assert all(m.value == f"{tp.partition}:{m.offset}".encode() for m in messages)
    return read


class Given:
    """Records the partitions a rebalance gives, for the test to seek them as the loop does."""

    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned.extend(assigned)


@pytest.mark.parametrize("client", CLIENTS)
def test_each_consumer_reads_assigned_partitions_from_where_it_is_sent(
    project_factory: Callable[..., Project], client: str
) -> None:
    project = project_factory("item")
    project.write(kafka={"client": client})
    topic = topic_with_records(project)
    consumer = clients.consumer(project.config, patience_s=10)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        assert consumer.assignment() == set(partitions)
        for tp in partitions:
            consumer.seek(tp, 5 + tp.partition)
        read = read_all(consumer, sum(PER_PARTITION - 5 - p for p in range(PARTITIONS)))
        assert read == {p: list(range(5 + p, PER_PARTITION)) for p in range(PARTITIONS)}
        for tp in partitions:
            assert consumer.position(tp) == PER_PARTITION
            assert consumer.highwater(tp) == PER_PARTITION
    finally:
        consumer.close(1, threading.Event(), finish_join=False)


@pytest.mark.parametrize("client", CLIENTS)
def test_each_consumer_reads_what_the_group_gives_from_where_it_is_sent_and_nothing_before(
    project_factory: Callable[..., Project], client: str
) -> None:
    """The group's committed offsets (none: the reset goes to the start) never win over a seek:
    no record before the offset sent to is returned, none twice."""
    project = project_factory("item")
    project.write(kafka={"client": client})
    topic = topic_with_records(project)
    consumer = clients.consumer(project.config, patience_s=10)
    given = Given()
    try:
        consumer.subscribe([topic], given)
        deadline = time.monotonic() + 30
        while len(given.assigned) < PARTITIONS:
            assert time.monotonic() < deadline, "no assignment"
            consumer.poll(100, 1000)  # what comes before the seek is dropped, as the loop does
        assert consumer.group_stable()
        for tp in given.assigned:
            consumer.seek(tp, 7)
        read = read_all(consumer, PARTITIONS * (PER_PARTITION - 7))
        assert read == {p: list(range(7, PER_PARTITION)) for p in range(PARTITIONS)}
        assert not consumer.poll(500, 1000)  # nothing again
    finally:
        consumer.close(1, threading.Event(), finish_join=False)


@pytest.mark.parametrize("client", CLIENTS)
def test_each_consumer_reports_an_empty_partition_as_read_to_its_end(
    project_factory: Callable[..., Project], client: str
) -> None:
    """Nothing to read: once polled, the position is the offset sent to, and the end the same
    (the caught-up check of a one-off run depends on it)."""
    project = project_factory("item")
    project.write(kafka={"client": client})
    topic = project.topics["item"]
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    consumer = clients.consumer(project.config, patience_s=10)
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        assert consumer.poll(300, 10) == {}
        assert consumer.position(tp) == 0
        assert consumer.end_offsets([tp], 5000).get(tp, 0) == 0
    finally:
        consumer.close(1, threading.Event(), finish_join=False)


@pytest.mark.parametrize("client", CLIENTS)
def test_no_consumer_creates_a_missing_topic(project_factory: Callable[..., Project], client: str) -> None:
    project = project_factory("item")
    project.write(kafka={"client": client})
    topic = project.topics["item"]
    consumer = clients.consumer(project.config, patience_s=10)
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    try:
        consumer.subscribe([topic], Given())
        for _ in range(5):  # each poll may ask the broker for the topic's metadata
            consumer.poll(200, 10)
        assert topic not in admin.list_topics()
    finally:
        consumer.close(1, threading.Event(), finish_join=False)
        admin.close()


def test_a_table_written_on_one_client_is_read_on_by_the_other(
    project_factory: Callable[..., Project], caplog: pytest.LogCaptureFixture
) -> None:
    """The offsets' app ids hold the topic id as both clients give it: switching the client reads
    on from Delta's offsets, nothing again."""
    project = project_factory("item")
    topic = project.topics["item"]
    for n, client in enumerate(CLIENTS):
        project.write(kafka={"client": client})
        project.csv("item", ["id", "v"], [[str(i), f"{client} {i}"] for i in range(n * 10, n * 10 + 10)])
        assert publisher.main(project.args()) == 0
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="deltastream"):
            assert subscriber.main(project.args("--once")) == 0
        written = [r.getMessage() for r in caplog.records if " -> version " in r.getMessage()]
        assert sum(int(line.split(": ")[1].split(" records")[0]) for line in written) == 10, written
        if n:
            assert f"{topic}: reading " in caplog.text
            assert "after the offsets stored in Delta" in caplog.text
    frame = pl.read_delta(str(project.delta / topic))
    assert frame.height == 20
