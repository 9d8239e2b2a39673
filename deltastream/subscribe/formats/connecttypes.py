"""Kafka Connect's JSON schemas (the ``schema`` half of a message written with
``schemas.enable=true``) as column types, and their JSON values as Python values of those types.

Each field of a struct is a column:

- ``int8``, ``int16``, ``int32``, ``int64``, ``float32``, ``float64``, ``boolean``, ``string`` as
  themselves; ``bytes`` (base64 in JSON) as binary;
- ``org.apache.kafka.connect.data.Decimal`` (the unscaled value's bytes, base64) as decimal(p,s),
  its precision from ``connect.decimal.precision`` (38 when not given);
- dates (``io.debezium.time.Date``, ``org.apache.kafka.connect.data.Date``: days since 1970) as
  date; timestamps without a zone (``io.debezium.time.Timestamp``, ``MicroTimestamp``,
  ``NanoTimestamp``, ``org.apache.kafka.connect.data.Timestamp``) as timestamps in UTC of the same
  wall-clock time, which is how Debezium counts them; ``io.debezium.time.ZonedTimestamp`` (ISO
  text) as the UTC timestamp it names;
- times of day, ``io.debezium.data.VariableScaleDecimal``, JSON, UUID, XML and enum names as text;
  structs, arrays and maps as their compact JSON text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

import polars as pl

from deltastream.subscribe.formats.json import Number, Object, compact

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1)
MAX_PRECISION = 38
_PLAIN: dict[str, pl.DataType] = {
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "boolean": pl.Boolean(),
    "string": pl.String(),
    "bytes": pl.Binary(),
}
_TIMESTAMP = pl.Datetime("us", "UTC")
#: Ticks per second of the timestamps and times counted from an epoch.
_TICKS = {
    "io.debezium.time.Timestamp": 1000,
    "org.apache.kafka.connect.data.Timestamp": 1000,
    "io.debezium.time.MicroTimestamp": 1_000_000,
    "io.debezium.time.NanoTimestamp": 1_000_000_000,
}
_TIMES = {
    "io.debezium.time.Time": 1000,
    "org.apache.kafka.connect.data.Time": 1000,
    "io.debezium.time.MicroTime": 1_000_000,
    "io.debezium.time.NanoTime": 1_000_000_000,
}
_DATES = ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date")

#: Enough digits for any decimal a Connect schema holds (scaleb rounds to 28 by default).
EXACT = Context(prec=100)


@dataclass(frozen=True)
class Field:
    """A column's type, and how a JSON value (as the JSON format parses it) becomes a value of it."""

    dtype: pl.DataType
    convert: Callable[[Any], Any]


def _number(value: Any) -> Any:
    if value is True or value is False or not isinstance(value, Number | int | float):
        raise ValueError(f"{compact(value)} is not a number")
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str) else compact(value)


def _boolean(value: Any) -> bool:
    if value is not True and value is not False:
        raise ValueError(f"{compact(value)} is not a boolean")
    return bool(value)


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{compact(value)} is not base64 text")
    return base64.b64decode(value, validate=True)


def _decimal(scale: int) -> Callable[[Any], Decimal]:
    def convert(value: Any) -> Decimal:
        unscaled = int.from_bytes(_bytes(value), "big", signed=True)
        return Decimal(unscaled).scaleb(-scale, EXACT)

    return convert


def _since_epoch(ticks: int) -> Callable[[Any], datetime]:
    return lambda value: EPOCH + timedelta(microseconds=int(_number(value)) * 1_000_000 // ticks)


def _time_of_day(ticks: int) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        micros = int(_number(value)) * 1_000_000 // ticks
        return (datetime.min + timedelta(microseconds=micros)).time().isoformat()

    return convert


def _zoned(value: Any) -> datetime:
    found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if found.tzinfo is None:
        raise ValueError(f"{value!r} has no zone")
    return found.astimezone(UTC)


def _day(value: Any) -> date:
    return EPOCH_DAY + timedelta(days=int(_number(value)))


def field(schema: Mapping[str, Any]) -> Field:  # noqa: PLR0911 (one return per kind of type)
    """The column of a field of Connect schema ``schema``."""
    name = schema.get("name")
    kind = schema.get("type")
    if name == "org.apache.kafka.connect.data.Decimal":
        params = schema.get("parameters") or {}
        scale = int(params.get("scale", 0))
        precision = int(params.get("connect.decimal.precision", MAX_PRECISION))
        if precision > MAX_PRECISION or scale > precision:
            return Field(pl.String(), lambda v: str(_decimal(scale)(v)))
        return Field(pl.Decimal(precision, scale), _decimal(scale))
    if name in _DATES:
        return Field(pl.Date(), _day)
    if name in _TICKS:
        return Field(_TIMESTAMP, _since_epoch(_TICKS[str(name)]))
    if name == "io.debezium.time.ZonedTimestamp":
        return Field(_TIMESTAMP, _zoned)
    if name in _TIMES:
        return Field(pl.String(), _time_of_day(_TIMES[str(name)]))
    if kind in ("struct", "array", "map") or kind not in _PLAIN:
        return Field(pl.String(), _text)
    converters: dict[str, Callable[[Any], Any]] = {"boolean": _boolean, "string": _text, "bytes": _bytes}
    return Field(_PLAIN[str(kind)], converters.get(str(kind), _number))


def struct_signature(schema: Any, member: str) -> str | None:
    """Struct ``member``'s schema as text: events whose text is the same are read the same way
    (two Connect types may share a column type and not a conversion: Timestamp and
    MicroTimestamp)."""
    if not isinstance(schema, Mapping):
        return None
    for part in schema.get("fields") or ():
        if isinstance(part, Mapping) and part.get("field") == member and part.get("type") == "struct":
            return json.dumps(part.get("fields") or [], sort_keys=True)
    return None


def struct_fields(schema: Any, member: str) -> dict[str, Field] | None:
    """The columns of struct ``member`` (``after``) of an envelope's schema, or ``None`` when the
    schema has no such struct."""
    if not isinstance(schema, Mapping):
        return None
    for part in schema.get("fields") or ():
        if isinstance(part, Mapping) and part.get("field") == member and part.get("type") == "struct":
            return {
                str(f["field"]): field(f)
                for f in part.get("fields") or ()
                if isinstance(f, Mapping) and "field" in f
            }
    return None


def as_dict(value: Any) -> dict[str, Any] | None:
    """A parsed JSON object as a dict (``None`` for anything else)."""
    return dict(value) if isinstance(value, Object) else None
