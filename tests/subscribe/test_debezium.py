"""Debezium change events into real Delta tables, no broker: envelopes with and without their
schema, keys as structs, deletes and the tombstones after them, and events applied in the order
of ``sequence_by`` whatever the order they arrive in."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable

from deltastream.kafka.message import Record
from deltastream.schema import TopicSchema, parse_type
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.debezium import DebeziumFormat
from deltastream.subscribe.formats.typed import Declared
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.rows import DELETED, SEQUENCE
from deltastream.subscribe.sequence import Sequencer, tombstones
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

IDS = offsets.AppIds.of("g", {"t": "topic-id"})
#: The schema Debezium's JsonConverter writes for a PostgreSQL table (id int, amount
#: numeric(12,2), day date, at timestamp(6), at_tz timestamptz, note text).
ROW_FIELDS = [
    {"type": "int32", "optional": False, "field": "id"},
    {
        "type": "bytes",
        "optional": True,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "12"},
        "field": "amount",
    },
    {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1, "field": "day"},
    {
        "type": "int64",
        "optional": True,
        "name": "io.debezium.time.MicroTimestamp",
        "version": 1,
        "field": "at",
    },
    {
        "type": "string",
        "optional": True,
        "name": "io.debezium.time.ZonedTimestamp",
        "version": 1,
        "field": "at_tz",
    },
    {"type": "string", "optional": True, "field": "note"},
]
SCHEMA: dict[str, Any] = {
    "type": "struct",
    "fields": [
        {
            "type": "struct",
            "fields": ROW_FIELDS,
            "optional": True,
            "name": "dbz.public.orders.Value",
            "field": "before",
        },
        {
            "type": "struct",
            "fields": ROW_FIELDS,
            "optional": True,
            "name": "dbz.public.orders.Value",
            "field": "after",
        },
        {
            "type": "struct",
            "fields": [{"type": "int64", "optional": True, "field": "lsn"}],
            "field": "source",
        },
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"},
    ],
    "optional": False,
    "name": "dbz.public.orders.Envelope",
}
KEY_SCHEMA = {
    "type": "struct",
    "fields": [{"type": "int32", "optional": False, "field": "id"}],
    "optional": False,
}


def row(ident: int, cents: int = 1230, note: str | None = "n") -> dict[str, Any]:
    """A row as Debezium writes it: the decimal's unscaled bytes in base64, days, microseconds."""
    unscaled = cents.to_bytes(8, "big", signed=True)

    return {
        "id": ident,
        "amount": base64.b64encode(unscaled).decode(),
        "day": 19782,  # 2024-02-29
        "at": 1_731_157_507_123_456,  # 2024-11-09 13:05:07.123456
        "at_tz": "2024-11-09T12:05:07.123456Z",
        "note": note,
    }


def altered(scale: int, precision: int = 12, added: bool = False) -> dict[str, Any]:
    """The envelope's schema after ``ALTER TABLE`` changed ``amount`` (and perhaps added ``extra``)."""
    fields = [dict(f) for f in ROW_FIELDS]
    fields[1]["parameters"] = {"scale": str(scale), "connect.decimal.precision": str(precision)}
    if added:
        fields.append({"type": "int64", "optional": True, "field": "extra"})
    members = [dict(m, fields=fields) if m["field"] in ("before", "after") else m for m in SCHEMA["fields"]]
    return dict(SCHEMA, fields=members)


def event(
    op: str,
    ident: int,
    lsn: int,
    *,
    schema: bool | dict[str, Any] = True,
    extra: int | None = None,
    **values: Any,
) -> tuple[bytes, bytes]:
    before = row(ident, **values) if op in ("u", "d") else None
    after = row(ident, **values) if op != "d" else None
    if after is not None and extra is not None:
        after["extra"] = extra
    payload = {"before": before, "after": after, "source": {"lsn": lsn}, "op": op, "ts_ms": lsn}
    key = {"id": ident}
    if schema:
        return (
            json.dumps({"schema": KEY_SCHEMA, "payload": key}).encode(),
            json.dumps({"schema": SCHEMA if schema is True else schema, "payload": payload}).encode(),
        )
    return json.dumps(key).encode(), json.dumps(payload).encode()


class Topic:
    def __init__(
        self,
        root: Path,
        fmt: DebeziumFormat,
        sequencer: Sequencer | None = None,
        maintenance: Maintenance | None = None,
    ) -> None:
        self.root = root
        sink = DeltaSink(Tables.at(root), "id", sequencer=sequencer, maintenance=maintenance)
        self.writer = TopicWriter(sink, fmt)
        self.offset = 0

    def write(self, *messages: tuple[bytes, bytes | None]) -> None:
        records = []
        for key, value in messages:
            records.append(Record(self.offset, value, key))
            self.offset += 1
        self.writer.write("t", {0: records}, IDS)

    def rows(self, *columns: str) -> list[tuple[Any, ...]]:
        return sorted(pl.read_delta(str(self.root / "t")).select(columns or pl.all()).rows())


