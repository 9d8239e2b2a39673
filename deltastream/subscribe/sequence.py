"""Change events applied in the order of their sequence, whatever the order they arrive in.

A format that orders each id's events (``sequence_by``) gives its rows a
:data:`~deltastream.subscribe.rows.SEQUENCE` column. The sink keeps the newest event of each id in
a batch (:func:`~deltastream.subscribe.rows.latest`), then :meth:`Sequencer.newer` drops the ones
that are not newer than what the table holds for their id: the sequence of its stored row, or of
its **tombstone**. A delete leaves one in ``<delta_path>/_tombstones/<topic>`` (the id, the
sequence, when it was deleted), so an older event read after the delete cannot bring the row back;
readers of the topic's table never see them. A tombstone is kept for the topic's
``tombstone_retention_hours`` (:meth:`Sequencer.expire`); an event older than a delete that
arrives later than that is applied as if new.

Tombstones are written before the commit that deletes the rows, and their MERGE keeps the higher
sequence, so a batch written again after a crash writes the same tombstones: nothing doubles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import polars as pl
from deltalake import DeltaTable, write_deltalake

from deltastream.logs import counted
from deltastream.subscribe.changes import stored_rows, table_schema
from deltastream.subscribe.rows import DELETED, SEQUENCE
from deltastream.tables import Tables, quote
from deltastream.values import TOMBSTONES

log = logging.getLogger(__name__)

#: When a tombstone was written.
DELETED_AT = "deleted_at"
#: How long a tombstone is kept when the topic does not say.
DEFAULT_RETENTION_HOURS = 24.0
#: Expired tombstones are looked for at most this often per topic.
EXPIRE_EVERY_S = 60.0
_HELD = "__held"


def tombstones(topic: str) -> str:
    """The name (under the tables' root) of ``topic``'s tombstone table."""
    return f"{TOMBSTONES}/{topic}"


class Sequencer:
    """Keeps each topic's tombstones, and holds back events older than what a table holds."""

    def __init__(
        self, tables: Tables, id_column: str, retention_hours: Mapping[str, float] | None = None
    ) -> None:
        self.tables = tables
        self.id_column = id_column
        self.retention_hours = dict(retention_hours or {})
        self._expired: dict[str, float] = {}

    def newer(self, topic: str, table: DeltaTable | None, rows: pl.DataFrame) -> pl.DataFrame:
        """The rows (one per id) whose sequence is at or above the one the table holds for their id
        (at: the same event again, as when a batch is written again after its tombstones)."""
        if rows.height == 0:
            return rows
        ids = rows[self.id_column]
        held: list[pl.DataFrame] = []
        if table is not None and SEQUENCE in table_schema(table):
            found = stored_rows(self.tables, table, ids, self.id_column, [self.id_column, SEQUENCE])
            if found is not None:
                held.append(found.collect())
        dead = self.tables.open(tombstones(topic))
        if dead is not None:
            scan = self.tables.scan(dead).select(self.id_column, SEQUENCE)
            held.append(scan.filter(pl.col(self.id_column).is_in(ids.implode())).collect())
        if not held:
            return rows
        id_type = rows.schema[self.id_column]
        best = (
            pl.concat([h.with_columns(pl.col(self.id_column).cast(id_type)) for h in held])
            .group_by(self.id_column)
            .agg(pl.col(SEQUENCE).max().alias(_HELD))
        )
        joined = rows.join(best, on=self.id_column, how="left", nulls_equal=False)
        kept = joined.filter(pl.col(_HELD).is_null() | (pl.col(SEQUENCE) >= pl.col(_HELD))).drop(_HELD)
        if kept.height < rows.height:
            log.info(
                "%s: %s older than the table's held back (sequence_by)",
                topic,
                counted(rows.height - kept.height, "event"),
            )
        return kept

    def hold(self, topic: str, table: DeltaTable | None, rows: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
        """The rows newer than the table's (:meth:`newer`), their deletes remembered and expired
        tombstones removed; and whether that committed to the tombstone table."""
        rows = self.newer(topic, table, rows)
        kept = self.remember(topic, rows)
        return rows, bool(self.expire(topic)) or kept

    def remember(self, topic: str, rows: pl.DataFrame) -> bool:
        """Keep a tombstone for each delete among ``rows``, with its sequence; whether that
        committed to the tombstone table."""
        deletes = rows.filter(pl.col(DELETED)).select(
            self.id_column,
            SEQUENCE,
            pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias(DELETED_AT),
        )
        if deletes.height == 0:
            return False
        table = self.tables.open(tombstones(topic))
        if table is None:
            write_deltalake(
                self.tables.uri(tombstones(topic)),
                deletes,
                mode="append",
                storage_options=self.tables.options,
            )
            return True
        key, seq = quote(self.id_column), quote(SEQUENCE)
        (
            table.merge(deletes, predicate=f"s.{key} = t.{key}", source_alias="s", target_alias="t")
            .when_matched_update_all(predicate=f"s.{seq} > t.{seq}")
            .when_not_matched_insert_all()
            .execute()
        )
        return True

    def expire(self, topic: str) -> int:
        """Delete ``topic``'s tombstones older than its retention (at most once a minute); how many."""
        now = time.monotonic()
        if now - self._expired.get(topic, -EXPIRE_EVERY_S) < EXPIRE_EVERY_S:
            return 0
        self._expired[topic] = now
        table = self.tables.open(tombstones(topic))
        if table is None:
            return 0
        hours = self.retention_hours.get(topic, DEFAULT_RETENTION_HOURS)
        cutoff = (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        metrics = table.delete(f"{quote(DELETED_AT)} < '{cutoff}'")
        removed = int(metrics.get("num_deleted_rows", 0) or 0)
        if removed:
            log.info("%s: %s older than %g hours removed", topic, counted(removed, "tombstone"), hours)
        return removed
