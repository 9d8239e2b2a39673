"""The three scripts with Avro on a real broker and a real Schema Registry: publisher.py registers
a schema made from the declared columns, subscriber.py reads the typed values into typed tables,
query.py prints the same report; a value the schema cannot hold is one line from the publisher; a
topic written by another producer with two schema versions lands typed; a registry that is down is
one line from the subscriber, and nothing is lost."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import fastavro
import polars as pl
import pytest
from kafka import KafkaProducer

import publisher
import query
import subscriber
from deltastream.avro.registry import Registry
from deltastream.avro.writer import record_schema
from deltastream.kafka.embedded import HOST, free_port
from deltastream.kafka.registry import RegistryServer
from deltastream.schema import parse_type
from deltastream.subscribe.subscriber import REGISTRY_DOWN
from deltastream.values import DEAD_LETTERS

from ..conftest import Project, expected_csv, write_sample
from ..scripts.test_typed_pipeline import DECLARED


def avro_project(project: Project, registry: RegistryServer) -> Project:
    project.write(
        kafka={"schema_registry_url": registry.url},
        publisher={"format": "avro"},
        **{f"topic.{project.topics[role]}.columns": columns for role, columns in DECLARED.items()},
    )
    return project


def test_the_trio_in_avro_gives_typed_tables_and_the_same_report(
    report_project: Project, registry: RegistryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = avro_project(report_project, registry)
    write_sample(project)
    with (project.raw / f"{project.topics['sale']}.csv").open("a", encoding="utf-8") as extra:
        extra.write("4,1,2,31/2/2024,North,5\n")  # a date that does not exist
    assert publisher.main(project.args()) == 1  # a row was rejected
    err = capsys.readouterr().err
    assert f"{project.topics['sale']}.csv:5: column 'date': '31/2/2024' is not a date(%d/%m/%Y)" in err
    assert subscriber.main(project.args("--once")) == 0
    sale = pl.read_delta(str(project.delta / project.topics["sale"]))
    assert sale.schema == pl.Schema(
        {
            "id": pl.Int64(),
            "employee_id": pl.Int64(),
            "client_id": pl.Int64(),
            "date": pl.Date(),
            "region": pl.String(),
            "sale": pl.Decimal(12, 2),
        }
    )
    assert sorted(sale["sale"].to_list()) == [Decimal("10.00"), Decimal("99.99"), Decimal("1200.50")]
    assert not (project.delta / DEAD_LETTERS).exists()
    capsys.readouterr()
    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("Finance")
    subjects = Registry(registry.url)
    assert subjects.register(f"{project.topics['sale']}-value", _published_schema(project)) > 0

    # The registry is away: the publisher says so for each topic, and what was not published.
    down = f"http://{HOST}:{free_port(HOST)}/apis/ccompat/v7"
    project.write(kafka={"schema_registry_url": down})
    capsys.readouterr()
    assert publisher.main(project.args()) == 1
    out, err = capsys.readouterr()
    for line in out.splitlines()[1:]:  # every row read is sent, rejected or failed
        read, sent, rejected, failed = (int(n.replace(",", "")) for n in line.split()[1:5])
        assert read == sent + rejected + failed and sent == 0, line
    sale_topic = project.topics["sale"]
    fix = "start the registry or correct [kafka] schema_registry_url"
    assert f"Schema Registry at {down}: not reachable (" in err
    assert f"{fix}; topic {sale_topic} not published" in err
    assert "Delta's offsets" not in err and "Traceback" not in err


def _published_schema(project: Project) -> dict[str, Any]:
    """The schema publisher.py registers for the sale file (registering it again gives its id)."""
    declared = {name: parse_type(text) for name, text in DECLARED["sale"].items()}
    header = ["id", "employee_id", "client_id", "date", "region", "sale"]
    return record_schema(project.topics["sale"], header, declared, "id")


V1: dict[str, Any] = {
    "type": "record",
    "name": "reading",
    "namespace": "sensors",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "celsius", "type": "double"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
V2: dict[str, Any] = {
    **V1,
    "fields": [*V1["fields"], {"name": "unit", "type": ["null", "string"], "default": None}],
}


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def encode(schema_id: int, schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    out = io.BytesIO(b"\x00" + schema_id.to_bytes(4, "big"))
    out.seek(5)
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def test_another_producers_topic_with_two_schema_versions_lands_typed_and_a_down_registry_is_one_line(
    project_factory: Callable[..., Project], registry: RegistryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("reading")
    topic = project.topics["reading"]
    project.write(kafka={"schema_registry_url": registry.url}, **{f"topic.{topic}": {"format": "avro"}})
    client = Registry(registry.url)
    v1, v2 = client.register(f"{topic}-value", V1), client.register(f"{topic}-value", V2)
    at = 1_733_400_000_123
    produce(
        project.bootstrap,
        topic,
        [
            (b"a", encode(v1, V1, {"id": "a", "celsius": 21.5, "at": at})),
            (b"b", encode(v1, V1, {"id": "b", "celsius": -3.0, "at": at})),
        ],
    )
    assert subscriber.main(project.args("--once")) == 0
    produce(
        project.bootstrap,
        topic,
        [(b"a", encode(v2, V2, {"id": "a", "celsius": 22.0, "at": at + 1, "unit": "C"})), (b"b", None)],
    )

    # The registry is away: the subscriber stops with one line and writes nothing.
    down = f"http://{HOST}:{free_port(HOST)}/apis/ccompat/v7"
    project.write(kafka={"schema_registry_url": down})
    capsys.readouterr()
    assert subscriber.main(project.args("--once")) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("subscriber.py:")]
    assert len(lines) == 1 and f"Schema Registry at {down}: not reachable" in lines[0], err
    assert lines[0].endswith(f"start the registry or correct [kafka] schema_registry_url; {REGISTRY_DOWN}")
    assert "Traceback" not in err

    project.write(kafka={"schema_registry_url": registry.url})
    assert subscriber.main(project.args("--once")) == 0
    table = pl.read_delta(str(project.delta / topic))
    assert table.schema == pl.Schema(
        {"id": pl.String(), "celsius": pl.Float64(), "at": pl.Datetime("us", "UTC"), "unit": pl.String()}
    )
    assert table.select("id", "celsius", "unit", pl.col("at").dt.epoch("ms")).rows() == [
        ("a", 22.0, "C", at + 1)
    ]