def test_a_schema_envelope_types_the_columns_and_deletes_apply(tmp_path: Path) -> None:
    topic = Topic(tmp_path, DebeziumFormat("id"))
    key2, _ = event("c", 2, 1)
    topic.write(event("r", 1, 1), event("r", 2, 1), event("c", 3, 2, cents=-5))
    topic.write(event("u", 1, 3, note="changed"), event("d", 2, 4), (key2, None))
    table = pl.read_delta(str(tmp_path / "t"))
    assert table.schema == pl.Schema(
        {
            "id": pl.Int32(),
            "amount": pl.Decimal(12, 2),
            "day": pl.Date(),
            "at": pl.Datetime("us", "UTC"),
            "at_tz": pl.Datetime("us", "UTC"),
            "note": pl.String(),
        }
    )
    at = datetime(2024, 11, 9, 13, 5, 7, 123456, tzinfo=UTC)
    at_tz = datetime(2024, 11, 9, 12, 5, 7, 123456, tzinfo=UTC)
    assert topic.rows() == [
        (1, Decimal("12.30"), date(2024, 2, 29), at, at_tz, "changed"),
        (3, Decimal("-0.05"), date(2024, 2, 29), at, at_tz, "n"),
    ]
    assert not (tmp_path / DEAD_LETTERS).exists()  # the tombstone after the delete is no error


def test_without_the_schema_values_are_text_typed_by_the_declared_columns(tmp_path: Path) -> None:
    declared = Declared("t", TopicSchema({"id": parse_type("int64"), "day": parse_type("int32")}))
    topic = Topic(tmp_path, DebeziumFormat("id", declared))
    topic.write(
        event("c", 1, 1, schema=False), event("c", 2, 2, schema=False), event("d", 1, 3, schema=False)
    )
    assert topic.rows("id", "day", "note") == [(2, 19782, "n")]
    assert pl.read_delta(str(tmp_path / "t")).schema["amount"] == pl.String()


