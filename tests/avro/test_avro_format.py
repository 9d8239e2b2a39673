"""The Avro format against a real Schema Registry (Apicurio) and real Delta tables, no broker:
typed columns from the schema, a second schema version adding a column, keys, tombstones, and
every message that cannot be a row kept as a dead letter with its reason."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import polars as pl
import pytest
from deltalake import DeltaTable

from deltastream.avro.registry import Registry
from deltastream.errors import RegistryUnavailable
from deltastream.kafka.embedded import HOST, free_port
from deltastream.kafka.message import Record
from deltastream.kafka.registry import RegistryServer
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.avro import AvroFormat, id_value
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

from ..conftest import unique
from .conftest import PASSWORD, USER, SecureRegistry

IDS = offsets.AppIds.of("g", {"t": "topic-id"})
DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}
V1: dict[str, Any] = {
    "type": "record",
    "name": "sale",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": DECIMAL},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "region", "type": ["null", "string"], "default": None},
        {"name": "paid", "type": "boolean"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
V2: dict[str, Any] = {
    **V1,
    "fields": [*V1["fields"], {"name": "discount", "type": ["null", "double"], "default": None}],
}
AT = datetime(2024, 11, 9, 13, 5, 7, 123456, tzinfo=UTC)


def encode(schema_id: int, schema: dict[str, Any], value: Any) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def sale(ident: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "amount": Decimal("12.30") + ident,
        "day": date(2024, 2, 29),
        "at": AT,
        "region": "North" if ident % 2 else None,
        "paid": ident % 2 == 0,
        "tags": ["a", "é"],
    } | extra


class Setup:
    def __init__(self, root: Path, registry: Registry) -> None:
        self.registry = registry
        self.subject = unique("sale") + "-value"
        self.writer = TopicWriter(DeltaSink(Tables.at(root), "id"), AvroFormat("id", registry))
        self.root = root
        self.offset = 0

    def register(self, schema: dict[str, Any]) -> int:
        return self.registry.register(self.subject, schema)

    def write(self, *messages: tuple[bytes | None, bytes | None]) -> None:
        records = []
        for key, value in messages:
            records.append(Record(self.offset, value, key))
            self.offset += 1
        self.writer.write("t", {0: records}, IDS)

    def table(self) -> pl.DataFrame:
        return pl.read_delta(str(self.root / "t")).sort("id")

    def dead(self) -> list[tuple[int, str]]:
        return sorted(pl.read_delta(str(self.root / DEAD_LETTERS)).select("offset", "error").rows())


@pytest.fixture
def setup(tmp_path: Path, registry: RegistryServer) -> Setup:
    return Setup(tmp_path, Registry(registry.url))


def test_columns_typed_by_the_schema_and_a_second_version_adds_a_column(setup: Setup) -> None:
    v1 = setup.register(V1)
    v2 = setup.register(V2)
    assert v1 != v2
    setup.write((b"1", encode(v1, V1, sale(1))), (b"2", encode(v1, V1, sale(2))))
    setup.write((b"3", encode(v2, V2, sale(3, discount=0.5))), (None, encode(v1, V1, sale(2, region="East"))))

    table = setup.table()
    assert table.schema == pl.Schema(
        {
            "id": pl.Int64(),
            "amount": pl.Decimal(12, 2),
            "day": pl.Date(),
            "at": pl.Datetime("us", "UTC"),
            "region": pl.String(),
            "paid": pl.Boolean(),
            "tags": pl.String(),
            "discount": pl.Float64(),
        }
    )
    assert table.rows() == [
        (1, Decimal("13.30"), date(2024, 2, 29), AT, "North", False, '["a","é"]', None),
        (2, Decimal("14.30"), date(2024, 2, 29), AT, "East", True, '["a","é"]', None),
        (3, Decimal("15.30"), date(2024, 2, 29), AT, "North", False, '["a","é"]', 0.5),
    ]


def test_two_versions_in_one_batch_and_a_tombstone_by_text_or_avro_key(setup: Setup) -> None:
    v1, v2 = setup.register(V1), setup.register(V2)
    key_schema = {"type": "record", "name": "key", "fields": [{"name": "id", "type": "long"}]}
    key_id = setup.registry.register(setup.subject.replace("-value", "-key"), key_schema)
    setup.write(
        (b"1", encode(v1, V1, sale(1))),
        (encode(key_id, key_schema, {"id": 2}), encode(v2, V2, sale(2, discount=1.5))),
        (b"3", encode(v1, V1, sale(3))),
    )
    setup.write((b"1", None), (encode(key_id, key_schema, {"id": 3}), None))
    assert setup.table().select("id", "discount").rows() == [(2, 1.5)]
    assert not (setup.root / DEAD_LETTERS).exists()


def test_what_cannot_be_a_row_is_a_dead_letter_with_its_reason(setup: Setup) -> None:
    v1 = setup.register(V1)
    no_id = {"type": "record", "name": "other", "fields": [{"name": "name", "type": "string"}]}
    no_id_version = setup.registry.register(unique("other") + "-value", no_id)
    changed = {**V1, "fields": [{"name": "id", "type": "long"}, {"name": "paid", "type": "string"}]}
    changed_id = setup.registry.register(unique("changed") + "-value", changed)
    good = encode(v1, V1, sale(1))
    setup.write((b"1", good))
    setup.write(
        (b"2", b'{"id": "2"}'),  # JSON, not Avro
        (b"3", encode(999_999, V1, sale(3))),  # an id the registry does not know
        (b"4", good[:-3]),  # cut short
        (b"5", encode(no_id_version, no_id, {"name": "x"})),
        (b"6", encode(changed_id, changed, {"id": 6, "paid": "yes"})),
        (b"7", encode(v1, V1, sale(8))),  # the key names another record
        (b"9", encode(v1, V1, sale(9))),
    )
    assert setup.table()["id"].to_list() == [1, 9]
    dead = setup.dead()
    assert [offset for offset, _ in dead] == [1, 2, 3, 4, 5, 6]
    reasons = [reason for _, reason in dead]
    assert reasons[0] == "value is not in the Schema Registry's wire format (byte 0, a 4-byte schema id)"
    assert reasons[1].startswith("schema id 999999 is not in the Schema Registry at ")
    assert reasons[2].startswith(f"value is not Avro of schema id {v1} (")
    assert reasons[3] == f"schema id {no_id_version} has no 'id' field"
    assert reasons[4].startswith(
        f"schema id {changed_id}: field 'paid' is a string where the table's column is a boolean: "
        "an incompatible change"
    )
    assert reasons[5] == "key names '7' where id is '8': the key must be the id"


def test_a_registry_that_does_not_answer_stops_with_one_line(tmp_path: Path) -> None:
    url = f"http://{HOST}:{free_port(HOST)}/apis/ccompat/v7"
    writer = TopicWriter(DeltaSink(Tables.at(tmp_path), "id"), AvroFormat("id", Registry(url, timeout_s=2)))
    with pytest.raises(RegistryUnavailable) as caught:
        writer.write("t", {0: [Record(0, encode(1, V1, sale(1)), b"1")]}, IDS)
    message = str(caught.value)
    assert message.startswith(f"Schema Registry at {url}: not reachable (")
    assert "\n" not in message and "start the registry or correct [kafka] schema_registry_url" in message
    assert not (tmp_path / "t").exists()


def test_registry_schemas_are_fetched_once_per_id(setup: Setup, registry: RegistryServer) -> None:
    v1 = setup.register(V1)
    client = Registry(registry.url)
    registry_text = client.schema(v1)
    assert [f["name"] for f in json.loads(registry_text)["fields"]] == [f["name"] for f in V1["fields"]]
    client.url = "http://127.0.0.1:1"  # a second ask would now fail: the first answer is kept
    assert client.schema(v1) == registry_text


def test_a_url_that_is_not_the_registrys_api_stops_rather_than_dead_letter_everything(
    tmp_path: Path, registry: RegistryServer
) -> None:
    wrong = registry.url.removesuffix("/apis/ccompat/v7")
    writer = TopicWriter(DeltaSink(Tables.at(tmp_path), "id"), AvroFormat("id", Registry(wrong)))
    with pytest.raises(RegistryUnavailable) as caught:
        writer.write("t", {0: [Record(0, encode(1, V1, sale(1)), b"1")]}, IDS)
    assert "answered 404 Not Found without a registry's error code" in str(caught.value)
    assert "apis/ccompat/v7" in str(caught.value)


def test_basic_auth_and_a_private_certificate_authority(secure_registry: SecureRegistry) -> None:
    good = Registry(secure_registry.url, USER, PASSWORD, secure_registry.ca)
    schema_id = good.register(unique("secure") + "-value", V1)
    assert "sale" in good.schema(schema_id)

    with pytest.raises(RegistryUnavailable) as refused:
        Registry(secure_registry.url, USER, "wrong", secure_registry.ca).schema(schema_id)
    assert "refused with 401 Unauthorized" in str(refused.value)
    assert "check [kafka] schema_registry_username and schema_registry_password" in str(refused.value)
    assert "wrong" not in str(refused.value)

    with pytest.raises(RegistryUnavailable) as untrusted:
        Registry(secure_registry.url, USER, PASSWORD, secure_registry.other_ca).schema(schema_id)
    assert "not reachable" in str(untrusted.value) and "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)


@pytest.mark.parametrize(
    ("logical", "ident", "text"),
    [
        ({"type": "long", "logicalType": "timestamp-micros"}, AT, "2024-11-09T13:05:07.123456+00:00"),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            AT.replace(microsecond=123000),
            "2024-11-09T13:05:07.123Z",
        ),
        ({"type": "int", "logicalType": "date"}, date(2024, 2, 29), "2024-02-29"),
        (DECIMAL, Decimal("12.30"), "12.30"),
    ],
)
def test_an_id_of_a_date_time_or_decimal_is_named_by_its_text_or_an_avro_key(
    setup: Setup, logical: dict[str, Any], ident: Any, text: str
) -> None:
    """Keys name such ids by their ISO (or decimal) text, in any zone, or as an Avro value of the
    id's type; a tombstone's key deletes the same row."""
    schema = {
        "type": "record",
        "name": "event",
        "fields": [{"name": "id", "type": logical}, {"name": "n", "type": "long"}],
    }
    version = setup.register(schema)
    key_id = setup.registry.register(setup.subject.replace("-value", "-key"), logical)
    other = ident + timedelta(days=1) if isinstance(ident, date) else ident + 1
    setup.write(
        (text.encode(), encode(version, schema, {"id": ident, "n": 1})),
        (encode(key_id, logical, other), encode(version, schema, {"id": other, "n": 2})),
        (text.encode(), encode(version, schema, {"id": other, "n": 3})),  # names another id
    )
    assert setup.table().select("n").rows() == [(1,), (2,)]
    assert [offset for offset, _ in setup.dead()] == [2]
    setup.write((text.encode(), None))
    assert setup.table().select("n").rows() == [(2,)]


def test_a_version_that_widens_a_field_widens_the_column_once(setup: Setup) -> None:
    """int to long and a decimal given more digits, as a compatible evolution allows: the table is
    rewritten once in the wider types, older rows kept; a narrower version after it still fits."""
    narrow = {
        "type": "record",
        "name": "count",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "n", "type": "int"},
            {"name": "amount", "type": DECIMAL},
        ],
    }
    wide = {
        "type": "record",
        "name": "count",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "n", "type": "long"},
            {"name": "amount", "type": {**DECIMAL, "precision": 20}},
        ],
    }
    v1, v2 = setup.register(narrow), setup.register(wide)
    setup.write((b"1", encode(v1, narrow, {"id": 1, "n": 5, "amount": Decimal("1.25")})))
    assert setup.table().schema["n"] == pl.Int32()
    setup.write(
        (b"2", encode(v2, wide, {"id": 2, "n": 2**40, "amount": Decimal("123456789012345.67")})),
        (b"3", encode(v1, narrow, {"id": 3, "n": 7, "amount": Decimal("-0.01")})),
    )
    table = setup.table()
    assert (table.schema["n"], table.schema["amount"]) == (pl.Int64(), pl.Decimal(20, 2))
    assert table.rows() == [
        (1, 5, Decimal("1.25")),
        (2, 2**40, Decimal("123456789012345.67")),
        (3, 7, Decimal("-0.01")),
    ]
    assert not (setup.root / DEAD_LETTERS).exists()
    history = DeltaTable(str(setup.root / "t")).history()
    assert [h.get("deltastream") for h in reversed(history)] == [None, "widen", None]  # rewritten once


def test_a_key_names_a_decimal_id_of_any_width_by_value() -> None:
    wide = pl.Decimal(38, 1)
    assert id_value("12345678901234567890123456789.5", wide) == Decimal("12345678901234567890123456789.5")
    assert id_value("12.3", pl.Decimal(12, 2)) == Decimal("12.30")
    assert id_value("12.345", pl.Decimal(12, 2)) is None  # finer than the column
    assert id_value("NaN", pl.Decimal(12, 2)) is None
