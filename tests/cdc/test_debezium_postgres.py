"""Change events from a live PostgreSQL, through Kafka Connect and Debezium, into Delta exactly as
the database has them: a snapshot, inserts, updates, deletes, an update of the key, and decimal,
date and timestamp columns; with the schema envelope, without it, and in an order scrambled on
the way (``sequence_by``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from kafka import KafkaProducer

import subscriber
from deltastream.subscribe.rows import SEQUENCE
from deltastream.values import DEAD_LETTERS

from ..conftest import Project, read_topic, unique, wait_until
from .services import Connect, Postgres, debezium_postgres

CREATE = """
CREATE TABLE {t} (id integer PRIMARY KEY, amount numeric(12,2), day date, at timestamp,
                  at_tz timestamptz, note text);
INSERT INTO {t} VALUES
  (1, 12.30, '2024-02-29', '2024-11-09 13:05:07.123456', '2024-11-09 13:05:07.123456+01', 'first'),
  (2, -0.05, '1969-12-31', '1960-01-01 00:00:00', '2000-01-01 00:00:00Z', NULL);
"""
CHANGES = """
INSERT INTO {t} VALUES (3, 9999999999.99, '2100-01-01', '2100-01-01 00:00:00.000001', now(), 'é and 李');
UPDATE {t} SET amount = 13.31, note = 'second' WHERE id = 1;
DELETE FROM {t} WHERE id = 3;
UPDATE {t} SET id = 20 WHERE id = 2;
INSERT INTO {t} VALUES (4, 0, NULL, NULL, NULL, 'it''s');
"""
#: The messages CHANGES makes after the snapshot's two: an insert, an update, a delete and its
#: tombstone, the key's update (a delete, its tombstone and an insert), an insert.
MESSAGES = 2 + 8


def source_rows(pg: Postgres, table: str) -> list[tuple[Any, ...]]:
    """The table as PostgreSQL has it, timestamps as Debezium counts them (UTC wall clock)."""
    text = pg.sql(f"SET TimeZone = 'UTC'; SELECT coalesce(json_agg(t ORDER BY id), '[]') FROM {table} t")
    rows = json.loads(text.strip().removeprefix("SET").strip(), parse_float=Decimal)

    def stamp(value: str | None) -> datetime | None:
        if value is None:
            return None
        found = datetime.fromisoformat(value)
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)

    return [
        (
            r["id"],
            None if r["amount"] is None else Decimal(r["amount"]).quantize(Decimal("0.01")),
            None if r["day"] is None else date.fromisoformat(r["day"]),
            stamp(r["at"]),
            stamp(r["at_tz"]),
            r["note"],
        )
        for r in rows
    ]


def capture(pg: Postgres, connect: Connect, schemas: bool, **extra: str) -> tuple[str, str]:
    """A new table with two rows, captured by a new connector, then changed; its name and topic."""
    table = unique("orders").replace("-", "_")
    prefix = unique("dbz")
    pg.sql(CREATE.format(t=table))
    connect.add(prefix, debezium_postgres(pg, prefix, [table], schemas) | extra)
    wait_until(lambda: connect.running(prefix), timeout=60, interval=0.2)
    topic = f"{prefix}.public.{table}"
    read_topic_until(connect, topic, 2)  # the snapshot is in Kafka before the changes
    pg.sql(CHANGES.format(t=table))
    return table, topic


def read_topic_until(connect: Connect, topic: str, count: int) -> list[Any]:
    messages = read_topic(connect.bootstrap, topic, count, timeout=60)
    assert len(messages) >= count, f"{len(messages)} messages on {topic}, expected {count}"
    return messages


def debezium_project(make: Callable[..., Project], topic: str, **topic_keys: Any) -> Project:
    project = make("cdc")
    project.topics = {"cdc": topic}
    project.write(**{f'topic."{topic}"': {"format": "debezium", **topic_keys}})  # a dotted name
    return project


def test_a_live_table_arrives_typed_and_exactly_as_the_database_has_it(
    postgres: Postgres, connect: Connect, project_factory: Callable[..., Project]
) -> None:
    table, topic = capture(postgres, connect, schemas=True)
    read_topic_until(connect, topic, MESSAGES)
    project = debezium_project(project_factory, topic)
    assert subscriber.main(project.args("--once")) == 0
    delta = pl.read_delta(str(project.delta / topic))
    assert delta.schema == pl.Schema(
        {
            "id": pl.Int32(),
            "amount": pl.Decimal(12, 2),
            "day": pl.Date(),
            "at": pl.Datetime("us", "UTC"),
            "at_tz": pl.Datetime("us", "UTC"),
            "note": pl.String(),
        }
    )
    expected = source_rows(postgres, table)
    assert [r[0] for r in expected] == [1, 4, 20]
    assert sorted(delta.rows()) == expected
    assert not (project.delta / DEAD_LETTERS).exists()


def test_events_scrambled_on_the_way_end_as_the_source_with_sequence_by(
    postgres: Postgres, connect: Connect, project_factory: Callable[..., Project]
) -> None:
    table, topic = capture(postgres, connect, schemas=True)
    events = read_topic_until(connect, topic, MESSAGES)
    scrambled = unique("scrambled")
    producer = KafkaProducer(bootstrap_servers=connect.bootstrap)
    for message in reversed(events):  # the newest first: every older event arrives late
        producer.send(scrambled, key=message.key, value=message.value, partition=0)
    producer.flush()
    producer.close()
    source = source_rows(postgres, table)
    unordered = debezium_project(project_factory, scrambled)
    assert subscriber.main(unordered.args("--once")) == 0
    assert sorted(pl.read_delta(str(unordered.delta / scrambled)).rows()) != source  # offsets' order

    project = debezium_project(project_factory, scrambled, sequence_by="source.lsn")
    project.write(subscriber={"max_batch_records": 3})  # several batches: late events meet stored rows
    assert subscriber.main(project.args("--once")) == 0
    delta = pl.read_delta(str(project.delta / scrambled))
    assert sorted(delta.drop(SEQUENCE).rows()) == source
    tombstones = pl.read_delta(str(project.delta / "_tombstones" / scrambled))
    assert sorted(tombstones["id"].to_list()) == [2, 3]


def test_without_the_schema_envelope_values_are_typed_by_the_declared_columns(
    postgres: Postgres, connect: Connect, project_factory: Callable[..., Project]
) -> None:
    table, topic = capture(postgres, connect, schemas=False, **{"decimal.handling.mode": "string"})
    read_topic_until(connect, topic, MESSAGES)
    project = debezium_project(project_factory, topic)
    columns = {"id": "int64", "amount": "decimal(12,2)", "note": "string"}
    project.write(**{f'topic."{topic}".columns': columns})
    assert subscriber.main(project.args("--once")) == 0
    delta = pl.read_delta(str(project.delta / topic)).select("id", "amount", "note")
    assert delta.schema == pl.Schema({"id": pl.Int64(), "amount": pl.Decimal(12, 2), "note": pl.String()})
    assert sorted(delta.rows()) == [(r[0], r[1], r[5]) for r in source_rows(postgres, table)]


def test_alter_table_widens_and_adds_columns_and_a_change_of_scale_is_a_dead_letter(
    postgres: Postgres, connect: Connect, project_factory: Callable[..., Project]
) -> None:
    """After the changes, ``amount`` gets more digits and a column is added (both go in: the
    column widened once), then ``amount`` another scale (its event is a dead letter, the row stays
    as it was)."""
    table, topic = capture(postgres, connect, schemas=True)
    postgres.sql(
        f"""
        ALTER TABLE {table} ALTER COLUMN amount TYPE numeric(20,2), ADD COLUMN extra bigint;
        INSERT INTO {table} (id, amount, note, extra) VALUES (5, 123456789012345678.91, 'wide', 7);
        ALTER TABLE {table} ALTER COLUMN amount TYPE numeric(22,4);
        UPDATE {table} SET amount = 1.2345, note = 'third' WHERE id = 1;
        """
    )
    read_topic_until(connect, topic, MESSAGES + 2)
    project = debezium_project(project_factory, topic)
    assert subscriber.main(project.args("--once")) == 0
    delta = pl.read_delta(str(project.delta / topic)).select("id", "amount", "extra", "note")
    assert delta.schema == pl.Schema(
        {"id": pl.Int32(), "amount": pl.Decimal(20, 2), "extra": pl.Int64(), "note": pl.String()}
    )
    assert sorted(delta.rows()) == [
        (1, Decimal("13.31"), None, "second"),
        (4, Decimal("0.00"), None, "it's"),
        (5, Decimal("123456789012345678.91"), 7, "wide"),
        (20, Decimal("-0.05"), None, None),
    ]
    dead = pl.read_delta(str(project.delta / DEAD_LETTERS))["error"].to_list()
    assert len(dead) == 1
    assert "field 'amount' is a decimal(22,4) where the table's column is a decimal(20,2)" in dead[0]


@pytest.fixture(autouse=True)
def _quiet_kafka_python_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="kafka")