def test_what_is_not_a_change_of_a_row_is_a_dead_letter(tmp_path: Path) -> None:
    topic = Topic(tmp_path, DebeziumFormat("id", sequence_by="source.lsn"))
    key1, value1 = event("c", 1, 5)
    truncate = json.dumps({"schema": SCHEMA, "payload": {"op": "t", "source": {"lsn": 6}}}).encode()
    no_lsn = json.dumps({"before": None, "after": row(7), "source": {}, "op": "c"}).encode()
    topic.write(
        (key1, value1),
        (key1, truncate),
        (b'{"id": 9}', value1),  # the key names another row
        (b'{"id": 7}', no_lsn),
        (b"{", value1),
    )
    assert topic.rows("id") == [(1,)]
    dead = sorted(pl.read_delta(str(tmp_path / DEAD_LETTERS)).select("offset", "error").rows())
    assert dead == [
        (1, "op 't' is not a change of a row (c, r, u or d)"),
        (2, "key names id 9 and the event 1: the key must be the id"),
        (3, "no sequence at source.lsn (sequence_by)"),
        (4, "key is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ]


@pytest.mark.parametrize("split", [1, 2, 3, 7])
def test_out_of_order_events_end_as_their_source_with_sequence_by(tmp_path: Path, split: int) -> None:
    """The history: 1 inserted, updated twice, deleted, inserted again; 2 inserted and deleted; 3
    inserted and updated. Sent in reverse, in batches of ``split``: the table ends as the source."""
    history = [
        event("c", 1, 10, note="a"),
        event("c", 2, 11),
        event("u", 1, 12, note="b"),
        event("c", 3, 13, note="x"),
        event("d", 2, 14),
        event("u", 1, 15, note="c"),
        event("d", 1, 16),
        event("u", 3, 17, note="y"),
        event("c", 1, 18, note="again"),
    ]
    topic = Topic(tmp_path / str(split), DebeziumFormat("id", sequence_by="source.lsn"))
    arrived = list(reversed(history))
    for start in range(0, len(arrived), split):
        topic.write(*arrived[start : start + split])
    assert topic.rows("id", "note", SEQUENCE) == [(1, "again", 18), (3, "y", 17)]


def test_a_delete_is_remembered_until_its_retention_then_forgotten(tmp_path: Path) -> None:
    tables = Tables.at(tmp_path)
    topic = Topic(tmp_path, DebeziumFormat("id", sequence_by="source.lsn"), Sequencer(tables, "id"))
    topic.write(event("c", 1, 10), event("c", 2, 10), event("d", 1, 12))
    topic.write(event("u", 1, 11, note="late"))  # older than the delete: the row stays deleted
    assert topic.rows("id") == [(2,)]
    held = pl.read_delta(str(tmp_path / tombstones("t")))
    assert held.select("id", SEQUENCE).rows() == [(1, 12)]
    assert held.schema["deleted_at"] == pl.Datetime("us", "UTC")

    assert Sequencer(tables, "id", {"t": 1e-9}).expire("t") == 1
    topic.write(event("u", 1, 11, note="later still"))  # past the retention: applied as new
    assert topic.rows("id", "note") == [(1, "later still"), (2, "n")]


def test_a_batch_written_again_after_its_tombstones_still_deletes(tmp_path: Path) -> None:
    """A crash after the tombstones of a batch are kept and before its commit: the batch is read
    again from Delta's offsets, and its delete, as old as its own tombstone, still applies."""
    tables = Tables.at(tmp_path)
    sequencer = Sequencer(tables, "id")
    topic = Topic(tmp_path, DebeziumFormat("id", sequence_by="source.lsn"), sequencer)
    topic.write(event("c", 1, 10), event("c", 2, 11))
    sequencer.remember("t", pl.DataFrame({"id": [1], SEQUENCE: [12], DELETED: [True]}))
    topic.write(event("d", 1, 12), event("u", 2, 11, note="same event again"))
    assert topic.rows("id", "note") == [(2, "same event again")]


def test_each_event_is_read_by_its_own_schema_and_a_change_that_does_not_fit_is_a_dead_letter(
    tmp_path: Path,
) -> None:
    """One batch from before and after ``ALTER TABLE``s: a narrower decimal, an added column and a
    decimal given more digits go in, each value read at its own scale (the column widened once); a
    decimal of another scale cannot go into the column and its events are dead letters, in this
    batch and in a later one."""
    topic = Topic(tmp_path, DebeziumFormat("id"))
    topic.write(
        event("c", 1, 1, cents=1230),  # 12.30 at scale 2, precision 12
        event("c", 2, 2, cents=99999, schema=altered(2, precision=10, added=True), extra=7),  # 999.99
        event("c", 3, 3, cents=123456, schema=altered(4)),  # 12.3456: scale 4 does not fit scale 2
        event("c", 4, 4, cents=10**18 + 5, schema=altered(2, precision=20)),  # widens the column
    )
    assert pl.read_delta(str(tmp_path / "t")).schema["amount"] == pl.Decimal(20, 2)
    topic.write(event("u", 1, 5, cents=10_000, schema=altered(3)))
    assert topic.rows("id", "amount", "extra") == [
        (1, Decimal("12.30"), None),
        (2, Decimal("999.99"), 7),
        (4, Decimal("10000000000000000.05"), None),
    ]
    dead = sorted(pl.read_delta(str(tmp_path / DEAD_LETTERS)).select("offset", "error").rows())
    assert [offset for offset, _ in dead] == [2, 4]
    assert dead[0][1] == (
        "schema of id 3's event: field 'amount' is a decimal(12,4) where the table's column is a "
        "decimal(12,2): an incompatible change (write it to a new topic, or move the table away and "
        "read the topic again)"
    )
    assert "decimal(12,3) where the table's column is a decimal(20,2)" in dead[1][1]


def test_tombstones_are_compacted_and_vacuumed_like_a_table(tmp_path: Path) -> None:
    tables = Tables.at(tmp_path)
    maintenance = Maintenance(tables, every=4, retention_hours=0)
    topic = Topic(
        tmp_path, DebeziumFormat("id", sequence_by="source.lsn"), Sequencer(tables, "id"), maintenance
    )
    for i in range(10):
        topic.write(event("c", i, 2 * i), event("d", i, 2 * i + 1))
    held = DeltaTable(str(tmp_path / tombstones("t")))
    assert "OPTIMIZE" in [entry["operation"] for entry in held.history()]
    assert len(held.file_uris()) <= 4
    assert len(list((tmp_path / tombstones("t")).glob("*.parquet"))) == len(held.file_uris())  # vacuumed
    assert sorted(pl.read_delta(str(tmp_path / tombstones("t")))["id"].to_list()) == list(range(10))


def test_two_schemas_with_one_column_type_and_two_conversions_are_each_read_their_way(tmp_path: Path) -> None:
    """A timestamp column altered from microseconds to milliseconds keeps its column type
    (timestamp) but not its conversion: each event is read by its own schema."""
    fields = [dict(f) for f in ROW_FIELDS]
    fields[3] = dict(fields[3], name="io.debezium.time.Timestamp")  # timestamp(3): milliseconds
    millis = dict(
        SCHEMA,
        fields=[dict(m, fields=fields) if m["field"] in ("before", "after") else m for m in SCHEMA["fields"]],
    )
    key, value = event("c", 2, 2, schema=millis)
    altered_value = json.loads(value)
    altered_value["payload"]["after"]["at"] = 1_731_157_507_123
    topic = Topic(tmp_path, DebeziumFormat("id"))
    topic.write(event("c", 1, 1), (key, json.dumps(altered_value).encode()))
    assert topic.rows("id", "at") == [
        (1, datetime(2024, 11, 9, 13, 5, 7, 123456, tzinfo=UTC)),
        (2, datetime(2024, 11, 9, 13, 5, 7, 123000, tzinfo=UTC)),
    ]
