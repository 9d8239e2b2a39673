"""Kafka messages to rows: one message, one row, stored the same whatever else is in its batch.

A message's value must be a UTF-8 JSON object (strict JSON: no ``NaN``, no raw control character
in a string). Each field becomes a column of text:

- a JSON string is stored as it is;
- a number keeps its exact JSON text: ``5.0`` stays ``5.0``, ``1e3`` stays ``1e3``;
- ``true`` and ``false`` become ``true`` and ``false``; ``null`` becomes null;
- an object or an array becomes its compact JSON text: no spaces, keys in the order written,
  numbers as written, text unescaped where JSON allows (``{"k":[1,2.50,"é"]}``).

The id field names the row: a non-blank string, or a number (its text). When a message has a key,
the key must be that text too. A message with a key and no value (a tombstone) deletes the row
its key names. Anything else is a dead letter, with its reason (:func:`decode` lists them).

Two ways to read a batch give one result. The exact way parses each message on its own with
Python's ``json`` module. The bulk way parses the whole batch at once with Polars, and is taken
only when it provably gives the same rows: every value a string or null, no ``\\u`` escape, plain
field names, no field name written twice in a message. Any other batch is read the exact way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import polars as pl
from polars.exceptions import PolarsError

from deltastream.kafka.message import Message
from deltastream.subscribe.formats.typed import Declared
from deltastream.subscribe.rows import DELETED, DeadLetter, Decoded, positioned

#: Characters a column name may not hold: those Delta (without column mapping) and Spark refuse,
#: control characters, and halves of UTF-16 surrogate pairs, which no UTF-8 text can hold.
BAD_NAME_CHARS = re.compile(r"[ ,;{}()\n\t=\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Names the bulk way takes as written: no character that JSON may also spell as an escape.
PLAIN_NAME = re.compile(r'[^"\\/]+')
#: A JSON string as the bulk way takes it: no control character (strict JSON refuses them) and no
#: ``\u`` escape (a surrogate, ``\u0000``, or another spelling of a name), which go the exact way.
_STRING = r'"[^"\\\x00-\x1f]*(?:\\[^u][^"\\\x00-\x1f]*)*"'
_SPACE = r"[ \t\r]*"
_FIELD = rf"{_STRING}:{_SPACE}(?:{_STRING}|null)"
#: A flat JSON object whose values are all strings or null, with no space before a colon: the only
#: kind of message the bulk way reads (Polars would render a number among strings as text of its
#: own). With no space before a colon, every name is followed by exactly ``":``.
FLAT_STRINGS = rf"^{_SPACE}\{{{_SPACE}(?:{_FIELD}{_SPACE}(?:,{_SPACE}{_FIELD}{_SPACE})*)?\}}{_SPACE}$"
#: The lines of a batch whose field names are read first (see :func:`_read_flat`).
NAMES_FROM = 100
#: JSON names of the kinds of value, for dead-letter reasons.
KIND = {str: "string", bool: "boolean", type(None): "null"}
VALUE, KEY = attrgetter("value"), attrgetter("key")


class NotARow(Exception):
    """Why one message cannot become a row."""


def name_problem(name: str) -> str | None:
    """Why a field name cannot be a column name, or ``None`` when it can."""
    if not name:
        return "an empty field name cannot be a column"
    if name.startswith("__"):
        return f"field name {name!r} starts with '__', which is reserved"
    if BAD_NAME_CHARS.search(name):
        return (
            f"field name {name!r} has a character Delta column names cannot hold "
            "(space , ; { } ( ) = or a control character)"
        )
    if name == "*" or (name.startswith("^") and name.endswith("$")):
        return f"field name {name!r} reads as a column pattern"
    return None


def decode(messages: Sequence[Message], id_column: str, columns: Iterable[str] = ()) -> Decoded:
    """Decode one topic's messages (each partition's in offset order) into rows keyed by ``id_column``.

    ``columns`` are the table's columns: a field whose name differs from one of them only in case
    (Delta column names ignore case) is refused, and so is one that differs only in case from a
    field an earlier message of the batch brought. The result holds one row per message that
    can be one, in the order of ``messages``, with a boolean :data:`DELETED` column true for
    tombstones.
    """
    values = list(map(VALUE, messages))
    # Without tombstones (the usual batch) every message is a row: no list of positions is made.
    whole = None not in values
    valued = range(len(messages)) if whole else [i for i, v in enumerate(values) if v is not None]
    known = {c.lower(): c for c in columns}
    dead: list[DeadLetter] = []
    frame = _bulk(values if whole else [values[i] for i in valued], id_column, known)
    if frame is not None:
        seq: Sequence[int] = valued
    else:
        frame, seq = _exact([(i, messages[i]) for i in valued], id_column, known, dead)
    frame, seq = _check_keys(frame, seq, messages, id_column, dead)
    frame = frame.with_columns(pl.lit(False).alias(DELETED))
    deletes, delete_seq = ([], []) if whole else _tombstones(messages, dead)
    if deletes:
        tombstones = pl.DataFrame({id_column: deletes, DELETED: [True] * len(deletes)})
        frame = pl.concat([frame, tombstones], how="diagonal")
        seq = [*seq, *delete_seq]
    return Decoded(positioned(frame, seq, messages), sorted(dead, key=lambda d: (d.partition, d.offset)))


class JsonFormat:
    """The JSON format as a :class:`~deltastream.subscribe.formats.Format`: text rows, typed as the
    topic declares (:mod:`deltastream.subscribe.formats.typed`) when it declares columns."""

    def __init__(self, id_column: str, declared: Declared | None = None) -> None:
        self.id_column = id_column
        self.declared = declared

    def decode(self, messages: Sequence[Message], columns: Iterable[str] = ()) -> Decoded:
        if self.declared is None or not self.declared.schema.declared:
            return decode(messages, self.id_column, columns)
        # A field that differs from a declared column only in case is held back like one that
        # differs from a table column: the table would get both.
        decoded = decode(messages, self.id_column, [*columns, *self.declared.schema.columns])
        return self.declared.apply(decoded, {(m.partition, m.offset): m for m in messages})


def _empty(id_column: str) -> pl.DataFrame:
    return pl.DataFrame({id_column: []}, schema={id_column: pl.String})


def _bulk(  # noqa: PLR0911 (each early return is one reason the bulk parse cannot be proven exact)
    values: Sequence[bytes], id_column: str, known: dict[str, str]
) -> pl.DataFrame | None:
    """All values (none of them ``None``) parsed at once, or ``None`` when the batch must be
    read the exact way."""
    if not values:
        return _empty(id_column)
    blob = b"\n".join(values)
    if b"" in values or blob.count(b"\n") != len(values) - 1:
        return None
    lines = _lines(blob)
    if lines is None or not lines.str.contains(FLAT_STRINGS).all():
        return None  # a number, boolean, nested value or escape, or not an object: the exact way
    colons = blob.count(b'":')
    frame = _read_flat(blob, values, colons)
    if frame is None:
        return None
    names = frame.columns
    if frame.height != len(values) or id_column not in names:
        return None
    lowered: dict[str, str] = dict(known)
    for name in names:
        if (
            name_problem(name)
            or not PLAIN_NAME.fullmatch(name)
            or lowered.setdefault(name.lower(), name) != name
        ):
            return None
    # Each name is written as ``"name":`` (a ``":`` inside a string only adds to the count). As many
    # of them as non-null values means no name is written twice and no null is written out; with
    # either, the message goes the exact way (a name written twice is a dead letter there).
    if colons != sum(frame.height - frame[name].null_count() for name in names):
        return None
    ids = frame[id_column]
    if ids.null_count() or ids.str.contains(r"^\s*$").any():
        return None
    schema = frame.schema
    return frame.with_columns(pl.col(n).cast(pl.String) for n in names if schema[n] != pl.String)


def _read_flat(blob: bytes, values: Sequence[bytes], colons: int) -> pl.DataFrame | None:
    """Lines of flat objects of strings as text columns: read in the names of the first
    :data:`NAMES_FROM` lines (inferring them over the whole batch costs three times the read), and
    again inferring them over every line when a later line has another name (the count of names
    against values tells)."""
    try:
        names = pl.read_ndjson(b"\n".join(values[:NAMES_FROM])).columns
        frame = pl.read_ndjson(blob, schema=dict.fromkeys(names, pl.String))
        if colons == sum(frame.height - frame[name].null_count() for name in names):
            return frame
        return pl.read_ndjson(blob, infer_schema_length=None)
    except (PolarsError, ValueError):
        return None


def _lines(blob: bytes) -> pl.Series | None:
    """The lines of ``blob`` as text, split without making a Python string of each; ``None`` when
    it is not UTF-8."""
    try:
        return pl.Series([blob], dtype=pl.Binary).cast(pl.String).str.split("\n").explode().rechunk()
    except PolarsError:
        return None


def _exact(
    indexed: Sequence[tuple[int, Message]], id_column: str, known: dict[str, str], dead: list[DeadLetter]
) -> tuple[pl.DataFrame, list[int]]:
    """Each value parsed on its own; the ones that cannot be rows join ``dead``."""
    lowered = dict(known)
    rows: list[dict[str, str | None]] = []
    seq: list[int] = []
    for i, message in indexed:
        try:
            row = parse_value(message.value or b"", id_column)
            _check_case(row, lowered)
        except NotARow as exc:
            dead.append(DeadLetter.of(message, str(exc)))
            continue
        rows.append(row)
        seq.append(i)
    if not rows:
        return _empty(id_column), []
    names: dict[str, None] = {id_column: None}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pl.DataFrame(rows, schema={name: pl.String for name in names}), seq


def _check_case(row: dict[str, str | None], lowered: dict[str, str]) -> None:
    """Refuse a field that differs only in case from a column or an earlier message's field."""
    for name in row:
        other = lowered.get(name.lower(), name)
        if other != name:
            raise NotARow(f"field {name!r} differs only in case from the column {other!r}")
    for name in row:
        lowered.setdefault(name.lower(), name)


