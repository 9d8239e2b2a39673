"""An Avro record schema read as the typed columns of a table, and its values as a frame.

Each field is a column (the Delta type in parentheses):

- ``boolean`` (boolean), ``int`` (integer), ``long`` (long), ``float`` (float), ``double``
  (double), ``string`` and ``enum`` (string), ``bytes`` and ``fixed`` (binary);
- logical types: ``decimal`` (decimal(p,s); past 38 digits its text), ``date`` (date),
  ``timestamp-millis`` and ``timestamp-micros`` (timestamp, UTC), ``uuid`` (string);
  ``time-*`` and ``local-timestamp-*`` as ISO 8601 text (Delta has no time of day, and a time
  without a zone is not a UTC timestamp);
- a union of ``null`` and one type is that type, nullable; another union, a record, an array or a
  map is its compact JSON text, as the JSON format stores nested values.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Context, Decimal
from typing import Any
from uuid import UUID

import fastavro
import fastavro.read
import polars as pl

from deltastream.dtypes import described

#: Decimal precision Delta (and Parquet) can hold.
MAX_PRECISION = 38
#: Id types that can name a row (as for declared columns: no float, no boolean).
ID_TYPES = (pl.String, pl.Int32, pl.Int64, pl.Date, pl.Datetime, pl.Decimal)
_PRIMITIVE: dict[str, pl.DataType] = {
    "boolean": pl.Boolean(),
    "int": pl.Int32(),
    "long": pl.Int64(),
    "float": pl.Float32(),
    "double": pl.Float64(),
    "string": pl.String(),
    "bytes": pl.Binary(),
    "null": pl.String(),
}
_TIMESTAMP = pl.Datetime("us", "UTC")

Converter = Callable[[Any], Any]


class BadSchema(ValueError):
    """A schema that cannot be a table's columns; the message says why."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} has no JSON form")


def as_json(value: Any) -> str | None:
    """A nested value's compact JSON text (null stays null)."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, time | datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Column:
    """One field as a column: its type, and how a decoded value becomes one Polars takes."""

    dtype: pl.DataType
    convert: Converter | None = None


#: Logical types by (underlying type, logical type), the decimal apart.
_LOGICAL: dict[tuple[str, str], Column] = {
    ("int", "date"): Column(pl.Date()),
    ("long", "timestamp-millis"): Column(_TIMESTAMP),
    ("long", "timestamp-micros"): Column(_TIMESTAMP),
    ("int", "time-millis"): Column(pl.String(), as_text),
    ("long", "time-micros"): Column(pl.String(), as_text),
    ("long", "local-timestamp-millis"): Column(pl.String(), as_text),
    ("long", "local-timestamp-micros"): Column(pl.String(), as_text),
    ("string", "uuid"): Column(pl.String(), as_text),
    ("fixed", "uuid"): Column(pl.String(), as_text),
}
#: Named and nested types that are not a logical one.
_COMPLEX = {
    "enum": Column(pl.String()),
    "fixed": Column(pl.Binary()),
    "record": Column(pl.String(), as_json),
    "array": Column(pl.String(), as_json),
    "map": Column(pl.String(), as_json),
}


def column(avro: Any, named: dict[str, Any], namespace: str = "") -> Column:
    """The column of a field of type ``avro``; ``named`` holds the named types seen so far, by
    name and by full name (in ``namespace`` unless they give their own)."""
    if isinstance(avro, list):
        others = [t for t in avro if t != "null"]
        if len(others) == 1:
            return column(others[0], named, namespace)
        for member in others:
            column(member, named, namespace)  # learn the named types it defines
        return Column(pl.String(), as_json)
    if isinstance(avro, str):
        if avro in _PRIMITIVE:
            return Column(_PRIMITIVE[avro])
        if avro in named:
            return column(named[avro], named)
        raise BadSchema(f"type {avro!r} is not defined before it is used")
    if not isinstance(avro, dict) or not isinstance(avro.get("type"), str | list | dict):
        raise BadSchema(f"{avro!r} is not an Avro type")
    return _complex(avro, named, namespace)


def _complex(avro: dict[str, Any], named: dict[str, Any], namespace: str) -> Column:
    kind, logical = avro["type"], avro.get("logicalType")
    if not isinstance(kind, str):
        return column(kind, named, namespace)
    if kind in ("record", "enum", "fixed") and "name" in avro:
        name = str(avro["name"])
        namespace = str(avro.get("namespace") or (name.rpartition(".")[0] if "." in name else namespace))
        short = name.rpartition(".")[2]
        named[short] = avro
        named[f"{namespace}.{short}" if namespace else short] = avro
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = int(avro.get("precision", 0)), int(avro.get("scale", 0))
        if 1 <= precision <= MAX_PRECISION and 0 <= scale <= precision:
            return Column(pl.Decimal(precision, scale))
        return Column(pl.String(), as_text)
    if isinstance(logical, str) and (kind, logical) in _LOGICAL:
        return _LOGICAL[(kind, logical)]
    for field in avro.get("fields", []) if kind == "record" else ():
        column(field.get("type"), named, namespace)  # learn the named types it defines
    return _COMPLEX.get(kind) or column(kind, named, namespace)


def _namespace(record: dict[str, Any]) -> str:
    name = str(record.get("name", ""))
    return str(record.get("namespace") or (name.rpartition(".")[0] if "." in name else ""))


def parse(schema_id: int, text: str) -> Any:
    """Schema ``schema_id``'s text parsed for reading; :class:`BadSchema` when it is not Avro."""
    try:
        return fastavro.parse_schema(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, fastavro.schema.SchemaParseException) as exc:
        raise BadSchema(f"schema id {schema_id} is not a valid Avro schema ({exc})") from None


