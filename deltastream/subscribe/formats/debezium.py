"""Debezium change events (JSON, with or without Connect's schema envelope) to rows and deletes.

A value is an envelope: ``before``, ``after``, ``op``, ``source``, ``ts_ms`` (inside ``payload``
when written with its schema). ``c`` (insert), ``r`` (a snapshot's read) and ``u`` (update) make
``after`` the row; ``d`` deletes the row ``before`` names (or the key, when ``before`` is null).
The null value Debezium sends after a delete (the tombstone, for log compaction) is no change:
the delete came before it. A key is a struct (``{"id": 5}``, or with its schema): it must name
the same id as the event, so an update of a key arrives as a delete of the old id and an insert of
the new one, which is what Debezium sends.

With the schema envelope, the columns take the types of ``after``'s schema
(:mod:`~deltastream.subscribe.formats.connecttypes`); without it, every value is text as the JSON
format stores it, typed by the topic's declared columns when it declares some.

``sequence_by`` names a field of the envelope (``source.lsn``, ``ts_ms``) holding an integer that
orders each id's events: the row keeps it in the :data:`~deltastream.subscribe.rows.SEQUENCE`
column, and the sink applies an event only when it is newer than what the table holds for its id
(:mod:`deltastream.subscribe.sequence`). Other events (a truncate, a message) are dead letters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from deltastream.dtypes import misfit, wider
from deltastream.kafka.message import Message
from deltastream.subscribe.formats.connecttypes import Field, as_dict, struct_fields, struct_signature
from deltastream.subscribe.formats.json import DECODER, Number, field_text, name_problem
from deltastream.subscribe.formats.typed import Declared
from deltastream.subscribe.rows import DELETED, SEQUENCE, DeadLetter, Decoded, positioned

#: Operations that make ``after`` the row, and the one that deletes.
UPSERTS = ("c", "r", "u")
DELETE = "d"


class NotAChange(Exception):
    """Why one message cannot be applied."""


class Event:
    """One change event, read: the row it writes (or the id it deletes), and its sequence."""

    __slots__ = ("deleted", "ident", "row", "sequence", "signature", "types")

    def __init__(  # noqa: PLR0913 (an event's parts)
        self,
        row: dict[str, Any],
        ident: Any,
        deleted: bool,
        sequence: int | None,
        types: dict[str, Field] | None,
        signature: str | None = None,
    ) -> None:
        self.row = row
        self.ident = ident
        self.deleted = deleted
        self.sequence = sequence
        self.types = types
        #: The text of the schema ``types`` come from: events read the same way share it.
        self.signature = signature


def _parse(raw: bytes, what: str) -> Any:
    try:
        return DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotAChange(f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise NotAChange(f"{what} is not JSON ({exc})") from None


def _unwrap(parsed: Any, what: str) -> tuple[dict[str, Any], Any]:
    """The payload of a message half, and its schema (``None`` without the envelope)."""
    found = as_dict(parsed)
    if found is None:
        raise NotAChange(f"{what} is not a JSON object")
    if set(found) == {"schema", "payload"}:
        payload = as_dict(found["payload"])
        if payload is None:
            raise NotAChange(f"{what}'s payload is not a JSON object")
        return payload, _plain(found["schema"])
    return found, None


def _path(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        found = value if isinstance(value, dict) else as_dict(value)
        value = found.get(part) if found is not None else None
    return value


def _plain(value: Any) -> Any:
    """A parsed JSON value as plain Python: objects as dicts, numbers as their text."""
    if isinstance(value, Number):
        return str(value)
    found = as_dict(value)
    if found is not None:
        return {k: _plain(v) for k, v in found.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Events:
    """Reads one message as an :class:`Event`: its change, its id and its sequence."""

    def __init__(self, id_column: str, sequence_by: str | None = None) -> None:
        self.id_column = id_column
        self.sequence_by = sequence_by

    def read(self, message: Message) -> Event | None:
        """One message as an event; ``None`` for a tombstone; :class:`NotAChange` says why not."""
        if message.value is None:
            return None
        payload, schema = _unwrap(_parse(message.value, "value"), "value")
        op = payload.get("op")
        if op not in (*UPSERTS, DELETE):
            raise NotAChange(f"op {compact_text(op)} is not a change of a row (c, r, u or d)")
        sequence = self._sequence(payload)
        key_id = self._key_id(message)
        if op == DELETE:
            before = as_dict(payload.get("before"))
            ident = before.get(self.id_column) if before else key_id
            if ident is None:
                raise NotAChange(f"a delete without {self.id_column!r} in before or the key")
            self._same(key_id, ident)
            if schema is None:
                return Event({}, ident, True, sequence, None)
            return Event(
                {}, ident, True, sequence, struct_fields(schema, "before"), struct_signature(schema, "before")
            )
        after = as_dict(payload.get("after"))
        if after is None:
            raise NotAChange(f"op {op} without an after object")
        ident = after.get(self.id_column)
        if ident is None:
            raise NotAChange(f"no {self.id_column!r} in after")
        self._same(key_id, ident)
        for name in after:
            if problem := name_problem(name):
                raise NotAChange(problem)
        if schema is None:
            return Event(after, ident, False, sequence, None)
        return Event(
            after, ident, False, sequence, struct_fields(schema, "after"), struct_signature(schema, "after")
        )

    def _sequence(self, payload: dict[str, Any]) -> int | None:
        if self.sequence_by is None:
            return None
        value = _path(payload, self.sequence_by)
        if value is None:
            raise NotAChange(f"no sequence at {self.sequence_by} (sequence_by)")
        if not isinstance(value, Number) or not str(value).lstrip("-").isdigit():
            raise NotAChange(f"the sequence at {self.sequence_by} is {compact_text(value)}, not an integer")
        return int(value)

    def _key_id(self, message: Message) -> Any:
        if not message.key:
            return None
        key, _ = _unwrap(_parse(message.key, "key"), "key")
        if self.id_column not in key:
            raise NotAChange(f"key has no {self.id_column!r} field")
        return key[self.id_column]

    def _same(self, key_id: Any, ident: Any) -> None:
        if key_id is not None and _plain(key_id) != _plain(ident):
            raise NotAChange(
                f"key names {self.id_column} {compact_text(key_id)} and the event {compact_text(ident)}: "
                "the key must be the id"
            )


class DebeziumFormat:
    """The Debezium format as a :class:`~deltastream.subscribe.formats.Format`."""

    def __init__(
        self, id_column: str, declared: Declared | None = None, sequence_by: str | None = None
    ) -> None:
        self.id_column = id_column
        self.declared = declared
        self.sequence_by = sequence_by
        self.events = Events(id_column, sequence_by)

    def decode(
        self, messages: Sequence[Message], columns: Mapping[str, pl.DataType] | None = None
    ) -> Decoded:
        dead: list[DeadLetter] = []
        events: list[tuple[int, Event]] = []
        for i, message in enumerate(messages):
            try:
                event = self.events.read(message)
            except NotAChange as exc:
                dead.append(DeadLetter.of(message, str(exc)))
                continue
            if event is not None:
                events.append((i, event))
        typed = any(e.types is not None for _, e in events)
        if typed:
            frame, seq = Schemas(self.id_column, self.sequence_by, columns).rows(events, dead, messages)
        else:
            frame, seq = self._text(events)
        decoded = Decoded(
            positioned(frame, seq, messages), sorted(dead, key=lambda d: (d.partition, d.offset))
        )
        if not typed and self.declared is not None and self.declared.schema.declared:
            return self.declared.apply(decoded, {(m.partition, m.offset): m for m in messages})
        return decoded

    def _text(self, events: list[tuple[int, Event]]) -> tuple[pl.DataFrame, list[int]]:
        """Rows of text, as the JSON format stores them."""
        rows: list[dict[str, Any]] = []
        names: dict[str, None] = {self.id_column: None}
        for _, event in events:
            row: dict[str, Any] = {n: field_text(n, v) for n, v in event.row.items()}
            row[self.id_column] = field_text(self.id_column, event.ident)
            names.update(dict.fromkeys(row))
            row[DELETED] = event.deleted
            if event.sequence is not None:
                row[SEQUENCE] = event.sequence
            rows.append(row)
        schema: dict[str, pl.DataType] = {n: pl.String() for n in names} | {DELETED: pl.Boolean()}
        if self.sequence_by is not None:
            schema[SEQUENCE] = pl.Int64()
        return pl.DataFrame(rows, schema=schema), [i for i, _ in events]


def compact_text(value: Any) -> str:
    """A value as a message shows it."""
    if isinstance(value, str) and not isinstance(value, Number):
        return repr(value)
    return json.dumps(_plain(value)) if not isinstance(value, Number) else str(value)


class Schemas:
    """Typed change events as rows: each event's values converted by its own schema (a batch may
    hold events from before and after an ``ALTER TABLE``), each schema checked against the table's
    columns and the schemas before it in the batch. The events of a schema whose field no longer
    fits its column are dead letters naming the field and both types; events without a schema take
    the batch's types."""

    def __init__(
        self, id_column: str, sequence_by: str | None, columns: Mapping[str, pl.DataType] | None
    ) -> None:
        self.id_column = id_column
        self.sequence_by = sequence_by
        self.types: dict[str, pl.DataType] = dict(columns or {})
        self.fields: dict[str, Field] = {}

    def rows(
        self, events: list[tuple[int, Event]], dead: list[DeadLetter], messages: Sequence[Message]
    ) -> tuple[pl.DataFrame, list[int]]:
        groups: dict[str | None, list[tuple[int, Event]]] = {}
        for i, event in events:  # by the schema's text: types alike may convert differently
            groups.setdefault(None if event.types is None else event.signature or "", []).append((i, event))
        accepted: list[tuple[dict[str, Field], list[tuple[int, Event]]]] = []
        for signature, members in groups.items():
            if signature is None:
                continue
            fields = members[0][1].types or {}
            problem = misfit({n: f.dtype for n, f in fields.items()}, self.types)
            if problem is not None:
                dead += [
                    DeadLetter.of(
                        messages[i], f"schema of {self.id_column} {compact_text(e.ident)}'s event: {problem}"
                    )
                    for i, e in members
                ]
                continue
            self.types.update({n: wider(self.types.get(n, f.dtype), f.dtype) for n, f in fields.items()})
            for name, found in fields.items():
                self.fields.setdefault(name, found)
            accepted.append((fields, members))
        if None in groups:
            accepted.append((self.fields, groups[None]))
        frames: list[pl.DataFrame] = []
        seq: list[int] = []
        for fields, members in accepted:
            frame, kept = self._convert(fields, members, dead, messages)
            frames.append(frame)
            seq += kept
        rows = (  # each column in the widest type of the batch
            pl.concat(frames, how="diagonal_relaxed") if frames else self._convert({}, [], dead, messages)[0]
        )
        return rows, seq

    def _convert(
        self,
        fields: Mapping[str, Field],
        members: list[tuple[int, Event]],
        dead: list[DeadLetter],
        messages: Sequence[Message],
    ) -> tuple[pl.DataFrame, list[int]]:
        """One schema's events as rows, in the batch's column types."""
        records: list[dict[str, Any]] = []
        seq: list[int] = []
        for i, event in members:
            try:
                record = (
                    {self.id_column: fields[self.id_column].convert(event.ident)}
                    if event.deleted
                    else {
                        name: None
                        if value is None
                        else fields[name].convert(value)
                        if name in fields
                        else field_text(name, value)
                        for name, value in event.row.items()
                    }
                )
            except (ValueError, KeyError, OverflowError) as exc:
                dead.append(DeadLetter.of(messages[i], f"a value does not fit its schema ({exc})"))
                continue
            record[DELETED] = event.deleted
            if event.sequence is not None:
                record[SEQUENCE] = event.sequence
            records.append(record)
            seq.append(i)
        schema = {name: f.dtype for name, f in fields.items()}
        schema[self.id_column] = schema.get(self.id_column, self.types.get(self.id_column, pl.String()))
        schema[DELETED] = pl.Boolean()
        if self.sequence_by is not None:
            schema[SEQUENCE] = pl.Int64()
        frame = pl.DataFrame(records, schema=schema)
        return frame.with_columns(
            pl.col(n).cast(self.types[n])
            for n in frame.columns
            if n in self.types and frame[n].dtype != self.types[n]
        ), seq
