"""Avro messages in Confluent's wire format to typed rows: byte 0, a 4-byte schema id, Avro binary.

Each message's schema is fetched from the Schema Registry by its id (once per id,
:class:`~deltastream.avro.registry.Registry`) and read as columns
(:mod:`deltastream.avro.schemas`): the table gets the schema's types, and a field a newer schema
adds is a new column (older rows null). A field whose type does not fit the table's column (an
integer where the table has a long is fine; a long where it has an integer, or a string, is not) makes every
message of that schema a dead letter naming the field and both types; so do an id the registry
does not know, bytes that are not Avro of their schema, a schema without the id field, and a null
id. A registry that cannot be reached stops the subscriber (:class:`~deltastream.errors.RegistryUnavailable`).

The key, when there is one, must name the same record as the value's id: its text, or an Avro key
(in the wire format) whose value is the id or a record holding it. A message with a key and no
value (a tombstone) deletes the row its key names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from typing import Any

import polars as pl

from deltastream.avro.registry import Registry, UnknownSchema
from deltastream.avro.schemas import (
    ID_TYPES,
    READ_ERRORS,
    BadSchema,
    RecordSchema,
    as_text,
    parse,
    read,
)
from deltastream.dtypes import described, misfit, wider
from deltastream.kafka.message import Message
from deltastream.subscribe.formats.json import name_problem
from deltastream.subscribe.rows import DELETED, DeadLetter, Decoded, positioned

#: The wire format's first byte, and the length of its header (that byte and the schema id).
MAGIC = 0
HEADER = 5


def schema_id(raw: bytes) -> int | None:
    """The schema id of bytes in the wire format, or ``None`` when they are not in it."""
    if len(raw) < HEADER or raw[0] != MAGIC:
        return None
    return int.from_bytes(raw[1:HEADER], "big")


class AvroFormat:
    """The Avro format as a :class:`~deltastream.subscribe.formats.Format`."""

    def __init__(self, id_column: str, registry: Registry) -> None:
        self.id_column = id_column
        self.registry = registry
        self._schemas: dict[int, RecordSchema | str] = {}
        self.keys = Keys(id_column, registry)

    def schema(self, sid: int) -> RecordSchema | str:
        """Schema ``sid`` read as columns, or why it cannot be (kept: an id never changes)."""
        found = self._schemas.get(sid)
        if found is None:
            try:
                found = RecordSchema(sid, self.registry.schema(sid))
            except (UnknownSchema, BadSchema) as exc:
                found = str(exc)
            self._schemas[sid] = found
        return found

    def decode(
        self, messages: Sequence[Message], columns: Mapping[str, pl.DataType] | None = None
    ) -> Decoded:
        types = dict(columns or {})
        dead: list[DeadLetter] = []
        by_schema: dict[int, list[int]] = {}
        for i, message in enumerate(messages):
            value = message.value
            if value is None:
                continue
            if len(value) < HEADER or value[0] != MAGIC:
                dead.append(
                    DeadLetter.of(
                        message,
                        "value is not in the Schema Registry's wire format (byte 0, a 4-byte schema id)",
                    )
                )
            else:
                by_schema.setdefault(int.from_bytes(value[1:HEADER], "big"), []).append(i)
        frames: list[pl.DataFrame] = []
        seq: list[int] = []
        for sid, indexes in by_schema.items():
            schema = self.schema(sid)
            problem = schema if isinstance(schema, str) else self._problem(schema, types)
            if problem is not None:
                dead += [DeadLetter.of(messages[i], problem) for i in indexes]
                continue
            assert isinstance(schema, RecordSchema)
            types.update({n: wider(types.get(n, t), t) for n, t in schema.schema.items()})
            records: list[dict[str, Any]] = []
            kept: list[int] = []
            read = schema.read
            for i in indexes:
                message = messages[i]
                try:
                    record = read(message.value or b"", HEADER)
                except READ_ERRORS as exc:
                    dead.append(DeadLetter.of(message, f"value is not Avro of schema id {sid} ({exc!r})"))
                    continue
                if record.get(self.id_column) is None:
                    dead.append(DeadLetter.of(message, f"{self.id_column!r} is null"))
                    continue
                records.append(record)
                kept.append(i)
            frame = schema.frame(records)
            frame = frame.with_columns(
                pl.col(n).cast(types[n]) for n in frame.columns if frame[n].dtype != types[n]
            )
            frame, kept = self.keys.check(frame, kept, messages, dead)
            frames.append(frame)
            seq += kept
        rows = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()  # to the widest
        if self.id_column not in rows.columns:
            rows = rows.with_columns(pl.lit(None, types.get(self.id_column, pl.String)).alias(self.id_column))
        rows = rows.with_columns(pl.lit(False).alias(DELETED))
        tombstones, tomb_seq = self.keys.tombstones(messages, types.get(self.id_column), dead)
        if tomb_seq:
            rows = pl.concat([rows, tombstones], how="diagonal")
            seq += tomb_seq
        return Decoded(positioned(rows, seq, messages), sorted(dead, key=lambda d: (d.partition, d.offset)))

    def _problem(self, schema: RecordSchema, types: Mapping[str, pl.DataType]) -> str | None:
        """Why the messages of ``schema`` cannot go into a table of ``types``, or ``None``."""
        if self.id_column not in schema.schema:
            return f"schema id {schema.id} has no {self.id_column!r} field"
        id_type = schema.schema[self.id_column]
        if not isinstance(id_type, ID_TYPES):
            return (
                f"schema id {schema.id}: {self.id_column!r} is a {described(id_type)}, which cannot name a "
                "row (a string, an integer, a decimal, a date or a timestamp can)"
            )
        for name in schema.schema:
            if problem := name_problem(name):
                return f"schema id {schema.id}: {problem}"
        problem = misfit(schema.schema, types)
        return None if problem is None else f"schema id {schema.id}: {problem}"


class Keys:
    """What a message's key names: its text, or an Avro key (a value of any type, or a record
    holding the id) in the wire format."""

    def __init__(self, id_column: str, registry: Registry) -> None:
        self.id_column = id_column
        self.registry = registry
        self._keys: dict[int, Any] = {}

    def text(self, key: bytes) -> str | None:
        """The id a key names, as text; ``None`` when it cannot be read."""
        sid = schema_id(key)
        if sid is None:
            try:
                return key.decode("utf-8")
            except UnicodeDecodeError:
                return None
        try:
            value = read(self._schema(sid), memoryview(key)[HEADER:])
        except (UnknownSchema, BadSchema, *READ_ERRORS):
            return None
        if isinstance(value, dict):
            value = value.get(self.id_column)
        return as_text(value)

    def _schema(self, sid: int) -> Any:
        """A key's schema, parsed: any Avro type (a string, a long, a record holding the id)."""
        found = self._keys.get(sid)
        if found is None:
            found = self._keys[sid] = parse(sid, self.registry.schema(sid))
        return found

    def check(
        self, frame: pl.DataFrame, kept: list[int], messages: Sequence[Message], dead: list[DeadLetter]
    ) -> tuple[pl.DataFrame, list[int]]:
        """Refuse the messages whose key names another record than their id."""
        keys = [messages[i].key for i in kept]
        if frame.height == 0 or not any(keys):
            return frame, kept
        dtype = frame.schema[self.id_column]
        if all(key and key[0] != MAGIC for key in keys) and dtype in (pl.String, pl.Int32, pl.Int64):
            try:  # every key is text and the ids' text is their only spelling: compared at once
                texts = [(key or b"").decode("utf-8") for key in keys]
                if texts == frame[self.id_column].cast(pl.String).to_list():
                    return frame, kept
            except UnicodeDecodeError:
                pass
        keep: list[bool] = []
        for i, key, ident in zip(kept, keys, frame[self.id_column].to_list(), strict=True):
            if not key:
                keep.append(True)
                continue
            text = self.text(key)
            same = text is not None and id_value(text, dtype) == ident
            if not same:
                named = "cannot be read" if text is None else f"names {text!r}"
                dead.append(
                    DeadLetter.of(
                        messages[i],
                        f"key {named} where {self.id_column} is {as_text(ident)!r}: the key must be the id",
                    )
                )
            keep.append(same)
        if all(keep):
            return frame, kept
        return frame.filter(pl.Series(keep)), [i for i, k in zip(kept, keep, strict=True) if k]

    def tombstones(
        self, messages: Sequence[Message], id_type: pl.DataType | None, dead: list[DeadLetter]
    ) -> tuple[pl.DataFrame, list[int]]:
        """The ids deleted by tombstones (a key and no value) and their positions."""
        ids: list[str] = []
        seq: list[int] = []
        for i, message in enumerate(messages):
            if message.value is not None:
                continue
            text = self.text(message.key) if message.key else None
            if text is None:
                reason = (
                    "tombstone without a key: nothing to delete"
                    if not message.key
                    else "tombstone key cannot be read"
                )
                dead.append(DeadLetter.of(message, reason))
                continue
            ids.append(text)
            seq.append(i)
        dtype = id_type or pl.String()
        values = [id_value(text, dtype) for text in ids]
        for position in (j for j, value in enumerate(values) if value is None):
            dead.append(
                DeadLetter.of(
                    messages[seq[position]], f"tombstone key {ids[position]!r} is not a {described(dtype)}"
                )
            )
        named = [(value, s) for value, s in zip(values, seq, strict=True) if value is not None]
        frame = pl.DataFrame({self.id_column: [v for v, _ in named]}, schema={self.id_column: dtype})
        seq = [s for _, s in named]
        return frame.with_columns(pl.lit(True).alias(DELETED)), seq


def id_value(text: str, dtype: pl.DataType) -> Any:
    """The id a key's text names, as a value of the id column's type (``None`` when the text is
    not one): ISO text for a date or a timestamp (in any zone, UTC without one), decimal text for a
    decimal, digits for an integer."""
    try:
        if isinstance(dtype, pl.Datetime):
            found = datetime.fromisoformat(text.strip())
            return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)
        if dtype == pl.Date:
            return date.fromisoformat(text.strip())
        if isinstance(dtype, pl.Decimal):
            value = Decimal(text.strip())
            exponent = value.normalize(Context(prec=100)).as_tuple().exponent if value.is_finite() else "n"
            return value if isinstance(exponent, int) and -exponent <= (dtype.scale or 0) else None
        if dtype in (pl.Int32, pl.Int64):
            bound = 2**31 if dtype == pl.Int32 else 2**63
            number = int(text) if text.strip().lstrip("+-").isdigit() else bound
            return number if -bound <= number < bound else None
    except (ValueError, ArithmeticError):
        return None
    return text
