"""Kafka messages to a frame of string columns, ready to upsert, plus the ones that cannot be rows.

The fast path parses a whole batch at once with Polars' NDJSON reader (in Rust). Only when that
fails, or some message is not a plain one-line JSON object, are the messages parsed one by one, so
that each bad one can be set aside as a dead letter with its reason while the others still land.

Values keep the form they had in the CSV: a JSON string is stored as is, a number or boolean as its
JSON text (``3``, ``1.5``, ``true``), a nested object or list as its JSON text, and ``null`` as null.
A message with a key and no value (a tombstone) deletes the record with that id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from deltastream.deadletters import DeadLetter
from deltastream.upsert import DELETED

#: JSON names of the kinds of value that are not objects, for dead-letter errors.
JSON_KINDS = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
#: Characters Delta does not allow in column names (without column mapping).
BAD_NAME_CHARS = frozenset(" ,;{}()\n\t=")


class Message(Protocol):
    """What the decoder needs of a Kafka record (kafka-python's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass
class Decoded:
    """The rows of a batch (one per id, the last version wins) and its dead letters."""

    rows: pl.DataFrame
    dead: list[DeadLetter] = field(default_factory=list)

    @property
    def upserts(self) -> int:
        return int((~self.rows[DELETED]).sum()) if self.rows.height else 0

    @property
    def deletes(self) -> int:
        return int(self.rows[DELETED].sum()) if self.rows.height else 0


def bad_column_name(name: str) -> bool:
    return not name or name.startswith("__") or any(c in BAD_NAME_CHARS for c in name)


def decode(messages: Sequence[Message], id_column: str) -> Decoded:
    """Decode messages of one topic, each partition's in offset order, into rows keyed by
    ``id_column``.

    The result holds one row per id, the version of the highest offset, with a boolean
    :data:`DELETED` column that is true for tombstones.
    """
    values = [m.value for m in messages]
    if None in values:
        positions: Sequence[int] = [i for i, v in enumerate(values) if v is not None]
        values = [values[i] for i in positions]
    else:
        positions = range(len(messages))
    frame = _parse_fast(values, id_column)  # type: ignore[arg-type]
    if frame is not None:
        seq, dead = list(positions), list[DeadLetter]()
    else:
        frame, seq, dead = _parse_slow([(i, messages[i]) for i in positions], id_column)
    frame = frame.with_columns(pl.lit(False).alias(DELETED))
    deletes, delete_seq = _tombstones(messages, dead) if len(positions) < len(messages) else ([], [])
    if deletes:
        frame = pl.concat(
            [frame, pl.DataFrame({id_column: deletes, DELETED: [True] * len(deletes)})],
            how="diagonal",
        )
        seq = seq + delete_seq
    rows = (
        frame.with_columns(pl.Series("__seq", seq, dtype=pl.Int64))
        .sort("__seq")
        .unique(subset=[id_column], keep="last", maintain_order=True)
        .drop("__seq")
    )
    return Decoded(rows, dead)


Parsed = tuple[pl.DataFrame, list[int], list[DeadLetter]]


def _empty(id_column: str) -> pl.DataFrame:
    return pl.DataFrame({id_column: []}, schema={id_column: pl.String})


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


#: Column types whose cast to text gives the JSON text (``3``, ``true``) of every value.
TEXT_SAFE = (pl.String, pl.Int64, pl.Boolean, pl.Null)


def _parse_fast(values: list[bytes], id_column: str) -> pl.DataFrame | None:
    """Parse every value at once; ``None`` when any message needs a closer look."""
    if not values:
        return _empty(id_column)
    if b"" in values:
        return None
    blob = b"\n".join(values)
    if blob.count(b"\n") != len(values) - 1 or b"\r" in blob:
        return None  # a value spread over lines (pretty-printed JSON): one by one
    try:
        frame = pl.read_ndjson(blob, infer_schema_length=None)
        names = frame.columns
        if id_column not in names or any(bad_column_name(n) for n in names):
            return None
        if all(dtype in TEXT_SAFE for dtype in frame.dtypes):
            frame = frame.with_columns(pl.all().cast(pl.String))
        else:  # floats and nested values: read again, keeping every value as text
            frame = pl.read_ndjson(blob, schema={name: pl.String for name in names})
    except Exception:  # any parse problem: the slow path names the message at fault
        return None
    if frame.height != len(values):
        return None
    ids = frame[id_column]
    if ids.is_null().any() or (ids.str.strip_chars() == "").any():
        return None
    return frame


def _parse_slow(indexed: Sequence[tuple[int, Message]], id_column: str) -> Parsed:
    """Parse each value on its own; the ones that cannot be rows become dead letters."""
    rows: list[dict[str, str | None]] = []
    seq: list[int] = []
    dead: list[DeadLetter] = []
    for i, message in indexed:
        row, error = _parse_one(message.value or b"", id_column)
        if row is None:
            dead.append(DeadLetter.of(message, error or "unreadable"))
        else:
            rows.append(row)
            seq.append(i)
    if not rows:
        return _empty(id_column), [], dead
    names: dict[str, None] = {id_column: None}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pl.DataFrame(rows, schema={name: pl.String for name in names}), seq, dead


def _parse_one(raw: bytes, id_column: str) -> tuple[dict[str, str | None] | None, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"value is not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"value is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(obj, dict):
        return None, f"value is a JSON {JSON_KINDS.get(type(obj), 'value')}, expected an object"
    for name in obj:
        if bad_column_name(name):
            return None, f"field name {name!r} cannot be a column"
    if id_column not in obj:
        return None, f"no {id_column!r} field"
    row = {name: _as_string(value) for name, value in obj.items()}
    if row[id_column] is None or not str(row[id_column]).strip():
        return None, f"{id_column!r} is null or empty"
    return row, None


def _as_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)
