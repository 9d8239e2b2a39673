"""Dead letters: messages that cannot become rows, kept in a Delta table of their own.

The table ``<delta_path>/_dead_letters`` holds one row per message (topic, partition, offset, key,
the raw value as text or base64, the reason, the time). Appends carry their own offsets per source
partition (``txn`` actions, under the same app ids as the data), so a batch replayed after a crash
adds no dead letter twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake

from deltastream.logs import counted
from deltastream.subscribe import offsets
from deltastream.subscribe.rows import DeadLetter
from deltastream.tables import DEAD_LETTER_SCHEMA, Tables
from deltastream.values import DEAD_LETTERS

log = logging.getLogger(__name__)

#: Dead letters logged one by one per write; the rest are counted in one line.
LOGGED = 5


def append(
    tables: Tables, table: DeltaTable | None, topic: str, dead: Sequence[DeadLetter], ids: offsets.AppIds
) -> int:
    """Append the dead letters of one topic that the table does not hold yet; returns how many.

    ``table`` is the dead-letter table as last read (``None`` if there is none yet); the offsets it
    holds for ``topic`` decide what is new.
    """
    by_partition = offsets.group(sorted(dead, key=lambda d: (d.partition, d.offset)))
    written = offsets.stored(table, ids, topic, by_partition)
    parts = offsets.unwritten(by_partition, written)
    fresh = [d for part in parts.values() for d in part]
    if not fresh:
        return 0
    frame = pl.DataFrame(
        [(d.topic, d.partition, d.offset, d.key, d.value, d.value_encoding, d.error, d.time) for d in fresh],
        schema=DEAD_LETTER_SCHEMA,
        orient="row",
    )
    last = offsets.last_offsets(parts)
    commit = CommitProperties(app_transactions=offsets.transactions(ids, topic, last))
    write_deltalake(
        table if table is not None else tables.uri(DEAD_LETTERS),
        frame,
        mode="append",
        commit_properties=commit,
        storage_options=None if table is not None else tables.options,
    )
    for d in fresh[:LOGGED]:
        log.warning("%s[%d]@%d: dead letter: %s", d.topic, d.partition, d.offset, d.error)
    if len(fresh) > LOGGED:
        more = counted(len(fresh) - LOGGED, "more dead letter")
        log.warning("%s: %s in %s", topic, more, tables.uri(DEAD_LETTERS))
    return len(fresh)
