"""Declared columns: the type each column of a topic's table has, as config.toml names it.

``[topic.<name>.columns]`` maps a column to a type: ``string``, ``bool``, ``int32``, ``int64``,
``float64``, ``decimal(p,s)``, ``date`` (ISO ``2024-11-09``), ``date(FORMAT)``, ``timestamp``
(ISO 8601 with a zone, stored as UTC) or ``timestamp(FORMAT)`` (strftime directives; a format
without ``%z`` is read as UTC). :func:`parse_type` reads one; nothing here imports a third-party
package, so a bad declaration is one line before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

Kind = Literal["string", "bool", "int32", "int64", "float64", "decimal", "date", "timestamp"]
#: What ``[topic.<name>] undeclared_fields`` may say of fields the columns do not declare.
UNDECLARED = ("evolve", "discard", "dead_letter")
#: The types, as a message lists them.
TYPES = "string, bool, int32, int64, float64, decimal(p,s), date, date(FORMAT), timestamp, timestamp(FORMAT)"
#: Decimal precision Delta (and Parquet) can hold.
MAX_PRECISION = 38
_PLAIN: dict[str, Kind] = {
    "string": "string",
    "bool": "bool",
    "int32": "int32",
    "int64": "int64",
    "float64": "float64",
    "date": "date",
    "timestamp": "timestamp",
}
_DECIMAL = re.compile(r"decimal\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)")
_FORMATTED = re.compile(r"(date|timestamp)\((.+)\)", re.S)
#: strftime directives a format may use (chrono, which Polars parses with, reads them the same).
_DIRECTIVES = set("YymdbBhjeaAHIMSfpzZ%")
_SAMPLE = datetime(2024, 11, 9, 13, 5, 7, 123000, tzinfo=UTC)


class NotConverted(ValueError):
    """A text value that does not convert to its declared type; the message names the column,
    the value and the type."""


class BadType(ValueError):
    """A type string that is not one of :data:`TYPES`; the message says what is wrong."""


@dataclass(frozen=True)
class ColumnType:
    """One declared column type."""

    kind: Kind
    precision: int = 0
    scale: int = 0
    #: The strftime format of a date or timestamp written otherwise than in ISO 8601.
    format: str | None = None

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return f"{self.kind}({self.format})" if self.format else self.kind


def parse_type(text: str) -> ColumnType:
    """A type as config.toml writes it; raises :class:`BadType`."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered in _PLAIN:
        return ColumnType(_PLAIN[lowered])
    if found := _DECIMAL.fullmatch(lowered):
        precision, scale = int(found[1]), int(found[2])
        if not 1 <= precision <= MAX_PRECISION or scale > precision:
            raise BadType(f"decimal(p,s) with 1 <= p <= {MAX_PRECISION} and s <= p")
        return ColumnType("decimal", precision, scale)
    if found := _FORMATTED.fullmatch(raw):
        kind: Kind = "date" if found[1].lower() == "date" else "timestamp"
        return ColumnType(kind, format=check_format(found[2], kind))
    raise BadType(f"a type: {TYPES}")


def check_format(fmt: str, kind: Kind) -> str:
    """``fmt`` if it is a strftime format that reads back the date (and, for a timestamp, the
    time) it writes; else :class:`BadType` saying why."""
    directives = re.findall(r"%-?(.)", fmt)
    unknown = sorted({d for d in directives if d not in _DIRECTIVES})
    if unknown:
        raise BadType(f"a {kind} format of strftime directives (%{', %'.join(unknown)} is not one)")
    try:
        back = datetime.strptime(_SAMPLE.strftime(fmt), fmt)
    except ValueError:
        raise BadType(f"a {kind} format that reads back what it writes ({fmt!r} does not)") from None
    if back.date() != _SAMPLE.date():
        raise BadType(f"a {kind} format with the year, month and day ({fmt!r} lacks some)")
    if "Z" in directives:
        raise BadType(f"a {kind} format with %z for a zone: %Z names are not read ({fmt!r})")
    if "I" in directives and "p" not in directives:
        raise BadType(f"a {kind} format with %p beside %I: a 12-hour clock needs AM/PM ({fmt!r})")
    for directive, part in (("H", "hour"), ("I", "hour"), ("M", "minute"), ("S", "second")):
        if directive in directives and getattr(back, part) != getattr(_SAMPLE, part):
            raise BadType(f"a {kind} format that reads back the time it writes ({fmt!r} does not)")
    return fmt


@dataclass(frozen=True)
class TopicSchema:
    """What config.toml declares for one topic: its columns' types (none: every value is text) and
    what becomes of fields they do not declare."""

    columns: Mapping[str, ColumnType] = field(default_factory=lambda: MappingProxyType({}))
    undeclared_fields: str = "evolve"
    #: How its messages are written: one of :data:`FORMATS`; none: as ``[publisher] format``.
    format: str | None = None
    #: The field of a change event that orders each id's events (``source.lsn``), if any.
    sequence_by: str | None = None
    #: How long a delete is remembered against older events, with ``sequence_by``.
    tombstone_retention_hours: float = 24.0

    @property
    def declared(self) -> bool:
        return bool(self.columns)