def read(parsed: Any, payload: bytes | memoryview) -> Any:
    """One value of a parsed schema from ``payload`` (after the wire format's header), which it
    must fill exactly; raises one of :data:`READ_ERRORS` when the bytes are not that."""
    stream = io.BytesIO(payload)
    value = fastavro.schemaless_reader(stream, parsed, None)
    if stream.tell() != len(payload):
        raise ValueError(f"{len(payload) - stream.tell()} bytes left over after the value")
    return value


class RecordSchema:
    """A record schema from the registry: its columns, and its values read into a frame."""

    def __init__(self, schema_id: int, text: str) -> None:
        self.id = schema_id
        self.parsed = parse(schema_id, text)
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("type") != "record":
            raise BadSchema(f"schema id {schema_id} is not an Avro record, so it has no columns")
        named: dict[str, Any] = {}
        column(raw, named)  # learn the named types it defines
        self.columns: dict[str, Column] = {}
        lowered: dict[str, str] = {}
        for field in raw.get("fields", []):
            name = str(field["name"])
            if (other := lowered.setdefault(name.lower(), name)) != name:
                raise BadSchema(
                    f"schema id {schema_id}: fields {other!r} and {name!r} differ only in case "
                    "(Delta column names ignore case)"
                )
            self.columns[name] = column(field["type"], named, _namespace(raw))
        self.schema = {name: c.dtype for name, c in self.columns.items()}
        self._converters = {name: c.convert for name, c in self.columns.items() if c.convert is not None}
        # Decimals in bytes are read as their bytes and made decimals a column at a time: fastavro
        # makes a Python Decimal of each, which costs more than reading the rest of a record.
        self._decimals = _bytes_decimals(raw, self.schema)
        self._reading = (
            self.parsed
            if not self._decimals
            else parse(schema_id, json.dumps(_raw_bytes(raw, self._decimals)))
        )
        self._frame_schema = {
            name: pl.Int128() if name in self._decimals else dtype for name, dtype in self.schema.items()
        }

    def read(self, value: bytes, start: int = 0) -> dict[str, Any]:
        """One value (``value`` from ``start``: past the wire format's header); raises
        ``ValueError`` (and others, see :data:`READ_ERRORS`) when the bytes are not Avro of this
        schema, or hold a decimal with more digits than its precision."""
        stream = io.BytesIO(value)
        stream.seek(start)
        record = fastavro.schemaless_reader(stream, self._reading, None)
        if stream.tell() != len(value):
            raise ValueError(f"{len(value) - stream.tell()} bytes left over after the value")
        if not isinstance(record, dict):
            raise ValueError("not a record")
        for name, limit in self._decimals.items():
            raw = record.get(name)
            if raw is not None:
                unscaled = record[name] = int.from_bytes(raw, "big", signed=True)
                if not -limit < unscaled < limit:
                    dtype = described(self.schema[name])
                    raise ValueError(f"field {name!r} has more digits than its {dtype}")
        return record

    def frame(self, records: list[dict[str, Any]]) -> pl.DataFrame:
        """Records read by :meth:`read` as a frame of this schema's columns."""
        for name, convert in self._converters.items():
            for record in records:
                record[name] = convert(record.get(name))
        frame = pl.DataFrame(records, schema=self._frame_schema)
        return frame.with_columns(_unscaled(name, self.schema[name]) for name in self._decimals)


