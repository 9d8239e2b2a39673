"""The publisher on either client ([kafka] client): kafka-python or librdkafka (confluent-kafka).

Both send the same records to the same partitions, so a topic reads the same whoever wrote it; a
record either cannot take fails alone, in one line; no broker is one line after the patience, for
every client (producer, consumer, admin); and a missing confluent-kafka package is one line naming
the fix, from publisher.py and subscriber.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import polars as pl
import pytest
from kafka import KafkaConsumer, TopicPartition

import publisher
import subscriber
from deltastream.errors import BrokerUnavailable
from deltastream.kafka import clients
from deltastream.kafka.embedded import free_port

from ..conftest import CLIENTS, ROOT, Project


def records(project: Project, topic: str, expected: int) -> dict[bytes, tuple[int, bytes]]:
    """Every record of ``topic``: key -> (partition, value)."""
    consumer = KafkaConsumer(bootstrap_servers=project.bootstrap, enable_auto_commit=False)
    found: dict[bytes, tuple[int, bytes]] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for _ in range(100):
            for tp, batch in consumer.poll(timeout_ms=200).items():
                found.update({m.key: (tp.partition, m.value) for m in batch})
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Python with ``args`` from the project's root, as a user runs a script; its output captured."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_both_clients_send_the_same_records_to_the_same_partitions(
    project_factory: Callable[..., Project],
) -> None:
    rows = [[str(i), f"v{i}", 'naïve, "quoted"'] for i in range(300)]
    sent = {}
    for client in CLIENTS:
        project = project_factory("item")
        project.write(kafka={"client": client})
        project.csv("item", ["id", "v", "w"], rows)
        assert publisher.main(project.args()) == 0
        sent[client] = records(project, project.topics["item"], len(rows))
    assert len(sent["kafka-python"]) == len(rows)
    assert sent["confluent-kafka"] == sent["kafka-python"]
    assert len({partition for partition, _ in sent["kafka-python"].values()}) == 3


def test_the_pipeline_reads_what_librdkafka_sent(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    project.write(kafka={"client": "confluent-kafka"})
    project.csv("item", ["id", "v"], [[str(i), f"v{i}"] for i in range(1000)])
    assert publisher.main(project.args("--batch-size", "250")) == 0
    assert subscriber.main(project.args("--once")) == 0
    table = pl.read_delta(str(project.delta / project.topics["item"]))
    assert table.height == 1000
    assert sorted(table["v"].to_list()) == sorted(f"v{i}" for i in range(1000))


@pytest.mark.parametrize("client", CLIENTS)
def test_a_record_too_big_fails_alone(
    project_factory: Callable[..., Project], client: str, caplog: pytest.LogCaptureFixture
) -> None:
    project = project_factory("item")
    project.write(kafka={"client": client})
    wide = [f"c{n}" for n in range(12)]  # 12 fields of 100,000 characters: over 1 MB as JSON
    big = ["x" * 100_000] * len(wide)
    project.csv("item", ["id", *wide], [["1", *"a" * 12], ["2", *big], ["3", *"c" * 12]])
    assert publisher.main(project.args()) == 1
    failed = [r.getMessage() for r in caplog.records if "send of id 2 failed" in r.getMessage()]
    assert len(failed) == 1 and "\n" not in failed[0]
    assert failed[0].endswith(
        "send of id 2 failed: the record is too large: 1,200,109 bytes, over the 1,048,576 a request may hold"
    )
    assert set(records(project, project.topics["item"], 2)) == {b"1", b"3"}


def test_no_broker_is_one_line(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    servers = f"127.0.0.1:{free_port()}"
    project.write(general={"bootstrap_servers": servers}, kafka={"connect_timeout_s": 1})
    project.csv("item", ["id"], [["1"]])
    result = run_python(str(ROOT / "publisher.py"), *project.args())
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        f"publisher.py: error: no Kafka broker reachable at {servers} after"
    )


@pytest.mark.parametrize("script", ["publisher.py", "subscriber.py"])
def test_confluent_kafka_missing_is_one_line(project_factory: Callable[..., Project], script: str) -> None:
    """As on a machine without the package: its import fails. Said at once, before any wait for
    a broker (there is none at this address)."""
    project = project_factory("item")
    servers = f"127.0.0.1:{free_port()}"
    project.write(general={"bootstrap_servers": servers}, kafka={"client": "confluent-kafka"})
    project.csv("item", ["id"], [["1"]])
    name = script.removesuffix(".py")
    program = (
        "import sys; sys.modules['confluent_kafka'] = None; sys.path.insert(0, sys.argv[1]); "
        f"import {name}; sys.exit({name}.main(sys.argv[2:]))"
    )
    result = run_python("-c", program, str(ROOT), *project.args())
    assert result.returncode == 1
    assert "no broker" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f'{script}: error: {project.config_path}: [kafka] client: expected "kafka-python", or the '
        'confluent-kafka package (librdkafka 2.3 or later) installed for "confluent-kafka" '
        "(pip install -U confluent-kafka), got 'confluent-kafka'"
    )


@pytest.mark.parametrize("kind", ["producer", "consumer", "admin"])
@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_waits_for_a_broker_then_says_none_answered(
    project_factory: Callable[..., Project], client: str, kind: str
) -> None:
    """Each client itself (the producer past the topic checks the publisher makes first), for
    connect_timeout_s."""
    project = project_factory("item")
    servers = f"127.0.0.1:{free_port()}"
    project.write(general={"bootstrap_servers": servers}, kafka={"client": client, "connect_timeout_s": 1})
    cfg = project.config
    with pytest.raises(BrokerUnavailable) as info:
        if kind == "producer":
            clients.producer(cfg)
        elif kind == "consumer":
            clients.consumer(cfg, patience_s=cfg.kafka.connect_timeout_s)
        else:
            clients.admin(cfg, patience_s=cfg.kafka.connect_timeout_s)
    assert str(info.value).startswith(f"no Kafka broker reachable at {servers} after 1 s (")
    assert "\n" not in str(info.value)
