"""One topic's rows into its Delta table, exactly once: the idempotent, retried write.

The sink takes rows (:class:`~deltastream.subscribe.rows.Decoded`, which a format made of the
messages) and knows no wire format. :meth:`DeltaSink.write` makes attempts until one commits or
finds nothing left to do. Each attempt:

1. brings its copy of the table up to date (and checks its log, :mod:`deltastream.deltalog`), and
   reads the stored offset of each partition under the app ids the messages were read with
   (:mod:`deltastream.subscribe.offsets`);
2. keeps only the rows and dead letters of messages above it, so a batch already written is
   skipped, never applied twice; then the last row of each id (or, for events with a sequence,
   the newest, if newer than what the table holds: :mod:`deltastream.subscribe.sequence`);
3. appends the dead letters first, with their own offsets (:mod:`deltastream.subscribe.deadletters`);
4. upserts the rows in one commit carrying the partitions' last offsets
   (:mod:`deltastream.subscribe.upsert`). A batch of dead letters only makes no commit to the data
   table: read again after a restart, it is skipped by the dead-letter table's own offsets.

A concurrent commit makes delta-rs raise ``CommitFailedError``: the attempt starts again at 1
after a random pause that grows with each retry, so concurrent writers do not thrash. Any other
failure raises :class:`SinkError`. After a commit, maintenance gets its turn
(:mod:`deltastream.subscribe.maintenance`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError
from polars.exceptions import PolarsError

from deltastream import deltalog
from deltastream.errors import SinkError, one_line
from deltastream.subscribe import deadletters, offsets
from deltastream.subscribe.changes import table_schema
from deltastream.subscribe.evolution import widen_for
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.rows import SEQUENCE, Decoded, deletes, latest
from deltastream.subscribe.sequence import Sequencer, tombstones
from deltastream.subscribe.upsert import Operation, TableSettings, Upserter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

log = logging.getLogger(__name__)

#: What a failed write can raise besides a concurrent commit: storage and table faults.
STORAGE_ERRORS = (DeltaError, OSError, PolarsError)


def backoff_s(attempt: int, base_s: float = 0.05, cap_s: float = 2.0) -> float:
    """A random pause before retry ``attempt`` (1, 2, ...): up to ``base_s * 2**attempt``, capped."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))


@dataclass(frozen=True)
class WriteResult:
    """What one write of one topic did, for the commit's log line and the run's totals."""

    topic: str
    records: int
    operation: Operation | None
    version: int | None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    #: Records identical to the rows stored: not written.
    unchanged: int = 0
    tombstones: int = 0
    dead: int = 0
    retries: int = 0
    millis: float = 0.0
    #: delta-rs's own figures for the commit (rows and files rewritten by a MERGE, ...).
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def superseded(self) -> int:
        """Records that changed nothing themselves: a later record of their id came in the same
        batch (or, with ``sequence_by``, the table held a newer one; or a delete found no row)."""
        applied = self.inserted + self.updated + self.deleted + self.unchanged + self.dead
        return max(self.records - applied, 0) if self.operation is not None else 0


class DeltaSink:
    """Writes topics into their tables under ``tables``.

    It keeps a copy of each table it writes and brings it up to date before each attempt; a sink
    is used by one thread at a time (the subscriber's writer thread).
    """

    def __init__(  # noqa: PLR0913 (the parts a sink is made of, each with its default)
        self,
        tables: Tables,
        id_column: str,
        settings: TableSettings | None = None,
        maintenance: Maintenance | None = None,
        max_attempts: int = 30,
        sequencer: Sequencer | None = None,
    ) -> None:
        self.tables = tables
        self.id_column = id_column
        self.sequencer = sequencer or Sequencer(tables, id_column)
        self.upserter = Upserter(tables, id_column, settings or TableSettings())
        self.maintenance = maintenance
        self.max_attempts = max_attempts
        self._copies: dict[str, DeltaTable] = {}

    def columns(self, topic: str) -> dict[str, pl.DataType]:
        """The columns of ``topic``'s table as last read, with their types: none before it
        exists, nor when it cannot be read (the write then says why, with the offsets it holds)."""
        try:
            table = self._current(topic)
        except STORAGE_ERRORS:
            self._copies.clear()
            return {}
        return dict(table_schema(table)) if table is not None else {}

    def write(
        self, topic: str, decoded: Decoded, spans: Mapping[int, tuple[int, int]], ids: offsets.AppIds
    ) -> WriteResult | None:
        """Upsert one topic's rows, read under ``ids``; ``spans`` gives the first and last offset
        read of each partition.

        Returns ``None`` when every message had been written before.
        """
        started = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = self._attempt(topic, decoded, spans, ids, attempt - 1)
            except CommitFailedError as exc:
                self._copies.clear()
                log.info("%s: concurrent commit (attempt %d): %s; retrying", topic, attempt, one_line(exc))
                time.sleep(backoff_s(attempt))
                continue
            except STORAGE_ERRORS as exc:
                self._copies.clear()
                raise SinkError(self.tables.uri(topic), f"commit failed: {exc}", dict(spans)) from exc
            if result is None:
                return None
            if result.operation is not None and self.maintenance is not None:
                self.maintenance.committed(topic)
            return replace(result, millis=(time.monotonic() - started) * 1000)
        raise SinkError(self.tables.uri(topic), f"gave up after {self.max_attempts} concurrent commits")

    def _attempt(
        self,
        topic: str,
        decoded: Decoded,
        spans: Mapping[int, tuple[int, int]],
        ids: offsets.AppIds,
        retries: int,
    ) -> WriteResult | None:
        """Steps 1 to 4 of the module docstring, once."""
        table = self._current(topic)
        written = offsets.stored(table, ids, topic, spans)
        last = {p: hi for p, (_, hi) in spans.items() if hi > written.get(p, -1)}
        if not last:
            return None
        fresh = decoded.above(written)
        rows = latest(fresh.rows, self.id_column)
        if SEQUENCE in rows.columns:  # each id's newest event, if newer than the table's
            rows, held = self.sequencer.hold(topic, table, rows)
            if held and self.maintenance is not None:
                self.maintenance.committed(tombstones(topic))  # compacted and vacuumed as a table
        dead = 0
        if fresh.dead:
            dead = deadletters.append(self.tables, self._current(DEAD_LETTERS), topic, fresh.dead, ids)
        txns = offsets.transactions(ids, topic, last)
        if widen_for(self.tables, topic, table, rows):
            self._copies.pop(topic, None)
            table = self._current(topic)
        done = self.upserter.upsert(topic, table, rows, txns)
        return WriteResult(
            topic,
            records=fresh.records,
            operation=done.operation,
            version=done.version,
            inserted=done.inserted,
            updated=done.updated,
            deleted=done.deleted,
            unchanged=done.unchanged,
            tombstones=deletes(rows),
            dead=dead,
            retries=retries,
            metrics=done.metrics,
        )

    def _current(self, name: str) -> DeltaTable | None:
        """The sink's copy of table ``name``, brought up to date by reading only new log entries."""
        table = self._copies.get(name)
        if table is None:
            table = self.tables.open(name)
            if table is not None:
                self._copies[name] = table
        else:
            table.update_incremental()
        if table is not None and self.tables.local:
            found = deltalog.inspect(Path(self.tables.uri(name)), every_entry=False)
            if found is not None:
                self._copies.pop(name, None)
                raise SinkError(self.tables.uri(name), "; ".join(found))
        return table
