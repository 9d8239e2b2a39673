"""CSV text to Avro: a record schema made from a file's header and the topic's declared columns,
and each row's values converted to it and written in Confluent's wire format.

A declared column gets its type (``int64`` is ``long``, ``decimal(p,s)`` the decimal logical type
on bytes, ``date`` the date logical type, ``timestamp`` ``timestamp-micros`` in UTC); any other
column is a string. The id is required, every other field a union with null (default null), so a
later version that adds a column stays compatible. A value converts as the subscriber reads text
of that type: blank is null (but in a string), a number exactly as written (no rounding, no
``1_000``, no ``NaN``), a date or a timestamp in ISO 8601 or the declared format, a timestamp with
its zone. A value that does not convert names its column, the value and the type.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import fastavro

from deltastream.schema import ColumnType, NotConverted

#: Avro names: a letter or ``_``, then letters, digits and ``_``.
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_LIMITS = {"int32": 2**31, "int64": 2**63}
#: Longest value shown in a message.
SHOWN_CHARS = 40

#: Enough digits for any decimal(p,s) (quantize fails past 28 by default).
EXACT = Context(prec=100)


def avro_type(column: ColumnType) -> Any:
    kinds: dict[str, Any] = {
        "string": "string",
        "bool": "boolean",
        "int32": "int",
        "int64": "long",
        "float64": "double",
        "date": {"type": "int", "logicalType": "date"},
        "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
    }
    if column.kind == "decimal":
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": column.precision,
            "scale": column.scale,
        }
    return kinds[column.kind]


def record_name(topic: str) -> str:
    """An Avro record name for ``topic``: its characters that names cannot hold become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", topic)
    return name if AVRO_NAME.fullmatch(name) else "_" + name


def record_schema(
    topic: str, header: Sequence[str], declared: Mapping[str, ColumnType], id_column: str
) -> dict[str, Any]:
    """The schema of ``topic``'s rows: the header's columns, then the declared ones it lacks."""
    names = [*header, *(c for c in declared if c not in header)]
    for name in names:
        if not AVRO_NAME.fullmatch(name):
            raise NotConverted(
                f"column {name!r} cannot be an Avro field name (a letter or _, then letters, digits, _)"
            )
    fields: list[dict[str, Any]] = []
    for name in names:
        kind = avro_type(declared.get(name, ColumnType("string")))
        fields.append(
            {"name": name, "type": kind}
            if name == id_column
            else {"name": name, "type": ["null", kind], "default": None}
        )
    return {"type": "record", "name": record_name(topic), "fields": fields}


def shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "...")


def converter(column: ColumnType) -> Callable[[str], Any]:
    """How a text value becomes a value of ``column``'s type; raises ``ValueError``."""
    kind = column.kind

    def integer(text: str) -> int:
        if not _INTEGER.fullmatch(text):
            raise ValueError
        value = int(text)
        if not -_LIMITS[kind] <= value < _LIMITS[kind]:
            raise ValueError
        return value

    def floating(text: str) -> float:
        if not _FLOAT.fullmatch(text):
            raise ValueError
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
        return value

    def boolean(text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError

    def decimal(text: str) -> Decimal:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError from None
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or "e" in text.lower() or "_" in text or -exponent > column.scale:
            raise ValueError
        quantized = value.quantize(Decimal(1).scaleb(-column.scale), context=EXACT)
        if len(quantized.as_tuple().digits) > column.precision:
            raise ValueError
        return quantized

    def day(text: str) -> date:
        return datetime.strptime(text.strip(), column.format or "%Y-%m-%d").date()

    def timestamp(text: str) -> datetime:
        raw = text.strip()
        if column.format is None:
            value = datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", raw).replace(" ", "T", 1))
            if value.tzinfo is None:
                raise ValueError
            return value.astimezone(UTC)
        value = datetime.strptime(raw, column.format)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    readers: dict[str, Callable[[str], Any]] = {
        "string": str,
        "bool": boolean,
        "int32": integer,
        "int64": integer,
        "float64": floating,
        "decimal": decimal,
        "date": day,
        "timestamp": timestamp,
    }
    return readers[kind]


class AvroRows:
    """One file's rows as Avro values of one registered schema, in the wire format."""

    def __init__(
        self, schema: dict[str, Any], schema_id: int, declared: Mapping[str, ColumnType], id_column: str
    ) -> None:
        self.schema = schema
        self.parsed = fastavro.parse_schema(schema)
        self.header = b"\x00" + schema_id.to_bytes(4, "big")
        self.id_column = id_column
        self.names = [f["name"] for f in schema["fields"]]
        self.types = {name: declared.get(name, ColumnType("string")) for name in self.names}
        self.readers = {name: converter(t) for name, t in self.types.items() if t.kind != "string"}

    def encode(self, values: Mapping[str, str]) -> tuple[str, bytes]:
        """A row's key (its id's text as the value holds it) and its value; raises
        :class:`NotConverted` naming the column that does not convert."""
        record: dict[str, Any] = {}
        for name in self.names:
            text = values.get(name)
            reader = self.readers.get(name)
            if text is None or reader is None:
                record[name] = text
            elif not text.strip():
                if name == self.id_column:
                    raise NotConverted(f"column {name!r} is blank: the id names the row")
                record[name] = None
            else:
                try:
                    record[name] = reader(text)
                except ValueError:
                    raise NotConverted(
                        f"column {name!r}: {shown(text)} is not a {self.types[name]}"
                    ) from None
        out = io.BytesIO()
        out.write(self.header)
        fastavro.schemaless_writer(out, self.parsed, record)
        ident = record[self.id_column]
        key = ident.isoformat() if isinstance(ident, date) else str(ident)
        return key, out.getvalue()
