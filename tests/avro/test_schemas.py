"""Avro schemas as typed columns, and CSV text written in a schema made from declared columns:
pure units, no registry (fastavro reads back what is written)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastavro
import polars as pl
import pytest

from deltastream.avro.schemas import BadSchema, RecordSchema
from deltastream.avro.writer import AvroRows, record_schema
from deltastream.dtypes import fits
from deltastream.schema import NotConverted, parse_type

MIXED: dict[str, Any] = {
    "type": "record",
    "name": "r",
    "namespace": "ns",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "small", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "blob", "type": "bytes"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "again", "type": "ns.Kind"},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "clock", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "wide", "type": {"type": "bytes", "logicalType": "decimal", "precision": 40, "scale": 2}},
        {"name": "either", "type": ["null", "long", "string"]},
        {
            "name": "point",
            "type": {"type": "record", "name": "P", "fields": [{"name": "x", "type": "double"}]},
        },
        {"name": "many", "type": {"type": "map", "values": "long"}},
    ],
}


def roundtrip(schema: dict[str, Any], value: dict[str, Any]) -> pl.DataFrame:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    reader = RecordSchema(1, json.dumps(schema))
    return reader.frame([reader.read(out.getvalue())])


def test_every_avro_type_has_a_column_type_and_nested_values_are_json_text() -> None:
    frame = roundtrip(
        MIXED,
        {
            "id": "a",
            "small": 7,
            "ratio": 0.5,
            "blob": b"\x00\xff",
            "kind": "B",
            "again": "A",
            "uid": "12345678-1234-5678-1234-567812345678",
            "clock": 3_600_000_001,
            "local": datetime(2024, 1, 2, 3, 4, 5),
            "wide": Decimal("1.25"),
            "either": 5,
            "point": {"x": 1.5},
            "many": {"k": 1},
        },
    )
    assert frame.schema == pl.Schema(
        {
            "id": pl.String(),
            "small": pl.Int32(),
            "ratio": pl.Float32(),
            "blob": pl.Binary(),
            "kind": pl.String(),
            "again": pl.String(),
            "uid": pl.String(),
            "clock": pl.String(),
            "local": pl.String(),
            "wide": pl.String(),
            "either": pl.String(),
            "point": pl.String(),
            "many": pl.String(),
        }
    )
    assert frame.row(0) == (
        "a",
        7,
        0.5,
        b"\x00\xff",
        "B",
        "A",
        str(UUID("12345678-1234-5678-1234-567812345678")),
        "01:00:00.000001",
        "2024-01-02T03:04:05",
        "1.25",
        "5",
        '{"x":1.5}',
        '{"k":1}',
    )


AMOUNTS: dict[str, Any] = {
    "type": "record",
    "name": "amounts",
    "fields": [
        {"name": "id", "type": "long"},
        {
            "name": "cents",
            "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}],
        },
        {"name": "huge", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 0}},
        {"name": "fine", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 10}},
        {"name": "wide", "type": {"type": "bytes", "logicalType": "decimal", "precision": 40, "scale": 2}},
    ],
}


def encoded(schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def test_decimals_are_exact_whatever_their_sign_size_or_absence() -> None:
    reader = RecordSchema(1, json.dumps(AMOUNTS))
    fine, wide = (
        Decimal("-1234567890123456789012345678.0123456789"),
        Decimal("-123456789012345678901.91"),
    )
    values: list[dict[str, Any]] = [
        {"id": 1, "cents": Decimal("-0.01"), "huge": Decimal(10**38 - 1), "fine": fine, "wide": wide},
        {"id": 2, "cents": None, "huge": Decimal(-(10**38 - 1)), "fine": -fine, "wide": -wide},
        {"id": 3, "cents": Decimal("9999.99"), "huge": Decimal(0), "fine": Decimal(0), "wide": Decimal(0)},
        {"id": 4, "cents": Decimal("-1234.50"), "huge": Decimal(-1), "fine": Decimal(1), "wide": Decimal(1)},
    ]
    frame = reader.frame([reader.read(encoded(AMOUNTS, v)) for v in values])
    assert frame.schema == pl.Schema(
        {
            "id": pl.Int64(),
            "cents": pl.Decimal(6, 2),
            "huge": pl.Decimal(38, 0),
            "fine": pl.Decimal(38, 10),
            "wide": pl.String(),  # past 38 digits: its text
        }
    )
    text = [{**v, "wide": str(v["wide"].quantize(Decimal("0.01")))} for v in values]
    assert frame.rows(named=True) == text


def test_a_decimal_with_more_digits_than_its_precision_is_refused() -> None:
    reader = RecordSchema(1, json.dumps(AMOUNTS))
    loose = json.loads(json.dumps(AMOUNTS))
    loose["fields"][1]["type"][1]["precision"] = 9  # the writer's schema let it through
    with pytest.raises(ValueError, match="field 'cents' has more digits than its decimal\\(6,2\\)"):
        zeros = dict.fromkeys(("huge", "fine", "wide"), Decimal(0))
        reader.read(encoded(loose, {"id": 1, "cents": Decimal("10000.00"), **zeros}))


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ('{"type": "string"}', "schema id 1 is not an Avro record, so it has no columns"),
        ("not json", "schema id 1 is not a valid Avro schema"),
        (
            '{"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}, '
            '{"name": "A", "type": "long"}]}',
            "schema id 1: fields 'a' and 'A' differ only in case (Delta column names ignore case)",
        ),
    ],
)
def test_a_schema_that_cannot_be_columns_says_why(schema: str, reason: str) -> None:
    with pytest.raises(BadSchema) as caught:
        RecordSchema(1, schema)
    assert str(caught.value).startswith(reason)


def test_narrower_values_fit_wider_columns_and_nothing_else_does() -> None:
    assert fits(pl.Int64(), pl.Int32())
    assert fits(pl.Float64(), pl.Float32())
    assert fits(pl.Decimal(12, 2), pl.Decimal(10, 2))
    assert not fits(pl.Int32(), pl.Int64())
    assert not fits(pl.Decimal(12, 2), pl.Decimal(12, 3))
    assert not fits(pl.String(), pl.Int64())


DECLARED = {
    "id": parse_type("int64"),
    "n": parse_type("int32"),
    "price": parse_type("decimal(6,2)"),
    "day": parse_type("date(%d/%m/%Y)"),
    "at": parse_type("timestamp"),
    "ok": parse_type("bool"),
    "x": parse_type("float64"),
}
HEADER = ["id", "n", "price", "day", "at", "ok", "note"]


def rows() -> AvroRows:
    schema = record_schema("sale-2024.v1", HEADER, DECLARED, "id")
    return AvroRows(schema, 7, DECLARED, "id")


def read_back(encoded: bytes) -> dict[str, Any]:
    assert encoded[:5] == b"\x00\x00\x00\x00\x07"
    value = fastavro.schemaless_reader(io.BytesIO(encoded[5:]), rows().parsed, None)
    assert isinstance(value, dict)
    return value


def test_a_schema_from_declared_columns_and_text_written_in_it() -> None:
    schema = record_schema("sale-2024.v1", HEADER, DECLARED, "id")
    assert schema["name"] == "sale_2024_v1"
    assert [f["name"] for f in schema["fields"]] == [*HEADER, "x"]  # a declared column the file lacks
    assert schema["fields"][0] == {"name": "id", "type": "long"}
    assert schema["fields"][6] == {"name": "note", "type": ["null", "string"], "default": None}
    values = {"id": "007", "n": " -5 ", "price": "12.5", "day": "29/02/2024", "at": "2024-11-09 13:05:07Z"}
    key, encoded = rows().encode(values | {"ok": "TRUE", "note": ""})
    assert key == "7"
    assert read_back(encoded) == {
        "id": 7,
        "n": -5,
        "price": Decimal("12.50"),
        "day": date(2024, 2, 29),
        "at": datetime(2024, 11, 9, 13, 5, 7, tzinfo=UTC),
        "ok": True,
        "note": "",
        "x": None,
    }
    _, blank = rows().encode({"id": "1", "n": "", "price": " ", "day": "", "at": "", "ok": "", "note": ""})
    assert read_back(blank)["n"] is None and read_back(blank)["price"] is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("n", "2147483648", "column 'n': '2147483648' is not a int32"),
        ("n", "1_000", "column 'n': '1_000' is not a int32"),
        ("price", "1.255", "column 'price': '1.255' is not a decimal(6,2)"),
        ("price", "12345.5", "column 'price': '12345.5' is not a decimal(6,2)"),
        ("price", "1e2", "column 'price': '1e2' is not a decimal(6,2)"),
        ("day", "31/02/2024", "column 'day': '31/02/2024' is not a date(%d/%m/%Y)"),
        ("at", "2024-11-09 13:05:07", "column 'at': '2024-11-09 13:05:07' is not a timestamp"),
        ("ok", "yes", "column 'ok': 'yes' is not a bool"),
        ("id", " ", "column 'id' is blank: the id names the row"),
    ],
)
def test_text_that_does_not_fit_its_type_names_the_column_the_value_and_the_type(
    column: str, value: str, reason: str
) -> None:
    good = {
        "id": "1",
        "n": "1",
        "price": "1",
        "day": "01/01/2024",
        "at": "2024-01-01T00:00:00+01:00",
        "ok": "0",
    }
    with pytest.raises(NotConverted) as caught:
        rows().encode(good | {"note": "", column: value})
    assert str(caught.value) == reason


def test_a_float_must_be_a_finite_number_as_written() -> None:
    schema = record_schema("t", ["id", "x"], DECLARED, "id")
    writer = AvroRows(schema, 1, DECLARED, "id")
    assert writer.encode({"id": "1", "x": "1e3"})[0] == "1"
    for bad in ("nan", "inf", "1_0", "0x10"):
        with pytest.raises(NotConverted):
            writer.encode({"id": "1", "x": bad})


def test_a_column_name_avro_cannot_hold_is_one_line() -> None:
    with pytest.raises(NotConverted) as caught:
        record_schema("t", ["id", "first name"], {}, "id")
    assert str(caught.value) == (
        "column 'first name' cannot be an Avro field name (a letter or _, then letters, digits, _)"
    )


def test_decimals_in_fixed_and_nested_are_exact_and_refused_past_their_precision() -> None:
    """fastavro alone rounds these to their precision (12345.67 in a decimal(4,2) reads as 1.235E+4)."""
    schema: dict[str, Any] = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "id", "type": "long"},
            {
                "name": "fixed",
                "type": {
                    "type": "fixed",
                    "name": "F",
                    "size": 8,
                    "logicalType": "decimal",
                    "precision": 6,
                    "scale": 2,
                },
            },
            {
                "name": "nested",
                "type": {
                    "type": "record",
                    "name": "N",
                    "fields": [
                        {
                            "name": "d",
                            "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
                        }
                    ],
                },
            },
        ],
    }
    raw = json.loads(json.dumps(schema))
    raw["fields"][1]["type"] = {"type": "fixed", "name": "F", "size": 8}
    raw["fields"][2]["type"]["fields"][0]["type"] = "bytes"

    def read(fixed: int, nested: int) -> dict[str, Any]:
        value = {
            "id": 1,
            "fixed": fixed.to_bytes(8, "big", signed=True),
            "nested": {"d": nested.to_bytes(4, "big", signed=True)},
        }
        return RecordSchema(1, json.dumps(schema)).read(encoded(raw, value))

    assert read(-123456, 9999) == {"id": 1, "fixed": Decimal("-1234.56"), "nested": {"d": Decimal("99.99")}}
    with pytest.raises(ValueError, match=r"more digits than its decimal\(6,2\)"):
        read(1234567, 1)
    with pytest.raises(ValueError, match=r"more digits than its decimal\(4,2\)"):
        read(1, 10000)