class Number(str):
    """A JSON number, as its text was written."""


class Object(list[tuple[str, Any]]):
    """A JSON object, as the list of its (name, value) pairs in the order written."""


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


DECODER = json.JSONDecoder(
    object_pairs_hook=Object, parse_int=Number, parse_float=Number, parse_constant=_no_constant
)


def parse_value(raw: bytes, id_column: str) -> dict[str, str | None]:
    """One message's value as a row of text; raises :class:`NotARow` with the reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotARow(f"value is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        obj = DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise NotARow(f"value is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:
        raise NotARow(f"value is not JSON ({exc})") from None
    if not isinstance(obj, Object):
        raise NotARow(f"value is a JSON {_kind(obj)}, expected an object")
    row: dict[str, str | None] = {}
    lowered: dict[str, str] = {}
    ident: Any = None
    for name, value in obj:
        if problem := name_problem(name):
            raise NotARow(problem)
        if name in row:
            raise NotARow(f"field {name!r} appears twice")
        if (other := lowered.setdefault(name.lower(), name)) != name:
            raise NotARow(
                f"fields {other!r} and {name!r} differ only in case (Delta column names ignore case)"
            )
        row[name] = field_text(name, value)
        if name == id_column:
            ident = value
    if id_column not in row:
        raise NotARow(f"no {id_column!r} field")
    if not isinstance(ident, str):
        raise NotARow(f"{id_column!r} is a JSON {_kind(ident)}; expected a string or a number")
    if not ident.strip():
        raise NotARow(f"{id_column!r} is empty")
    return row


def _kind(value: Any) -> str:
    if isinstance(value, Number):
        return "number"
    if isinstance(value, Object):
        return "object"
    if isinstance(value, list):
        return "array"
    return KIND.get(type(value), "value")


def field_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if value is True or value is False:
        return "true" if value else "false"
    text = str(value) if isinstance(value, str) else compact(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise NotARow(f"field {name!r} holds text that is not valid Unicode (a lone surrogate)") from None
    return text


def compact(value: Any) -> str:
    """The compact JSON text of a nested value, numbers as written."""
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, Object):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{compact(v)}" for k, v in value) + "}"
    return "[" + ",".join(compact(v) for v in value) + "]"


def _check_keys(
    frame: pl.DataFrame,
    seq: Sequence[int],
    messages: Sequence[Message],
    id_column: str,
    dead: list[DeadLetter],
) -> tuple[pl.DataFrame, Sequence[int]]:
    """Refuse the messages whose key is not their id: the key and the value name one record.

    A message without a key (or with an empty one) is named by its id alone.
    """
    if frame.height == 0:
        return frame, seq
    keys = [k or b"" for k in map(KEY, messages)]
    if len(seq) != len(messages):
        keys = [keys[p] for p in seq]
    blob = b"\n".join(keys)
    if blob.count(b"\n") == len(keys) - 1:
        texts = _lines(blob)
        if texts is not None and not ((texts != "") & (texts != frame[id_column])).any():
            return frame, seq  # every key is empty or its message's id: the usual case
    ids = frame[id_column].to_list()
    keep: list[bool] = []
    for position, ident in zip(seq, ids, strict=True):
        message = messages[position]
        key = message.key
        if not key:
            keep.append(True)
            continue
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            dead.append(
                DeadLetter.of(
                    message, f"key is not UTF-8, so it cannot name the record with {id_column} {ident!r}"
                )
            )
            keep.append(False)
            continue
        if text != ident:
            dead.append(
                DeadLetter.of(
                    message, f"key {text!r} and {id_column} {ident!r} disagree: the key must be the id"
                )
            )
            keep.append(False)
        else:
            keep.append(True)
    if all(keep):
        return frame, seq
    mask = pl.Series(keep)
    return frame.filter(mask), [p for p, k in zip(seq, keep, strict=True) if k]


def _tombstones(messages: Sequence[Message], dead: list[DeadLetter]) -> tuple[list[str], list[int]]:
    """The ids deleted by tombstones and their positions; bad tombstones join ``dead``."""
    ids: list[str] = []
    seq: list[int] = []
    for i, message in enumerate(messages):
        if message.value is not None:
            continue
        if not message.key:
            dead.append(DeadLetter.of(message, "tombstone without a key: nothing to delete"))
            continue
        try:
            ids.append(message.key.decode("utf-8"))
            seq.append(i)
        except UnicodeDecodeError:
            dead.append(DeadLetter.of(message, "tombstone key is not UTF-8"))
    return ids, seq
