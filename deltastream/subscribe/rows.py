r"""Rows: what a format makes of a topic's messages, and what the sink takes.

A :class:`Decoded` batch holds one row per message that could be one, in the order the messages
were read, each with where it came from (:data:`PARTITION`, :data:`OFFSET`) and whether it deletes
its id (:data:`DELETED`); and the messages that could not be rows, as :class:`DeadLetter`\ s
(kept by :mod:`deltastream.subscribe.deadletters`). The sink keeps
the rows above the offsets Delta holds, then the last row of each id (:func:`latest`), and
writes them. Nothing here knows of a wire format.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter

import polars as pl

from deltastream.kafka.message import Message

#: Marks the rows of a batch that delete their id; never stored in a table.
DELETED = "__deleted"
#: The partition and offset of the message a row came from; never stored in a table.
PARTITION = "__partition"
OFFSET = "__offset"
#: A row's place in its batch, while a format puts its rows in order.
SEQ = "__seq"
PARTITION_OF, OFFSET_OF = attrgetter("partition"), attrgetter("offset")
#: The order of a record's versions, where its format gives one (``sequence_by``): stored with the
#: row, so that an older version read later never replaces a newer one.
SEQUENCE = "__sequence"
#: Columns of a batch that are not the record's.
POSITION = (PARTITION, OFFSET)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that cannot become a row, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: str | None
    value_encoding: str
    error: str
    time: datetime

    @classmethod
    def of(cls, message: Message, error: str) -> DeadLetter:
        value, encoding = as_text(message.value)
        key, _ = as_text(message.key)
        return cls(
            message.topic,
            message.partition,
            message.offset,
            key,
            value,
            encoding,
            error,
            datetime.now(UTC),
        )


def as_text(raw: bytes | None) -> tuple[str | None, str]:
    """Bytes as UTF-8 text when they are, else as base64; with the encoding's name."""
    if raw is None:
        return None, "none"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


@dataclass(frozen=True)
class Decoded:
    """A topic's messages as rows (one per message, in order) and dead letters."""

    rows: pl.DataFrame
    dead: list[DeadLetter] = field(default_factory=list)

    def above(self, written: Mapping[int, int]) -> Decoded:
        """The rows and dead letters of messages above ``written`` (partition -> last offset
        written): the ones still to write."""
        if not written:
            return self
        last = pl.col(PARTITION).replace_strict(dict(written), default=-1, return_dtype=pl.Int64)
        rows = self.rows.filter(pl.col(OFFSET) > last)
        dead = [d for d in self.dead if d.offset > written.get(d.partition, -1)]
        return Decoded(rows, dead)

    @property
    def records(self) -> int:
        """The messages this batch holds: each became a row or a dead letter."""
        return self.rows.height + len(self.dead)


def latest(rows: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """One row per id, without the position columns: the one with the highest :data:`SEQUENCE`
    where the rows have one (the last read of those), else the last one read."""
    present = [c for c in POSITION if c in rows.columns]
    if SEQUENCE in rows.columns:
        rows = rows.sort(SEQUENCE, maintain_order=True)  # a stable sort: ties stay in offset order
    return rows.unique(subset=[id_column], keep="last", maintain_order=True).drop(present)


def deletes(rows: pl.DataFrame) -> int:
    """How many rows delete their id."""
    return int(rows[DELETED].sum()) if rows.height else 0


def positioned(frame: pl.DataFrame, seq: Sequence[int], messages: Sequence[Message]) -> pl.DataFrame:
    """A format's rows put in the order of ``messages``, each with where it came from: ``seq``
    gives the index in ``messages`` of each row of ``frame``."""
    partitions, offsets = list(map(PARTITION_OF, messages)), list(map(OFFSET_OF, messages))
    if isinstance(seq, range) and seq == range(len(messages)):  # a row of each message, in order
        rows = frame
    else:
        order = pl.Series(SEQ, seq, dtype=pl.Int64)
        rows = frame.with_columns(order).sort(SEQ).drop(SEQ)
        ordered = sorted(seq)
        partitions, offsets = [partitions[i] for i in ordered], [offsets[i] for i in ordered]
    return rows.with_columns(
        pl.Series(PARTITION, partitions, dtype=pl.Int32), pl.Series(OFFSET, offsets, dtype=pl.Int64)
    )