#: The keys of a ``[topic.<name>]`` table.
TOPIC_KEYS = ("columns", "undeclared_fields", "format", "sequence_by", "tombstone_retention_hours")
#: What ``[topic.<name>] format`` may say: flat JSON objects (text, typed by the declared
#: columns), Avro in Confluent's wire format (typed by its schema in the Schema Registry), or
#: Debezium's JSON change events.
FORMATS = ("json", "avro", "debezium")
#: What the publisher can write.
PUBLISHED = ("json", "avro")
_SEQUENCE_BY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_RETENTION_HOURS = 100_000
_BAD_NAME = re.compile(r"[ ,;{}()\n\t=\x00-\x1f\x7f]")


def read_topics(raw: object, source: str, id_column: str) -> dict[str, TopicSchema]:
    """The ``[topic.<name>]`` tables of a config file, each checked; a mistake raises
    :class:`~deltastream.errors.ConfigError` naming the file, the key and what was expected."""
    from deltastream.errors import ConfigError
    from deltastream.values import Invalid, topic_name

    if not isinstance(raw, dict):
        raise ConfigError(source, "[topic]", "a table of topics, [topic.<name>]")
    result: dict[str, TopicSchema] = {}
    for name, settings in raw.items():
        where = f"[topic.{name}]"
        try:
            topic_name(name)
        except Invalid as exc:
            raise ConfigError(source, where, str(exc)) from None
        if not isinstance(settings, dict):
            raise ConfigError(source, where, "a table of keys: " + ", ".join(TOPIC_KEYS))
        for key in settings:
            if key not in TOPIC_KEYS:
                raise ConfigError(source, f"{where} {key}", "one of: " + ", ".join(TOPIC_KEYS))
        undeclared = settings.get("undeclared_fields", "evolve")
        if undeclared not in UNDECLARED:
            raise ConfigError(
                source, f"{where} undeclared_fields", "one of " + ", ".join(UNDECLARED), undeclared
            )
        fmt = settings.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(source, f"{where} format", "one of " + ", ".join(FORMATS), fmt)
        columns = _columns(settings.get("columns", {}), source, f"[topic.{name}.columns]", id_column)
        if fmt == "avro" and "undeclared_fields" in settings:
            raise ConfigError(
                source,
                f"{where} undeclared_fields",
                "no value with format avro: every field of its schema is a column",
            )
        sequence_by = settings.get("sequence_by")
        if sequence_by is not None and (
            not isinstance(sequence_by, str) or not _SEQUENCE_BY.fullmatch(sequence_by)
        ):
            raise ConfigError(
                source,
                f"{where} sequence_by",
                "a field of the event, dotted (source.lsn, ts_ms)",
                sequence_by,
            )
        if sequence_by is not None and fmt != "debezium":
            raise ConfigError(source, f"{where} sequence_by", 'no value unless format = "debezium"')
        retention = settings.get("tombstone_retention_hours", 24.0)
        if (
            isinstance(retention, bool)
            or not isinstance(retention, int | float)
            or not 0 < retention <= MAX_RETENTION_HOURS
        ):
            raise ConfigError(
                source,
                f"{where} tombstone_retention_hours",
                f"a number of hours above 0, up to {MAX_RETENTION_HOURS}",
                retention,
            )
        result[name] = TopicSchema(MappingProxyType(columns), undeclared, fmt, sequence_by, float(retention))
    return result


def _columns(raw: object, source: str, where: str, id_column: str) -> dict[str, ColumnType]:
    from deltastream.errors import ConfigError

    if not isinstance(raw, dict):
        raise ConfigError(source, where, 'a table of column = "type"')
    columns: dict[str, ColumnType] = {}
    lowered: dict[str, str] = {}
    for column, text in raw.items():
        if not column or column.startswith("__") or _BAD_NAME.search(column):
            raise ConfigError(
                source,
                f"{where} {column!r}",
                "a column name (not empty, not starting with '__', no space , ; { } ( ) =)",
            )
        if (other := lowered.setdefault(column.lower(), column)) != column:
            raise ConfigError(
                source,
                f"{where} {column}",
                f"a name other than {other!r} in another case (Delta ignores case)",
            )
        if not isinstance(text, str):
            raise ConfigError(source, f"{where} {column}", f"a type: {TYPES}", text)
        try:
            columns[column] = parse_type(text)
        except BadType as exc:
            raise ConfigError(source, f"{where} {column}", str(exc), text) from None
    if columns and id_column not in columns:
        raise ConfigError(source, where, f"the id column {id_column!r} among the declared columns")
    if columns and columns[id_column].kind in ("float64", "bool"):
        raise ConfigError(
            source,
            f"{where} {id_column}",
            "an id type that can name a row: string, an integer, a decimal, a date or a timestamp",
        )
    return columns