def _bytes_decimals(raw: dict[str, Any], schema: Mapping[str, pl.DataType]) -> dict[str, int]:
    """The fields of ``raw`` that are decimals in bytes (alone or with null), each with ten to
    the power of its precision: the bound of its unscaled values."""
    found: dict[str, int] = {}
    for field in raw.get("fields", []):
        kind = _bytes_decimal(field["type"])
        dtype = schema[str(field["name"])]
        if kind is not None and isinstance(dtype, pl.Decimal):
            found[str(field["name"])] = 10 ** (dtype.precision or MAX_PRECISION)
    return found


def _bytes_decimal(avro: Any) -> dict[str, Any] | None:
    """The decimal-in-bytes type ``avro`` is, alone or in a union with null, or ``None``."""
    if isinstance(avro, list):
        others = [t for t in avro if t != "null"]
        return _bytes_decimal(others[0]) if len(others) == 1 else None
    if isinstance(avro, dict) and avro.get("type") == "bytes" and avro.get("logicalType") == "decimal":
        return avro
    return None


def _raw_bytes(raw: dict[str, Any], decimals: Mapping[str, int]) -> dict[str, Any]:
    """``raw`` with its top-level fields named in ``decimals`` read as plain bytes."""
    copy: dict[str, Any] = json.loads(json.dumps(raw))
    for field in copy.get("fields", []):
        decimal = _bytes_decimal(field["type"])
        if decimal is not None and str(field["name"]) in decimals:
            del decimal["logicalType"]
    return copy


def _unscaled(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` of unscaled integers as the decimals of ``dtype`` they stand for."""
    assert isinstance(dtype, pl.Decimal)
    scale = dtype.scale or 0
    step = pl.lit(Decimal(1).scaleb(-scale), pl.Decimal(MAX_PRECISION, scale))
    return (pl.col(name).cast(pl.Decimal(MAX_PRECISION, 0)) * step).cast(dtype).alias(name)


def exact_decimal(
    data: bytes, writer_schema: dict[Any, Any] | None = None, reader_schema: dict[Any, Any] | None = None
) -> Decimal:
    """A decimal's bytes (``bytes`` or ``fixed``) as its exact value; ``ValueError`` when it has
    more digits than its precision. fastavro's own reader rounds such a value to the precision."""
    del reader_schema
    assert writer_schema is not None
    precision, scale = int(writer_schema["precision"]), int(writer_schema.get("scale", 0))
    unscaled = int.from_bytes(data, "big", signed=True)
    if not -(10**precision) < unscaled < 10**precision:
        raise ValueError(f"a decimal with more digits than its decimal({precision},{scale})")
    return Decimal(unscaled).scaleb(-scale, Context(prec=max(precision, 1)))


# Every decimal fastavro reads (in a fixed, in a record, an array or a map) is read exactly.
fastavro.read.LOGICAL_READERS["bytes-decimal"] = exact_decimal
fastavro.read.LOGICAL_READERS["fixed-decimal"] = exact_decimal

#: What reading bytes that are not Avro of the schema may raise in fastavro.
READ_ERRORS = (ValueError, EOFError, IndexError, KeyError, TypeError, UnicodeDecodeError, OverflowError)
