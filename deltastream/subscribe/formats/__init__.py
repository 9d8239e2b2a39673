"""Formats: a topic's messages into rows and dead letters (:mod:`deltastream.subscribe.rows`).

A format is any object with ``decode(messages, columns) -> Decoded``; ``columns`` are the columns
the topic's table has, with their types, for formats that check new fields against them. The sink takes what a
format makes and knows no wire format, so a new format is a new module here. May import
:mod:`deltastream.kafka.message`, :mod:`deltastream.schema` (the declared types),
:mod:`deltastream.dtypes` (which types fit which), :mod:`deltastream.subscribe.rows` and
:mod:`deltastream.avro`; nothing that writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from deltastream.kafka.message import Message
from deltastream.subscribe.rows import Decoded


class Format(Protocol):
    def decode(self, messages: Sequence[Message], columns: Mapping[str, pl.DataType]) -> Decoded:
        """One topic's messages (each partition's in offset order) as rows and dead letters."""
